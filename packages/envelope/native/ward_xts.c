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
 * Errors carry `code` (ERR_XTS_*), documented in docs/errors/envelope-xts.md.
 */
#define _DEFAULT_SOURCE /* madvise, MAP_SHARED under -std=c11 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* IEEE 1619-2007 §5.1: a data unit holds at most 2^20 AES blocks. */
#define XTS_MAX_UNIT ((size_t)1 << 24)
#define XTS_MIN_UNIT ((size_t)16)

typedef enum {
  XTS_OK = 0,
  XTS_E_KEY_LENGTH,
  XTS_E_DUPLICATED_KEYS,
  XTS_E_CRYPTO,
  XTS_E_NOMEM,
  XTS_E_INPUT_SHORT,
  XTS_E_OUTPUT_SPACE,
} xts_status;

static const char *status_code(xts_status s) {
  switch (s) {
    case XTS_E_KEY_LENGTH: return "ERR_XTS_KEY_LENGTH";
    case XTS_E_DUPLICATED_KEYS: return "ERR_XTS_DUPLICATED_KEYS";
    case XTS_E_NOMEM: return "ERR_XTS_NO_MEMORY";
    case XTS_E_INPUT_SHORT: return "ERR_XTS_INPUT_SHORT";
    case XTS_E_OUTPUT_SPACE: return "ERR_XTS_OUTPUT_SPACE";
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
    case XTS_E_INPUT_SHORT:
      return "the mapped input file no longer covers the range being read (was it truncated?)";
    case XTS_E_OUTPUT_SPACE:
      return "no space for the mapped output file's pages (is the file system full?)";
    default: return "OpenSSL XTS operation failed";
  }
}

static const EVP_CIPHER *cipher_for(size_t keylen) {
  if (keylen == 64) return EVP_aes_256_xts();
  if (keylen == 32) return EVP_aes_128_xts();
  return NULL;
}

/*
 * Per-sector cost. EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) re-keys nothing, but in
 * OpenSSL 3.0 each call also asks the provider for the IV length through an OSSL_PARAM lookup
 * (strcmp over parameter names) and walks evp_cipher_init_internal's checks: `perf` put that at
 * ~15 % of the time spent in AES itself for 4 KiB sectors. So the sector loops call the same
 * provider implementation EVP would use (the one EVP_CIPHER_fetch resolves for "AES-256-XTS" in
 * the default library context, i.e. also a FIPS provider when configured) through its public
 * dispatch table (OSSL_PROVIDER_query_operation, provider-cipher(7)): encrypt_init with only the
 * 16-byte tweak, then the one-shot `cipher` call, per sector. That is exactly the work EVP
 * forwards to (same functions, same arguments), minus the wrapper. The table is looked up once,
 * checked against the EVP path on a known sector, and the EVP path is used when anything is
 * missing or differs (or when WARD_XTS_EVP_ONLY is set: tests compare both).
 */
typedef struct {
  OSSL_FUNC_cipher_newctx_fn *newctx;
  OSSL_FUNC_cipher_freectx_fn *freectx;
  OSSL_FUNC_cipher_encrypt_init_fn *einit;
  OSSL_FUNC_cipher_decrypt_init_fn *dinit;
  OSSL_FUNC_cipher_cipher_fn *cipher;
  void *provctx;
} prov_xts;

static prov_xts g_prov;
static int g_prov_ok; /* written once under pthread_once, read-only afterwards */
static pthread_once_t g_prov_once = PTHREAD_ONCE_INIT;

/* An XTS context keyed once: the provider's own context, or an EVP one. */
typedef struct {
  void *alg;
  EVP_CIPHER_CTX *evp;
  int enc;
} xts_ctx;

static void ctx_free(xts_ctx *x) {
  /* The provider's freectx and EVP_CIPHER_CTX_free both cleanse the expanded key schedules. */
  if (x->alg != NULL) g_prov.freectx(x->alg);
  if (x->evp != NULL) EVP_CIPHER_CTX_free(x->evp);
  x->alg = NULL;
  x->evp = NULL;
}

