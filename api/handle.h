/* The api entry point: one request struct in, one response struct out.
 *
 *   server/http.c ── api_request_route() ──> api_handle() ──> struct api_response
 *                                             │
 *            instance routes: resolve R (files: api/path_confine.h, store: the
 *            plugged-in lookup) → ETag / If-None-Match → cached index
 *            (api/cache.h) → api/segments.c or api/frames.c → gzip, caching
 *            and CORS headers.
 *
 * api_handle() never fails: every error becomes a JSON error response. It runs
 * on a worker thread for instance routes (api_route_needs_worker) and may run on
 * the HTTP thread for the cheap ones. */
#ifndef SEGWEB_API_HANDLE_H
#define SEGWEB_API_HANDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "api/cache.h"
#include "api/request.h"
#include "common/buf.h"
#include "common/err.h"

struct store;
struct seg_limits;
#include "decoder/seg.h"

/* Maps a store route's instance resource to the path of its file. Until the
 * store exists the service plugs in api_store_lookup_none (404). */
typedef bool (*api_store_lookup_fn)(void *arg, const struct api_resource *res, char *path,
                                    size_t pathsz, struct err *e);

/* Appends the Prometheus text exposition to out. */
typedef bool (*api_metrics_fn)(void *arg, struct buf *out, struct err *e);

struct api_ctx {
    struct api_cache *cache;          /* of struct seg_index, see api_index_cache_new() */
    const char *files_root;           /* realpath of --files-root, or NULL: /files is 404 */
    struct store *store;              /* the instance store (DICOMweb routes), or NULL */
    const struct seg_limits *stow_limits; /* object limits STOW validates with; NULL: defaults */
    api_store_lookup_fn store_lookup;
    void *store_arg;
    api_metrics_fn metrics;
    void *metrics_arg;
    const char *cors_origins;         /* "" none, "*" any, or comma-separated origins */
    size_t gzip_min_bytes;            /* JSON bodies smaller than this are not compressed */
    size_t max_json_bytes;            /* --max-json-bytes: larger JSON answers are refused (413); 0: no limit */
    atomic_bool ready;                /* /readyz: true once serving, false while draining */
};

void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *resp);

/* The store lookup used until the store exists: always ERR_NOT_FOUND
 * "instance not in store". */
bool api_store_lookup_none(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                           struct err *e);

/* A cache whose values are struct seg_index (decoder_seg_open / decoder_seg_free),
 * sized by idx->memory_bytes. */
struct api_cache *api_index_cache_new(size_t budget_bytes, struct err *e);

/* The same, indexing under limits (--max-frame-pixels, --max-frames, --max-frame-bytes).
 * limits is borrowed and must outlive the cache; NULL: the decoder's defaults. */
struct api_cache *api_index_cache_new_limited(size_t budget_bytes, const struct seg_limits *limits,
                                              struct err *e);

#endif
