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
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
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

/* A failed pread/pwrite as Node's fs errors look: `code` the errno name, `syscall`, `errno`. */
static napi_value io_error(napi_env env, int io, int writing) {
  napi_value err, code, msg, sys, num;
  char text[160];
  snprintf(text, sizeof text, "%s: %s", writing ? "pwrite" : "pread", strerror(io));
  napi_create_string_utf8(env, errno_name(io), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_create_string_utf8(env, writing ? "pwrite" : "pread", NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, err, "syscall", sys);
  napi_create_int32(env, -io, &num);
  napi_set_named_property(env, err, "errno", num);
  return err;
}

static napi_value status_error(napi_env env, xts_status st) {
  napi_value err, code, msg;
  napi_create_string_utf8(env, status_code(st), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, status_message(st), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  return err;
}

static void io_complete(napi_env env, napi_status status, void *p) {
  sector_job *j = (sector_job *)p;
  napi_deferred d = j->deferred;
  xts_status st = status == napi_ok ? j->st : XTS_E_CRYPTO;
  int io = j->io_errno;
  int writing = j->a.mode == 1;
  job_free(env, j);
  if (io > 0) {
    napi_reject_deferred(env, d, io_error(env, io, writing));
    return;
  }
  if (io < 0) st = XTS_E_INPUT_SHORT;
  if (st == XTS_OK) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, d, undef);
    return;
  }
  napi_reject_deferred(env, d, status_error(env, st));
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

/* sectorsWriteManyAsync(key, sectorSize, fd, items): `items` is flat, [data, firstSector,
 * position] per write. ONE pool job encrypts every item in place with one keyed context, then
 * writes them, each run of items that follow each other in the file with one pwritev. A batch of
 * requests that arrived together crosses to the pool and back once (one thread woken, one
 * completion) instead of once per request. Resolves undefined when every item was written, else
 * an array with null for each item written and an error for each that was not (an I/O error as
 * sectorsWriteAsync's; a short or failed pwritev is retried item by item, so each item gets its
 * own outcome). */

#define MANY_MAX 1024 /* items per call (IOV_MAX) */

typedef struct {
  uint8_t *data;
  size_t len;
  uint64_t first;
  uint64_t pos;
  int err; /* 0, an errno, or -(xts_status) */
} many_item;

typedef struct {
  napi_deferred deferred;
  napi_async_work work;
  napi_ref items_ref; /* the JS array, which keeps every item's buffer alive until completion */
  uint8_t key[64];
  size_t ss;
  int fd;
  size_t n;
  many_item items[];
} many_job;

static void many_free(napi_env env, many_job *j) {
  OPENSSL_cleanse(j->key, sizeof j->key);
  if (j->items_ref) napi_delete_reference(env, j->items_ref);
  if (j->work) napi_delete_async_work(env, j->work);
  free(j);
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t pos) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, p + done, len - done, (off_t)(pos + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += (size_t)n;
  }
  return 0;
}

/* Items a..b-1: consecutive in the file, all encrypted. */
static void write_run(many_job *j, size_t a, size_t b) {
  struct iovec iov[64];
  size_t total = 0;
  ssize_t n = -1;
  if (b - a > 1) {
    for (size_t i = a; i < b; i++) {
      iov[i - a].iov_base = j->items[i].data;
      iov[i - a].iov_len = j->items[i].len;
      total += j->items[i].len;
    }
    do n = pwritev(j->fd, iov, (int)(b - a), (off_t)j->items[a].pos);
    while (n < 0 && errno == EINTR);
    if (n >= 0 && (size_t)n == total) return;
  }
  /* one item, or a short or failed pwritev: the rest item by item */
  size_t done = n > 0 ? (size_t)n : 0;
  for (size_t i = a; i < b; i++) {
    many_item *it = &j->items[i];
    if (done >= it->len) {
      done -= it->len;
      continue;
    }
    it->err = pwrite_all(j->fd, it->data + done, it->len - done, it->pos + done);
    done = 0;
  }
}

static void many_execute(napi_env env, void *p) {
  (void)env;
  many_job *j = (many_job *)p;
  xts_ctx ctx;
  xts_status st = ctx_setup(&ctx, j->key, sizeof j->key, 1);
  if (st != XTS_OK) {
    for (size_t i = 0; i < j->n; i++) j->items[i].err = -(int)st;
    return;
  }
  uint8_t iv[16] = {0};
  for (size_t i = 0; i < j->n; i++) {
    many_item *it = &j->items[i];
    uint64_t s = it->first;
    for (size_t off = 0; off < it->len; off += j->ss, s++) {
      for (int b = 0; b < 8; b++) iv[b] = (uint8_t)(s >> (8 * b));
      if (!unit(&ctx, iv, it->data + off, it->data + off, j->ss)) {
        it->err = -(int)XTS_E_CRYPTO;
        ERR_clear_error();
        break;
      }
    }
  }
  ctx_free(&ctx);
  for (size_t i = 0; i < j->n;) {
    if (j->items[i].err != 0) {
      i++;
      continue;
    }
    size_t k = i + 1;
    while (k < j->n && k - i < 64 && j->items[k].err == 0 &&
           j->items[k].pos == j->items[k - 1].pos + j->items[k - 1].len)
      k++;
    write_run(j, i, k);
    i = k;
  }
}

