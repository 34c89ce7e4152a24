/*
 * ward_xts: XTS-AES over whole disk sectors, as an N-API addon that calls the OpenSSL Node already
 * carries (the node binary exports libcrypto's symbols; this addon links nothing).
 *
 * Why native: node:crypto cannot change the IV of a cipher it has set up, so aes-xts-plain64 needs
 * one createCipheriv per sector, and that set-up (key schedule, provider fetch, JS<->C++ crossings)
 * costs more than encrypting 4 KiB. Here ONE cipher context is keyed once per call and only the
 * tweak is reset per sector (through the provider's dispatch table, or EVP: "Per-sector cost").
 *
 * Semantics (dm-crypt aes-xts-plain64, IEEE Std 1619-2007 §5.3): the 16-byte tweak of sector n is
 * n as a little-endian 64-bit integer followed by eight zero bytes. Data is transformed in place.
 *
 * Exports (the TypeScript wrapper in src/xts validates first; checks here are a second fence so a
 * bad call can never read or write out of bounds):
 *   sectors(enc, key, data, firstSector, sectorSize): undefined
 *   sectorsAsync(enc, key, data, firstSector, sectorSize): Promise<undefined>  (libuv pool)
 *   reencrypt(oldKey, newKey, data, firstSector, sectorSize): undefined  (deep rekey, one sweep)
 *   reencryptAsync(oldKey, newKey, data, firstSector, sectorSize): Promise<undefined>
 *   transform(enc, key, tweak16, data): undefined   (one data unit, ciphertext stealing)
 *   mapInput(fd, length): MappedInput   (read-only shared mapping of a file's first `length` bytes)
 *   unmapInput(map): undefined           (refused while a job reads from it; GC also unmaps)
 *   sectorsFromAsync(enc, key, map, mapOffset, dst, firstSector, sectorSize): Promise<undefined>
 *     (XTS from the mapping at mapOffset into dst, dst.length bytes: the file's bytes reach the
 *     cipher without a read() copy into a buffer first)
 *   mapOutput(fd, length): a read-write shared mapping (released with unmapInput)
 *   sectorsMappedAsync(enc, key, src, srcOffset, dst, dstOffset, length, firstSector, sectorSize)
 *     (XTS from one mapping into a writable one: no buffer, no write())
 *   sectorsReadAsync(key, data, firstSector, sectorSize, fd, position): Promise<undefined>
 *     (pread data.length bytes of fd at position, then decrypt them in place: one pool job)
 *   sectorsWriteAsync(key, data, firstSector, sectorSize, fd, position): Promise<undefined>
 *     (encrypt data in place, then pwrite it to fd at position: one pool job; ward_xts_io.c)
 *   sectorsWriteManyAsync(key, sectorSize, fd, [data, firstSector, position, ...]):
 *     Promise<undefined | (Error | null)[]>  (many such writes in one pool job; ward_xts_io.c)
 *   cipherPath: 'provider' | 'evp' (xts_core.c, "Per-sector cost")
 * Errors carry `code` (ERR_XTS_*), documented in docs/errors/envelope-xts.md.
 *
 * Files: xts_core.c (ciphers, the sector loop), this file (N-API: arguments, sync and pool
 * calls, transform, module init), ward_xts_map.c (mapped files).
 */
#include "ward_xts.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- argument helpers ---------------------------------------------------------------------- */

napi_value throw_code(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

napi_value throw_status(napi_env env, xts_status s) {
  return throw_code(env, status_code(s), status_message(s));
}

int get_bytes(napi_env env, napi_value v, uint8_t **p, size_t *n) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type t;
  void *data;
  size_t len;
  if (napi_get_typedarray_info(env, v, &t, &len, &data, NULL, NULL) != napi_ok) return 0;
  if (t != napi_uint8_array) return 0;
  *p = (uint8_t *)data;
  *n = len;
  return 1;
}

int get_bool(napi_env env, napi_value v, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b ? 1 : 0;
  return 1;
}

/* A non-negative integral double up to 2^53 (the TypeScript side passes sector numbers as numbers). */
int get_u53(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}


/* Parses (enc, key, data, firstSector, sectorSize), or with `reenc` (oldKey, newKey, data,
 * firstSector, sectorSize); throws and returns 0 on bad input. */

static int parse_sector_args(napi_env env, napi_callback_info info, int reenc, sector_args *a,
                             napi_value *data_obj) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
    throw_code(env, "ERR_XTS_ARGUMENT",
               reenc ? "expected (oldKey, newKey, data, firstSector, sectorSize)"
                     : "expected (enc, key, data, firstSector, sectorSize)");
    return 0;
  }
  if (!parse_sector_values(env, argv, reenc, a)) return 0;
  if (data_obj) *data_obj = argv[2];
  return 1;
}

