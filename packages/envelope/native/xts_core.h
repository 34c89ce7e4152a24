/* xts_core: see xts_core.c. Shared by the addon's translation units. */
#ifndef WARD_XTS_CORE_H
#define WARD_XTS_CORE_H
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

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

/* An XTS context keyed once: the provider's own context, or an EVP one. */
typedef struct {
  void *alg;
  EVP_CIPHER_CTX *evp;
  int enc;
} xts_ctx;

const char *status_code(xts_status s);
const char *status_message(xts_status s);
const EVP_CIPHER *cipher_for(size_t keylen);
/* Looks the provider's AES-256-XTS up once per process (thread-safe); call before any other. */
void xts_core_init(void);
/* 1 when the sector loops call the provider directly, 0 when they use EVP. */
int xts_provider_path(void);
xts_status ctx_setup(xts_ctx *x, const uint8_t *key, size_t keylen, int enc);
void ctx_free(xts_ctx *x);
int unit(xts_ctx *x, const uint8_t *iv, const uint8_t *in, uint8_t *out, size_t n);
xts_status run_sectors(const uint8_t *key, const uint8_t *key2, size_t keylen, int mode,
                       const uint8_t *src, uint8_t *data, size_t len, uint64_t first, size_t ss);
#endif