static xts_status ctx_key(xts_ctx *x, const uint8_t *key, size_t keylen, int enc, int use_prov) {
  const EVP_CIPHER *c = cipher_for(keylen);
  x->alg = NULL;
  x->evp = NULL;
  x->enc = enc;
  if (use_prov && keylen == 64) {
    x->alg = g_prov.newctx(g_prov.provctx);
    if (x->alg == NULL) return XTS_E_NOMEM;
    if ((enc ? g_prov.einit : g_prov.dinit)(x->alg, key, keylen, NULL, 0, NULL) != 1) {
      ctx_free(x);
      ERR_clear_error();
      return XTS_E_CRYPTO;
    }
    return XTS_OK;
  }
  x->evp = EVP_CIPHER_CTX_new();
  if (x->evp == NULL) return XTS_E_NOMEM;
  if (EVP_CipherInit_ex(x->evp, c, NULL, key, NULL, enc ? 1 : 0) != 1) {
    ctx_free(x);
    ERR_clear_error();
    return XTS_E_CRYPTO;
  }
  return XTS_OK;
}

/* Keys a context once. Equal halves are refused in both directions: OpenSSL 3 refuses them only
 * when encrypting, but a key like that was never produced by a sound generator. */
static xts_status ctx_setup(xts_ctx *x, const uint8_t *key, size_t keylen, int enc) {
  if (cipher_for(keylen) == NULL) return XTS_E_KEY_LENGTH;
  if (CRYPTO_memcmp(key, key + keylen / 2, keylen / 2) == 0) return XTS_E_DUPLICATED_KEYS;
  return ctx_key(x, key, keylen, enc, g_prov_ok);
}

/* One data unit from `in` to `out` (the same pointer: in place) with the given 16-byte tweak. */
static int unit(xts_ctx *x, const uint8_t *iv, const uint8_t *in, uint8_t *out, size_t n) {
  if (x->alg != NULL) {
    size_t outl = 0;
    if ((x->enc ? g_prov.einit : g_prov.dinit)(x->alg, NULL, 0, iv, 16, NULL) != 1) return 0;
    if (g_prov.cipher(x->alg, out, &outl, n, in, n) != 1) return 0;
    return outl == n;
  }
  int outl = 0;
  if (EVP_CipherInit_ex(x->evp, NULL, NULL, NULL, iv, -1) != 1) return 0;
  if (EVP_CipherUpdate(x->evp, out, &outl, in, (int)n) != 1) return 0;
  return outl == (int)n;
}

static int first_name_is(const char *names, const char *want) {
  size_t n = strlen(want);
  return strncasecmp(names, want, n) == 0 && (names[n] == '\0' || names[n] == ':');
}

/* Both paths on one 512-byte sector in both directions: the provider path is kept only if it
 * gives EVP's bytes. */
static int prov_agrees(void) {
  uint8_t key[64], iv[16] = {7}, a[512], b[512];
  for (int i = 0; i < 64; i++) key[i] = (uint8_t)(i * 37 + 1);
  for (int i = 0; i < 512; i++) a[i] = b[i] = (uint8_t)(i * 11 + 3);
  int ok = 1;
  for (int enc = 1; enc >= 0 && ok; enc--) {
    xts_ctx p, e;
    if (ctx_key(&p, key, 64, enc, 1) != XTS_OK) return 0;
    if (ctx_key(&e, key, 64, enc, 0) != XTS_OK) {
      ctx_free(&p);
      return 0;
    }
    ok = unit(&p, iv, a, a, sizeof a) && unit(&e, iv, b, b, sizeof b) && memcmp(a, b, sizeof a) == 0;
    ctx_free(&p);
    ctx_free(&e);
  }
  ERR_clear_error();
  return ok;
}