static void many_complete(napi_env env, napi_status status, void *p) {
  many_job *j = (many_job *)p;
  napi_deferred d = j->deferred;
  size_t failed = 0;
  for (size_t i = 0; i < j->n; i++) {
    if (status != napi_ok) j->items[i].err = -(int)XTS_E_CRYPTO;
    if (j->items[i].err != 0) failed++;
  }
  napi_value result;
  if (failed == 0) napi_get_undefined(env, &result);
  else {
    napi_value none;
    napi_get_null(env, &none);
    napi_create_array_with_length(env, j->n, &result);
    for (size_t i = 0; i < j->n; i++) {
      int e = j->items[i].err;
      napi_value v = e == 0 ? none : e > 0 ? io_error(env, e, 1) : status_error(env, (xts_status)-e);
      napi_set_element(env, result, (uint32_t)i, v);
    }
  }
  many_free(env, j);
  napi_resolve_deferred(env, d, result);
}

napi_value js_sectors_write_many_async(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4)
    return throw_code(env, "ERR_XTS_ARGUMENT", "expected (key, sectorSize, fd, items)");
  uint8_t *key;
  size_t keylen;
  if (!get_bytes(env, argv[0], &key, &keylen) || keylen != 64) return throw_status(env, XTS_E_KEY_LENGTH);
  uint64_t ss;
  if (!get_u53(env, argv[1], &ss) || ss < XTS_MIN_UNIT || ss > XTS_MAX_UNIT)
    return throw_code(env, "ERR_XTS_SECTOR_SIZE", "sectorSize must be an integer from 16 to 16777216");
  int32_t fd;
  if (napi_get_value_int32(env, argv[2], &fd) != napi_ok || fd < 0)
    return throw_code(env, "ERR_XTS_ARGUMENT", "expected a file descriptor and a position");
  bool is_array = false;
  uint32_t len = 0;
  if (napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[3], &len) != napi_ok || len == 0 || len % 3 != 0 ||
      len / 3 > MANY_MAX)
    return throw_code(env, "ERR_XTS_ARGUMENT", "items must be [data, firstSector, position] x 1..1024");
  size_t n = len / 3;
  many_job *j = (many_job *)calloc(1, sizeof *j + n * sizeof(many_item));
  if (j == NULL) return throw_status(env, XTS_E_NOMEM);
  j->ss = (size_t)ss;
  j->fd = fd;
  j->n = n;
  for (size_t i = 0; i < n; i++) {
    napi_value v[3];
    many_item *it = &j->items[i];
    for (uint32_t k = 0; k < 3; k++)
      if (napi_get_element(env, argv[3], (uint32_t)(3 * i + k), &v[k]) != napi_ok) {
        many_free(env, j);
        return throw_code(env, "ERR_XTS_ARGUMENT", "items must be [data, firstSector, position] x 1..1024");
      }
    if (!get_bytes(env, v[0], &it->data, &it->len)) {
      many_free(env, j);
      return throw_code(env, "ERR_XTS_ARGUMENT", "data must be a Uint8Array");
    }
    if (!get_u53(env, v[1], &it->first)) {
      many_free(env, j);
      return throw_code(env, "ERR_XTS_SECTOR_NUMBER", "firstSector must be an integer in [0, 2^53)");
    }
    if (!get_u53(env, v[2], &it->pos) || it->pos > (uint64_t)INT64_MAX - it->len) {
      many_free(env, j);
      return throw_code(env, "ERR_XTS_ARGUMENT", "expected a file descriptor and a position");
    }
    if (it->len == 0 || it->len % j->ss != 0) {
      many_free(env, j);
      return throw_code(env, "ERR_XTS_DATA_LENGTH", "data is not a whole number of sectors");
    }
    if (it->len / j->ss > UINT64_MAX - it->first) {
      many_free(env, j);
      return throw_code(env, "ERR_XTS_SECTOR_NUMBER", "sector numbers would pass 2^64");
    }
  }
  memcpy(j->key, key, 64);
  napi_value promise, name;
  if (napi_create_reference(env, argv[3], 1, &j->items_ref) != napi_ok ||
      napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ward_xts_io_many", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, many_execute, many_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    many_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return promise;
}
