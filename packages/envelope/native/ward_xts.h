/* Internal to the addon: what ward_xts.c and ward_xts_map.c share. */
#ifndef WARD_XTS_H
#define WARD_XTS_H
#include <node_api.h>
#include "xts_core.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

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

/* A read-only MAP_SHARED mapping of an input file. Jobs read from it on pool threads; `busy`
 * counts them and is only touched on the main thread (queue and completion), so unmapInput can
 * refuse to unmap under a running job. */
typedef struct mapped_input {
  uint8_t *base; /* NULL once unmapped */
  size_t len;
  uint32_t busy;
  int writable;
} mapped_input;

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
  /* sectorsReadAsync / sectorsWriteAsync (ward_xts_io.c): pread before decrypting, or pwrite
   * after encrypting, on the same pool thread */
  int fd;
  uint64_t pos;
  int io_errno; /* errno of a failed pread/pwrite, or -1 for end of file */
} sector_job;

napi_value throw_code(napi_env env, const char *code, const char *msg);
napi_value throw_status(napi_env env, xts_status s);
int get_bytes(napi_env env, napi_value v, uint8_t **p, size_t *n);
int get_bool(napi_env env, napi_value v, int *out);
int get_u53(napi_env env, napi_value v, uint64_t *out);
/* (enc, key, data, firstSector, sectorSize), or with reenc (oldKey, newKey, ...): 0 after a throw. */
int parse_sector_values(napi_env env, napi_value *argv, int reenc, sector_args *a);
void job_free(napi_env env, sector_job *j);
void job_execute(napi_env env, void *p);
void job_complete(napi_env env, napi_status status, void *p);
/* Queue `j` (its references taken) on libuv's pool and return its promise; on failure `j` is
 * freed and a JS error is thrown (NULL). */
napi_value queue_job(napi_env env, sector_job *j);

/* ward_xts_io.c */
napi_value js_sectors_read_async(napi_env env, napi_callback_info info);
napi_value js_sectors_write_async(napi_env env, napi_callback_info info);
napi_value js_sectors_write_many_async(napi_env env, napi_callback_info info);

/* ward_xts_map.c */
mapped_input *get_mapped(napi_env env, napi_value v);
napi_value js_map_input(napi_env env, napi_callback_info info);
napi_value js_map_output(napi_env env, napi_callback_info info);
napi_value js_unmap_input(napi_env env, napi_callback_info info);
napi_value js_sectors_from_async(napi_env env, napi_callback_info info);
napi_value js_sectors_mapped_async(napi_env env, napi_callback_info info);
#endif
