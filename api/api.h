/* The api module's public header: what server/ (and only server/) uses. One request
 * struct in, one response struct out, no sockets:
 *
 *   server/http.c  api_request_route()  the row of api/route_table.c and its parameters
 *                  api_body_*()         the request body, to the row's sink (STOW)
 *                  api_route_needs_worker()  on a worker, or answered right here
 *                  api_handle()         dispatch: preflight, 405, the row's handler, CORS
 *
 * api_handle() never fails: every error becomes a JSON error response (the status from
 * the one table in api/http_error.c). */
#ifndef SEGWEB_API_API_H
#define SEGWEB_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/auth.h"
#include "common/file_cache.h"
#include "api/ctx.h"
#include "api/http_error.h"
#include "api/index_json.h"
#include "api/path_confine.h"
#include "api/png_cache.h"
#include "api/lint.h"     /* segweb lint */
#include "api/pull.h"
#include "api/render.h"
#include "api/rendered.h" /* segweb render */
#include "api/request.h"
#include "api/route.h"
#include "api/store_glue.h"
#include "api/stream.h"

/* Answers req (routed by api_request_route) into resp. */
void api_handle(struct api_ctx *ctx, const struct api_request *req, struct api_response *resp);

/* Request bodies, called by the server on the HTTP thread when the headers are in
 * (begin), for each chunk (feed) and at the end (end); free when the exchange ends.
 * The server does not know which route takes a body: api_body_wanted() says whether
 * this one does (then the server reads Content-Type first). begin with no body
 * wanted does nothing; begin/feed/end return false with e set when the body is
 * refused (the server drains the rest and answers with e). */
bool api_body_wanted(const struct api_request *req);
bool api_body_begin(struct api_ctx *ctx, struct api_request *req, struct err *e);
bool api_body_feed(struct api_request *req, const void *p, size_t n, struct err *e);
bool api_body_end(struct api_request *req, struct err *e);
void api_body_free(struct api_request *req);

/* A cache whose values are struct seg_index (decoder_seg_open / decoder_seg_free),
 * sized by idx->memory_bytes. */
struct file_cache *api_index_cache_new(size_t budget_bytes, struct err *e);

/* The same, indexing under limits (--max-frame-pixels, --max-frames, --max-frame-bytes).
 * limits is borrowed and must outlive the cache; NULL: the decoder's defaults. */
struct file_cache *api_index_cache_new_limited(size_t budget_bytes, const struct seg_limits *limits,
                                              struct err *e);

/* The service's index cache: objects of ctx->store and of the pull-through object
 * cache (ctx->pull) are loaded from their persisted indexes (store/seg_index.h) and
 * persisted when parsed; limits are ctx->stow_limits. ctx is borrowed, read at each
 * load (its fields may be set after this call) and must outlive the cache. At most
 * max_open unreferenced indexes keep their file open (the rest reopen on a hit). */
struct file_cache *api_index_cache_new_persisted(size_t budget_bytes, size_t max_open, const struct api_ctx *ctx,
                                                 struct err *e);

/* --max-total-pixels for R/segments/{n}/total.png (api/volume_routes.c); 0: 100 million. */
void api_volume_limits_set(uint64_t total_pixels);

#endif
