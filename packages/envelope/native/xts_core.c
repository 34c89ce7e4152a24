/*
 * XTS-AES over whole sectors with the OpenSSL inside node: cipher contexts (the provider's, or
 * EVP's), the per-sector loop, and the status codes. No N-API here (ward_xts.c binds it).
 */
#include "xts_core.h"

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


const char *status_code(xts_status s) {
  switch (s) {
    case XTS_E_KEY_LENGTH: return "ERR_XTS_KEY_LENGTH";
    case XTS_E_DUPLICATED_KEYS: return "ERR_XTS_DUPLICATED_KEYS";
    case XTS_E_NOMEM: return "ERR_XTS_NO_MEMORY";
    case XTS_E_INPUT_SHORT: return "ERR_XTS_INPUT_SHORT";
    case XTS_E_OUTPUT_SPACE: return "ERR_XTS_OUTPUT_SPACE";
    default: return "ERR_XTS_CRYPTO";
  }
}

const char *status_message(xts_status s) {
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

const EVP_CIPHER *cipher_for(size_t keylen) {
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


void ctx_free(xts_ctx *x) {
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
xts_status ctx_setup(xts_ctx *x, const uint8_t *key, size_t keylen, int enc) {
  if (cipher_for(keylen) == NULL) return XTS_E_KEY_LENGTH;
  if (CRYPTO_memcmp(key, key + keylen / 2, keylen / 2) == 0) return XTS_E_DUPLICATED_KEYS;
  return ctx_key(x, key, keylen, enc, g_prov_ok);
}

/* One data unit from `in` to `out` (the same pointer: in place) with the given 16-byte tweak. */
int unit(xts_ctx *x, const uint8_t *iv, const uint8_t *in, uint8_t *out, size_t n) {
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
xts_status run_sectors(const uint8_t *key, const uint8_t *key2, size_t keylen, int mode,
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

void xts_core_init(void) { pthread_once(&g_prov_once, prov_lookup); }

int xts_provider_path(void) { return g_prov_ok; }
