/* Serving an R/... route (one SEG, from --files-root or the store): resolve R to a
 * file, answer If-None-Match, take the decoded index from the cache, run the row's
 * index handler, then the JSON limit, gzip, ETag and Cache-Control. Internal to api/. */
#ifndef SEGWEB_API_INSTANCE_H
#define SEGWEB_API_INSTANCE_H

#include <stddef.h>

#include "api/ctx.h"
#include "api/request.h"

/* Runs req->route->on_index on R. vary (capacity varysz) collects the request
 * headers the answer depends on. Never fails: errors become error responses. */
void api_instance_serve(struct api_ctx *ctx, const struct api_request *req,
                        struct api_response *r, char *vary, size_t varysz);

#endif
