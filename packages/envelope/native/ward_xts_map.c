/* ward_xts_map.c: mapped input and output files for the XTS jobs (see ward_xts.c's header). */
#include "ward_xts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- mapped input --------------------------------------------------------------------------- */


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

napi_value js_map_input(napi_env env, napi_callback_info info) {
  return map_file(env, info, 0);
}

napi_value js_map_output(napi_env env, napi_callback_info info) {
  return map_file(env, info, 1);
}

mapped_input *get_mapped(napi_env env, napi_value v) {
  bool tagged = false;
  void *m = NULL;
  if (napi_check_object_type_tag(env, v, &MAPPED_INPUT_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &m) != napi_ok)
    return NULL;
  return (mapped_input *)m;
}

napi_value js_unmap_input(napi_env env, napi_callback_info info) {
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
napi_value js_sectors_from_async(napi_env env, napi_callback_info info) {
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
  if (napi_create_reference(env, argv[4], 1, &j->data_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &j->map_ref) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return queue_job(env, j);
}

/* sectorsMappedAsync(enc, key, src, srcOffset, dst, dstOffset, length, firstSector, sectorSize):
 * XTS from one mapping into a writable one, no buffer and no write() in between. */
napi_value js_sectors_mapped_async(napi_env env, napi_callback_info info) {
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
  if (napi_create_reference(env, argv[2], 1, &j->map_ref) != napi_ok ||
      napi_create_reference(env, argv[4], 1, &j->out_ref) != napi_ok) {
    job_free(env, j);
    return throw_code(env, "ERR_XTS_ARGUMENT", "could not queue the XTS work");
  }
  return queue_job(env, j);
}