static void prov_lookup(void) {
  if (getenv("WARD_XTS_EVP_ONLY") != NULL) return;
  /* Held for the life of the process: keeps the provider (and its dispatch table) loaded. */
  EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-256-XTS", NULL);
  const OSSL_PROVIDER *prov = c != NULL ? EVP_CIPHER_get0_provider(c) : NULL;
  int no_store = 0;
  const OSSL_ALGORITHM *algs =
      prov != NULL ? OSSL_PROVIDER_query_operation(prov, OSSL_OP_CIPHER, &no_store) : NULL;
  prov_xts p = {0};
  for (const OSSL_ALGORITHM *a = algs; a != NULL && a->algorithm_names != NULL; a++) {
    if (!first_name_is(a->algorithm_names, "AES-256-XTS")) continue;
    for (const OSSL_DISPATCH *d = a->implementation; d->function_id != 0; d++) {
      switch (d->function_id) {
        case OSSL_FUNC_CIPHER_NEWCTX: p.newctx = OSSL_FUNC_cipher_newctx(d); break;
        case OSSL_FUNC_CIPHER_FREECTX: p.freectx = OSSL_FUNC_cipher_freectx(d); break;
        case OSSL_FUNC_CIPHER_ENCRYPT_INIT: p.einit = OSSL_FUNC_cipher_encrypt_init(d); break;
        case OSSL_FUNC_CIPHER_DECRYPT_INIT: p.dinit = OSSL_FUNC_cipher_decrypt_init(d); break;
        case OSSL_FUNC_CIPHER_CIPHER: p.cipher = OSSL_FUNC_cipher_cipher(d); break;
        default: break;
      }
    }
    break;
  }
  if (algs != NULL) OSSL_PROVIDER_unquery_operation(prov, OSSL_OP_CIPHER, algs);
  if (p.newctx && p.freectx && p.einit && p.dinit && p.cipher) {
    p.provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
    g_prov = p;
    g_prov_ok = prov_agrees();
  }
  if (!g_prov_ok) EVP_CIPHER_free(c);
  ERR_clear_error();
}

/* Whole sectors from [src, src+len) to [data, data+len) (src == data: in place), len a multiple
 * of ss, first sector number `first`. mode: 1 encrypt, 0 decrypt, 2 re-encrypt (decrypt under
 * key, encrypt under key2, per sector, so each sector is still in L1 cache for its second pass:
 * deep rekey in one sweep). */
