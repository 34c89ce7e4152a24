/* ward_xts_io.c: XTS with the file I/O in the same pool job (see ward_xts.c's header).
 *
 * A live data path (the host's crypto filter) reads or writes each request's sectors once: with
 * separate pool jobs for pread and XTS every request crossed to the pool and back twice. Here one
 * job preads then decrypts, or encrypts then pwrites. The caller keeps `fd` open until the promise
 * settles. I/O failures reject with `code` set to the errno name (ENOSPC, EIO, ...; as Node's fs
 * errors) and `syscall` pread/pwrite; a read past the end of the file with ERR_XTS_INPUT_SHORT. */
#include "ward_xts.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void io_read_execute(napi_env env, void *p) {
  (void)env;
  sector_job *j = (sector_job *)p;
  size_t done = 0;
  while (done < j->a.len) {
    ssize_t n = pread(j->fd, j->a.data + done, j->a.len - done, (off_t)(j->pos + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      j->io_errno = errno;
      return;
    }
    if (n == 0) {
      j->io_errno = -1;
      return;
    }
    done += (size_t)n;
  }
  j->st = run_sectors(j->key, NULL, j->a.keylen, 0, j->a.data, j->a.data, j->a.len, j->a.first,
                      j->a.ss);
}

static void io_write_execute(napi_env env, void *p) {
  (void)env;
  sector_job *j = (sector_job *)p;
  j->st = run_sectors(j->key, NULL, j->a.keylen, 1, j->a.data, j->a.data, j->a.len, j->a.first,
                      j->a.ss);
  if (j->st != XTS_OK) return;
  size_t done = 0;
  while (done < j->a.len) {
    ssize_t n = pwrite(j->fd, j->a.data + done, j->a.len - done, (off_t)(j->pos + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      j->io_errno = n < 0 ? errno : EIO;
      return;
    }
    done += (size_t)n;
  }
}

static const char *errno_name(int e) {
  switch (e) {
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOMEM: return "ENOMEM";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    default: return "EIO";
  }
}

static void io_complete(napi_env env, napi_status status, void *p) {
  sector_job *j = (sector_job *)p;
  napi_deferred d = j->deferred;
  xts_status st = status == napi_ok ? j->st : XTS_E_CRYPTO;
  int io = j->io_errno;
  int writing = j->a.mode == 1;
  job_free(env, j);
  napi_value err, code, msg;
  if (io > 0) {
    char text[160];
    const char *name = errno_name(io);
    snprintf(text, sizeof text, "%s: %s", writing ? "pwrite" : "pread", strerror(io));
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &err);
    napi_value sys, num;
    napi_create_string_utf8(env, writing ? "pwrite" : "pread", NAPI_AUTO_LENGTH, &sys);
    napi_set_named_property(env, err, "syscall", sys);
    napi_create_int32(env, -io, &num);
    napi_set_named_property(env, err, "errno", num);
    napi_reject_deferred(env, d, err);
    return;
  }
  if (io < 0) st = XTS_E_INPUT_SHORT;
  if (st == XTS_OK) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, d, undef);
    return;
  }
  napi_create_string_utf8(env, status_code(st), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, status_message(st), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_reject_deferred(env, d, err);
}

/* (key, data, firstSector, sectorSize, fd, position) */
static napi_value io_async(napi_env env, napi_callback_info info, int writing) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6)
    return throw_code(env, "ERR_XTS_ARGUMENT",
                      "expected (key, data, firstSector, sectorSize, fd, position)");
  /* parse_sector_values reads (enc, key, data, firstSector, sectorSize) */
  napi_value shifted[5];
  napi_get_boolean(env, writing ? true : false, &shifted[0]);
  memcpy(&shifted[1], argv, 4 * sizeof argv[0]);
  sector_args a;
  if (!parse_sector_values(env, shifted, 0, &a)) return NULL;
  int32_t fd;
  uint64_t pos;
  if (napi_get_value_int32(env, argv[4], &fd) != napi_ok || fd < 0 || !get_u53(env, argv[5], &pos))
    return throw_code(env, "ERR_XTS_ARGUMENT", "expected a file descriptor and a position");
  sector_job *j = (sector_job *)calloc(1, sizeof *j);
  if (j == NULL) return throw_status(env, XTS_E_NOMEM);
  j->a = a;
  j->src = a.data;
  j->fd = fd;
  j->pos = pos;
  memcpy(j->key, a.key, a.keylen);
  if (napi_create_reference(env, argv[1], 1, &j->data_ref) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  napi_value promise, name;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ward_xts_io", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, writing ? io_write_execute : io_read_execute,
                             io_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return promise;
}

napi_value js_sectors_read_async(napi_env env, napi_callback_info info) {
  return io_async(env, info, 0);
}

napi_value js_sectors_write_async(napi_env env, napi_callback_info info) {
  return io_async(env, info, 1);
}
