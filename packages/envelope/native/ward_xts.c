/*
 * ward_xts: XTS-AES over whole disk sectors, as an N-API addon that calls the OpenSSL Node already
 * carries (the node binary exports libcrypto's symbols; this addon links nothing).
 *
 * Why native: node:crypto cannot change the IV of a cipher it has set up, so aes-xts-plain64 needs
 * one createCipheriv per sector, and that set-up (key schedule, provider fetch, JS<->C++ crossings)
 * costs more than encrypting 4 KiB. Here ONE EVP_CIPHER_CTX is keyed once per call and only the
 * tweak is reset per sector: EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1).
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
 * Errors carry `code` (ERR_XTS_*), documented in docs/errors/envelope-xts.md.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* IEEE 1619-2007 §5.1: a data unit holds at most 2^20 AES blocks. */
#define XTS_MAX_UNIT ((size_t)1 << 24)
#define XTS_MIN_UNIT ((size_t)16)

typedef enum {
  XTS_OK = 0,
  XTS_E_KEY_LENGTH,
  XTS_E_DUPLICATED_KEYS,
  XTS_E_CRYPTO,
  XTS_E_NOMEM,
} xts_status;

static const char *status_code(xts_status s) {
  switch (s) {
    case XTS_E_KEY_LENGTH: return "ERR_XTS_KEY_LENGTH";
    case XTS_E_DUPLICATED_KEYS: return "ERR_XTS_DUPLICATED_KEYS";
    case XTS_E_NOMEM: return "ERR_XTS_NO_MEMORY";
    default: return "ERR_XTS_CRYPTO";
  }
}

static const char *status_message(xts_status s) {
  switch (s) {
    case XTS_E_KEY_LENGTH:
      return "XTS key must be 64 bytes (XTS-AES-256) or 32 bytes (XTS-AES-128)";
    case XTS_E_DUPLICATED_KEYS:
      return "XTS key halves are equal (IEEE 1619 requires two independent keys); generate a new random key";
    case XTS_E_NOMEM: return "out of memory setting up the XTS cipher";
    default: return "OpenSSL XTS operation failed";
  }
}

static const EVP_CIPHER *cipher_for(size_t keylen) {
  if (keylen == 64) return EVP_aes_256_xts();
  if (keylen == 32) return EVP_aes_128_xts();
  return NULL;
}

/* Keys a context once. Equal halves are refused in both directions: OpenSSL 3 refuses them only
 * when encrypting, but a key like that was never produced by a sound generator. */
static xts_status ctx_setup(EVP_CIPHER_CTX **out, const uint8_t *key, size_t keylen, int enc) {
  const EVP_CIPHER *c = cipher_for(keylen);
  if (c == NULL) return XTS_E_KEY_LENGTH;
  if (CRYPTO_memcmp(key, key + keylen / 2, keylen / 2) == 0) return XTS_E_DUPLICATED_KEYS;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return XTS_E_NOMEM;
  if (EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    return XTS_E_CRYPTO;
  }
  *out = ctx;
  return XTS_OK;
}

/* One data unit in place with the given 16-byte tweak. */
static int unit(EVP_CIPHER_CTX *ctx, const uint8_t *iv, uint8_t *p, size_t n) {
  int outl = 0;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1) return 0;
  if (EVP_CipherUpdate(ctx, p, &outl, p, (int)n) != 1) return 0;
  return outl == (int)n;
}

/* Whole sectors [data, data+len), len a multiple of ss, first sector number `first`.
 * mode: 1 encrypt, 0 decrypt, 2 re-encrypt (decrypt under key, encrypt under key2, per sector,
 * so each sector is still in L1 cache for its second pass: deep rekey in one sweep). */