static xts_status run_sectors(const uint8_t *key, const uint8_t *key2, size_t keylen, int mode,
                              const uint8_t *src, uint8_t *data, size_t len, uint64_t first,
                              size_t ss) {
  xts_ctx ctx, ctx2 = {NULL, NULL, 0};
  xts_status st = ctx_setup(&ctx, key, keylen, mode == 1);
  if (st != XTS_OK) return st;
  if (mode == 2 && (st = ctx_setup(&ctx2, key2, keylen, 1)) != XTS_OK) {
    ctx_free(&ctx);
    return st;
  }
  uint8_t iv[16] = {0};
  uint64_t s = first;
  for (size_t off = 0; off < len; off += ss, s++) {
    for (int i = 0; i < 8; i++) iv[i] = (uint8_t)(s >> (8 * i));
    if (!unit(&ctx, iv, src + off, data + off, ss) ||
        (mode == 2 && !unit(&ctx2, iv, data + off, data + off, ss))) {
      st = XTS_E_CRYPTO;
      ERR_clear_error();
      break;
    }
  }
  ctx_free(&ctx);
  ctx_free(&ctx2);
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
static int parse_sector_values(napi_env env, napi_value *argv, int reenc, sector_args *a);

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

static int parse_sector_values(napi_env env, napi_value *argv, int reenc, sector_args *a) {
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

typedef struct {
  sector_args a;
  uint8_t key[64]; /* private copies: the caller may reuse or zero its keys while we run */
  uint8_t key2[64];
  xts_status st;
  const uint8_t *src; /* a.data (in place) or a position in a mapped input */
  struct mapped_input *map; /* sectorsFromAsync: the mapping `src` points into */
  struct mapped_input *out; /* sectorsMappedAsync: the writable mapping `a.data` points into */
  napi_ref out_ref;
  napi_ref map_ref;         /* keeps it from being collected (and unmapped) until completion */
  napi_ref data_ref; /* keeps the caller's buffer alive until completion */
  napi_deferred deferred;
  napi_async_work work;
} sector_job;

/* ---- mapped input --------------------------------------------------------------------------- */

/* A read-only MAP_SHARED mapping of an input file. Jobs read from it on pool threads; `busy`
 * counts them and is only touched on the main thread (queue and completion), so unmapInput can
 * refuse to unmap under a running job. */
typedef struct mapped_input {
  uint8_t *base; /* NULL once unmapped */
  size_t len;
  uint32_t busy;
  int writable;
} mapped_input;

static const napi_type_tag MAPPED_INPUT_TAG = {0x8f0d2a6c5b1e4e37ULL, 0xa94c1d2e7b3f6051ULL};

static void mapped_release(mapped_input *m) {
  if (m->base != NULL) munmap(m->base, m->len);
  m->base = NULL;
}

static void mapped_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mapped_release((mapped_input *)data);
  free(data);
}

static void job_free(napi_env env, sector_job *j) {
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

static void job_execute(napi_env env, void *p) {
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
  j->src = a.data;
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

/* mapInput(fd, length): maps the first `length` bytes of the open file `fd` read-only;
 * mapOutput(fd, length): read-write (the file must be open for reading and writing). */
static napi_value map_file(napi_env env, napi_callback_info info, int writable) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  uint64_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !get_u53(env, argv[1], &len) ||
      len == 0 || len > SIZE_MAX)
    return throw_code(env, "ERR_XTS_ARGUMENT", "expected (fd, length > 0)");
  void *base =
      mmap(NULL, (size_t)len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return throw_code(env, "ERR_XTS_MAP", strerror(errno));
  mapped_input *m = (mapped_input *)calloc(1, sizeof *m);
  napi_value ext;
  if (m == NULL) {
    munmap(base, (size_t)len);
    return throw_status(env, XTS_E_NOMEM);
  }
  m->base = (uint8_t *)base;
  m->len = (size_t)len;
  m->writable = writable;
  if (napi_create_external(env, m, mapped_finalize, NULL, &ext) != napi_ok) {
    mapped_finalize(env, m, NULL);
    return throw_status(env, XTS_E_NOMEM);
  }
  if (napi_type_tag_object(env, ext, &MAPPED_INPUT_TAG) != napi_ok)
    return throw_code(env, "ERR_XTS_MAP", "could not tag the mapping"); /* GC unmaps it */
  return ext;
}

static napi_value js_map_input(napi_env env, napi_callback_info info) {
  return map_file(env, info, 0);
}

static napi_value js_map_output(napi_env env, napi_callback_info info) {
  return map_file(env, info, 1);
}

static mapped_input *get_mapped(napi_env env, napi_value v) {
  bool tagged = false;
  void *m = NULL;
  if (napi_check_object_type_tag(env, v, &MAPPED_INPUT_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &m) != napi_ok)
    return NULL;
  return (mapped_input *)m;
}

static napi_value js_unmap_input(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  mapped_input *m;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      (m = get_mapped(env, argv[0])) == NULL)
    return throw_code(env, "ERR_XTS_ARGUMENT", "expected a mapping from mapInput");
  if (m->busy != 0)
    return throw_code(env, "ERR_XTS_ARGUMENT", "the mapping is still read by an XTS job");
  mapped_release(m);
  return NULL;
}

/* sectorsFromAsync(enc, key, map, mapOffset, dst, firstSector, sectorSize) */
static napi_value js_sectors_from_async(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7)
    return throw_code(env, "ERR_XTS_ARGUMENT",
                      "expected (enc, key, map, mapOffset, dst, firstSector, sectorSize)");
  mapped_input *m = get_mapped(env, argv[2]);
  uint64_t off;
  if (m == NULL || m->base == NULL)
    return throw_code(env, "ERR_XTS_ARGUMENT", "map must be a live mapping from mapInput");
  if (!get_u53(env, argv[3], &off))
    return throw_code(env, "ERR_XTS_ARGUMENT", "mapOffset must be a non-negative integer");
  /* The (enc, key, data, firstSector, sectorSize) checks of the in-place call, on dst. */
  napi_value rest[5] = {argv[0], argv[1], argv[4], argv[5], argv[6]};
  sector_args a;
  if (!parse_sector_values(env, rest, 0, &a)) return NULL;
  if (off > m->len || a.len > m->len - off)
    return throw_code(env, "ERR_XTS_DATA_LENGTH", "the range is outside the mapping");
  sector_job *j = (sector_job *)calloc(1, sizeof *j);
  if (j == NULL) return throw_status(env, XTS_E_NOMEM);
  j->a = a;
  j->src = m->base + off;
  /* Set before the job is queued: a pool thread may start it at once. job_free releases it. */
  j->map = m;
  m->busy++;
  memcpy(j->key, a.key, a.keylen);
  napi_value promise, name;
  if (napi_create_reference(env, argv[4], 1, &j->data_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &j->map_ref) != napi_ok ||
      napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ward_xts", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return promise;
}

/* sectorsMappedAsync(enc, key, src, srcOffset, dst, dstOffset, length, firstSector, sectorSize):
 * XTS from one mapping into a writable one, no buffer and no write() in between. */
static napi_value js_sectors_mapped_async(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 9)
    return throw_code(env, "ERR_XTS_ARGUMENT",
                      "expected (enc, key, src, srcOffset, dst, dstOffset, length, firstSector, "
                      "sectorSize)");
  mapped_input *src = get_mapped(env, argv[2]);
  mapped_input *dst = get_mapped(env, argv[4]);
  uint64_t soff, doff, len, first, ss;
  sector_args a;
  memset(&a, 0, sizeof a);
  if (src == NULL || src->base == NULL || dst == NULL || dst->base == NULL || !dst->writable)
    return throw_code(env, "ERR_XTS_ARGUMENT", "src and dst must be live mappings (dst writable)");
  if (!get_bool(env, argv[0], &a.mode)) return throw_code(env, "ERR_XTS_ARGUMENT", "enc must be a boolean");
  if (!get_bytes(env, argv[1], &a.key, &a.keylen) || a.keylen != 64) return throw_status(env, XTS_E_KEY_LENGTH);
  if (!get_u53(env, argv[3], &soff) || !get_u53(env, argv[5], &doff) || !get_u53(env, argv[6], &len))
    return throw_code(env, "ERR_XTS_ARGUMENT", "offsets and length must be non-negative integers");
  if (!get_u53(env, argv[7], &first))
    return throw_code(env, "ERR_XTS_SECTOR_NUMBER", "firstSector must be an integer in [0, 2^53)");
  if (!get_u53(env, argv[8], &ss) || ss < XTS_MIN_UNIT || ss > XTS_MAX_UNIT)
    return throw_code(env, "ERR_XTS_SECTOR_SIZE", "sectorSize must be an integer from 16 to 16777216");
  if (len == 0 || len % ss != 0)
    return throw_code(env, "ERR_XTS_DATA_LENGTH", "length is not a whole number of sectors");
  if (len / ss > UINT64_MAX - first)
    return throw_code(env, "ERR_XTS_SECTOR_NUMBER", "sector numbers would pass 2^64");
  if (soff > src->len || len > src->len - soff || doff > dst->len || len > dst->len - doff)
    return throw_code(env, "ERR_XTS_DATA_LENGTH", "the range is outside a mapping");
  a.len = (size_t)len;
  a.first = first;
  a.ss = (size_t)ss;
  a.data = dst->base + doff;
  sector_job *j = (sector_job *)calloc(1, sizeof *j);
  if (j == NULL) return throw_status(env, XTS_E_NOMEM);
  j->a = a;
  j->src = src->base + soff;
  j->map = src; /* before queueing: a pool thread may start the job at once */
  src->busy++;
  j->out = dst;
  dst->busy++;
  memcpy(j->key, a.key, a.keylen);
  napi_value promise, name;
  if (napi_create_reference(env, argv[2], 1, &j->map_ref) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &j->out_ref) != napi_ok ||
      napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ward_xts", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return promise;
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
  pthread_once(&g_prov_once, prov_lookup);
  napi_value path_value;
  if (napi_create_string_utf8(env, g_prov_ok ? "provider" : "evp", NAPI_AUTO_LENGTH, &path_value) !=
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
    {"cipherPath", NULL, NULL, NULL, NULL, path_value, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