int parse_sector_values(napi_env env, napi_value *argv, int reenc, sector_args *a) {
  uint64_t ss;
  size_t key2len = 0;
  a->key2 = NULL;
  if (reenc) {
    a->mode = 2;
    if (!get_bytes(env, argv[0], &a->key, &a->keylen) || a->keylen != 64 ||
        !get_bytes(env, argv[1], &a->key2, &key2len) || key2len != 64) {
      throw_status(env, XTS_E_KEY_LENGTH);
      return 0;
    }
  } else {
    if (!get_bool(env, argv[0], &a->mode)) {
      throw_code(env, "ERR_XTS_ARGUMENT", "enc must be a boolean");
      return 0;
    }
    if (!get_bytes(env, argv[1], &a->key, &a->keylen) || a->keylen != 64) {
      throw_status(env, XTS_E_KEY_LENGTH);
      return 0;
    }
  }
  if (!get_bytes(env, argv[2], &a->data, &a->len)) {
    throw_code(env, "ERR_XTS_ARGUMENT", "data must be a Uint8Array");
    return 0;
  }
  if (!get_u53(env, argv[3], &a->first)) {
    throw_code(env, "ERR_XTS_SECTOR_NUMBER", "firstSector must be an integer in [0, 2^53)");
    return 0;
  }
  if (!get_u53(env, argv[4], &ss) || ss < XTS_MIN_UNIT || ss > XTS_MAX_UNIT) {
    throw_code(env, "ERR_XTS_SECTOR_SIZE", "sectorSize must be an integer from 16 to 16777216");
    return 0;
  }
  a->ss = (size_t)ss;
  if (a->len % a->ss != 0) {
    throw_code(env, "ERR_XTS_DATA_LENGTH", "data is not a whole number of sectors");
    return 0;
  }
  if (a->len / a->ss > UINT64_MAX - a->first) {
    throw_code(env, "ERR_XTS_SECTOR_NUMBER", "sector numbers would pass 2^64");
    return 0;
  }
  return 1;
}

/* ---- sectors (sync) ------------------------------------------------------------------------- */

static napi_value sectors_sync(napi_env env, napi_callback_info info, int reenc) {
  sector_args a;
  if (!parse_sector_args(env, info, reenc, &a, NULL)) return NULL;
  xts_status st =
      run_sectors(a.key, a.key2, a.keylen, a.mode, a.data, a.data, a.len, a.first, a.ss);
  if (st != XTS_OK) return throw_status(env, st);
  return NULL;
}

static napi_value js_sectors(napi_env env, napi_callback_info info) {
  return sectors_sync(env, info, 0);
}

static napi_value js_reencrypt(napi_env env, napi_callback_info info) {
  return sectors_sync(env, info, 1);
}

/* ---- sectorsAsync (libuv pool) -------------------------------------------------------------- */

void job_free(napi_env env, sector_job *j) {
  OPENSSL_cleanse(j->key, sizeof j->key);
  OPENSSL_cleanse(j->key2, sizeof j->key2);
  if (j->map != NULL) j->map->busy--;
  if (j->out != NULL) j->out->busy--;
  if (j->map_ref) napi_delete_reference(env, j->map_ref);
  if (j->out_ref) napi_delete_reference(env, j->out_ref);
  if (j->data_ref) napi_delete_reference(env, j->data_ref);
  if (j->work) napi_delete_async_work(env, j->work);
  free(j);
}