static xts_status run_sectors(const uint8_t *key, const uint8_t *key2, size_t keylen, int mode,
                              uint8_t *data, size_t len, uint64_t first, size_t ss) {
  EVP_CIPHER_CTX *ctx = NULL, *ctx2 = NULL;
  xts_status st = ctx_setup(&ctx, key, keylen, mode == 1);
  if (st != XTS_OK) return st;
  if (mode == 2 && (st = ctx_setup(&ctx2, key2, keylen, 1)) != XTS_OK) {
    EVP_CIPHER_CTX_free(ctx);
    return st;
  }
  uint8_t iv[16] = {0};
  uint64_t s = first;
  for (size_t off = 0; off < len; off += ss, s++) {
    for (int i = 0; i < 8; i++) iv[i] = (uint8_t)(s >> (8 * i));
    if (!unit(ctx, iv, data + off, ss) || (ctx2 != NULL && !unit(ctx2, iv, data + off, ss))) {
      st = XTS_E_CRYPTO;
      ERR_clear_error();
      break;
    }
  }
  /* EVP_CIPHER_CTX_free cleanses the expanded key schedules. */
  EVP_CIPHER_CTX_free(ctx);
  if (ctx2 != NULL) EVP_CIPHER_CTX_free(ctx2);
  return st;
}

/* ---- argument helpers ---------------------------------------------------------------------- */

static napi_value throw_code(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value throw_status(napi_env env, xts_status s) {
  return throw_code(env, status_code(s), status_message(s));
}

static int get_bytes(napi_env env, napi_value v, uint8_t **p, size_t *n) {
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

static int get_bool(napi_env env, napi_value v, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b ? 1 : 0;
  return 1;
}

/* A non-negative integral double up to 2^53 (the TypeScript side passes sector numbers as numbers). */
static int get_u53(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}

typedef struct {
  int mode; /* 1 encrypt, 0 decrypt, 2 re-encrypt */
  uint8_t *key;
  uint8_t *key2; /* mode 2 only */
  size_t keylen;
  uint8_t *data;
  size_t len;
  uint64_t first;
  size_t ss;
} sector_args;

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
  if (data_obj) *data_obj = argv[2];
  return 1;
}

/* ---- sectors (sync) ------------------------------------------------------------------------- */

static napi_value sectors_sync(napi_env env, napi_callback_info info, int reenc) {
  sector_args a;
  if (!parse_sector_args(env, info, reenc, &a, NULL)) return NULL;
  xts_status st = run_sectors(a.key, a.key2, a.keylen, a.mode, a.data, a.len, a.first, a.ss);
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

typedef struct {
  sector_args a;
  uint8_t key[64]; /* private copies: the caller may reuse or zero its keys while we run */
  uint8_t key2[64];
  xts_status st;
  napi_ref data_ref; /* keeps the caller's buffer alive until completion */
  napi_deferred deferred;
  napi_async_work work;
} sector_job;

static void job_free(napi_env env, sector_job *j) {
  OPENSSL_cleanse(j->key, sizeof j->key);
  OPENSSL_cleanse(j->key2, sizeof j->key2);
  if (j->data_ref) napi_delete_reference(env, j->data_ref);
  if (j->work) napi_delete_async_work(env, j->work);
  free(j);
}

static void job_execute(napi_env env, void *p) {
  (void)env;
  sector_job *j = (sector_job *)p;
  j->st = run_sectors(j->key, j->key2, j->a.keylen, j->a.mode, j->a.data, j->a.len, j->a.first,
                      j->a.ss);
}

static void job_complete(napi_env env, napi_status status, void *p) {
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
  memcpy(j->key, a.key, a.keylen);
  if (a.key2 != NULL) memcpy(j->key2, a.key2, a.keylen);
  napi_value promise, name;
  if (napi_create_reference(env, data_obj, 1, &j->data_ref) != napi_ok ||
      napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
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
  EVP_CIPHER_CTX *ctx = NULL;
  xts_status st = ctx_setup(&ctx, key, keylen, enc);
  if (st != XTS_OK) return throw_status(env, st);
  uint8_t iv[16];
  memcpy(iv, tweak, 16);
  if (!unit(ctx, iv, data, len)) {
    ERR_clear_error();
    st = XTS_E_CRYPTO;
  }
  EVP_CIPHER_CTX_free(ctx);
  if (st != XTS_OK) return throw_status(env, st);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"sectors", NULL, js_sectors, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sectorsAsync", NULL, js_sectors_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reencrypt", NULL, js_reencrypt, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reencryptAsync", NULL, js_reencrypt_async, NULL, NULL, NULL, napi_enumerable, NULL},
    {"transform", NULL, js_transform, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