void job_execute(napi_env env, void *p) {
  (void)env;
  sector_job *j = (sector_job *)p;
  if (j->map != NULL) {
    /* Fault the source range in with one call (fewer faults than touching it page by page) and,
     * above all, learn here if the file no longer covers it: MADV_POPULATE_READ fails with
     * EFAULT where an access would raise SIGBUS. EINVAL: a kernel before 5.14, the reads below
     * fault the pages in instead. (A truncation racing the cipher after this check can still
     * raise SIGBUS: a mapped input must not be shrunk while Ward reads it.) */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)j->src & ~(page - 1);
    if (madvise((void *)start, (uintptr_t)j->src + j->a.len - start, MADV_POPULATE_READ) != 0 &&
        errno != EINVAL) {
      j->st = XTS_E_INPUT_SHORT;
      return;
    }
  }
  if (j->out != NULL) {
    /* Allocate the output's pages here, on this pool thread (page zeroing spread over the
     * jobs), and learn of a full file system as an error instead of SIGBUS on a write. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)j->a.data & ~(page - 1);
    if (madvise((void *)start, (uintptr_t)j->a.data + j->a.len - start, MADV_POPULATE_WRITE) !=
            0 &&
        errno != EINVAL) {
      j->st = XTS_E_OUTPUT_SPACE;
      return;
    }
  }
  j->st = run_sectors(j->key, j->key2, j->a.keylen, j->a.mode, j->src, j->a.data, j->a.len,
                      j->a.first, j->a.ss);
}

void job_complete(napi_env env, napi_status status, void *p) {
  sector_job *j = (sector_job *)p;
  napi_deferred d = j->deferred;
  xts_status st = status == napi_ok ? j->st : XTS_E_CRYPTO;
  job_free(env, j);
  if (st == XTS_OK) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, d, undef);
    return;
  }
  napi_value code, msg, err;
  napi_create_string_utf8(env, status_code(st), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, status_message(st), NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_reject_deferred(env, d, err);
}

static napi_value sectors_async(napi_env env, napi_callback_info info, int reenc) {
  sector_args a;
  napi_value data_obj;
  if (!parse_sector_args(env, info, reenc, &a, &data_obj)) return NULL;
  sector_job *j = (sector_job *)calloc(1, sizeof *j);
  if (j == NULL) return throw_status(env, XTS_E_NOMEM);
  j->a = a;
  j->src = a.data;
  memcpy(j->key, a.key, a.keylen);
  if (a.key2 != NULL) memcpy(j->key2, a.key2, a.keylen);
  if (napi_create_reference(env, data_obj, 1, &j->data_ref) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return queue_job(env, j);
}

napi_value queue_job(napi_env env, sector_job *j) {
  napi_value promise, name;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ward_xts", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    /* A promise created but never settled is simply collected. */
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return promise;
}

static napi_value js_sectors_async(napi_env env, napi_callback_info info) {
  return sectors_async(env, info, 0);
}

static napi_value js_reencrypt_async(napi_env env, napi_callback_info info) {
  return sectors_async(env, info, 1);
}

/* ---- transform: one data unit, any length >= 16 (ciphertext stealing) ------------------------ */

static napi_value js_transform(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4)
    return throw_code(env, "ERR_XTS_ARGUMENT", "expected (enc, key, tweak, data)");
  int enc;
  uint8_t *key, *tweak, *data;
  size_t keylen, tweaklen, len;
  if (!get_bool(env, argv[0], &enc)) return throw_code(env, "ERR_XTS_ARGUMENT", "enc must be a boolean");
  if (!get_bytes(env, argv[1], &key, &keylen) || cipher_for(keylen) == NULL)
    return throw_status(env, XTS_E_KEY_LENGTH);
  if (!get_bytes(env, argv[2], &tweak, &tweaklen) || tweaklen != 16)
    return throw_code(env, "ERR_XTS_TWEAK_LENGTH", "the XTS tweak must be 16 bytes");
  if (!get_bytes(env, argv[3], &data, &len) || len < XTS_MIN_UNIT || len > XTS_MAX_UNIT)
    return throw_code(env, "ERR_XTS_DATA_LENGTH", "an XTS data unit must be 16 bytes to 16 MiB");
  xts_ctx ctx;
  xts_status st = ctx_setup(&ctx, key, keylen, enc);
  if (st != XTS_OK) return throw_status(env, st);
  uint8_t iv[16];
  memcpy(iv, tweak, 16);
  if (!unit(&ctx, iv, data, data, len)) {
    ERR_clear_error();
    st = XTS_E_CRYPTO;
  }
  ctx_free(&ctx);
  if (st != XTS_OK) return throw_status(env, st);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  xts_core_init();
  napi_value path_value;
  if (napi_create_string_utf8(env, xts_provider_path() ? "provider" : "evp", NAPI_AUTO_LENGTH, &path_value) !=
      napi_ok)
    return NULL;
  napi_property_descriptor props[] = {
    {"sectors", NULL, js_sectors, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsAsync", NULL, js_sectors_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reencrypt", NULL, js_reencrypt, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reencryptAsync", NULL, js_reencrypt_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"transform", NULL, js_transform, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mapInput", NULL, js_map_input, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unmapInput", NULL, js_unmap_input, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mapOutput", NULL, js_map_output, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsMappedAsync", NULL, js_sectors_mapped_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsFromAsync", NULL, js_sectors_from_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsReadAsync", NULL, js_sectors_read_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsWriteAsync", NULL, js_sectors_write_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsWriteManyAsync", NULL, js_sectors_write_many_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cipherPath", NULL, NULL, NULL, NULL, path_value, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
