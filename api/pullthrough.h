/* The DICOMweb handlers' pull-through hooks (--upstream, see api/pull.h): each
 * is called when the store does not hold what a request names, and answers
 * from the upstream archive instead:
 *
 *   a SEG instance        pulled whole into the object cache, then served by
 *                         the same code as a stored one (index, frames, PNGs)
 *   any other instance    retrieve, frames and rendered streamed through;
 *                         metadata with its URLs rebased onto ours
 *   a study or series     retrieve streamed through, metadata rebased
 *   QIDO                  the upstream's answer merged with the store's
 *                         (one entry per UID, the store's first)
 *
 * The upstream failing is a 502 / 504 JSON error; what is in the store or the
 * cache is served regardless. */
#ifndef SEGWEB_API_PULLTHROUGH_H
#define SEGWEB_API_PULLTHROUGH_H

#include <stdbool.h>
#include <stddef.h>

#include "api/ctx.h"
#include "api/request.h"
#include "common/buf.h"
#include "common/err.h"

/* R/... routes whose store R is not stored. True with path set (pinned: call
 * api_pullthrough_release) when R is a SEG of the upstream; true with
 * *answered set when r was filled instead (a non-SEG's frames or rendered
 * frame, proxied). False with e set otherwise (ERR_UNSUPPORTED for a non-SEG
 * under a SEG route, ERR_NOT_FOUND, ERR_UPSTREAM, ERR_TIMEOUT). */
bool api_pullthrough_instance(struct api_ctx *ctx, const struct api_request *req, struct api_response *r,
                              char *path, size_t pathsz, bool *answered, struct err *e);
void api_pullthrough_release(struct api_ctx *ctx, const struct api_resource *res);

/* WADO-RS retrieve / metadata of what the store does not hold: r is filled
 * (an answer or a JSON error). */
void api_pullthrough_retrieve(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);
void api_pullthrough_metadata(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);

/* QIDO: body holds the store's JSON array; the upstream's answer to the same
 * query is merged in (entries whose key_tag UID the store has are skipped).
 * limit: the query's limit (0: none) applies to the merged list. */
bool api_pullthrough_search(struct api_ctx *ctx, const struct api_request *req, const char *key_tag,
                            unsigned limit, struct buf *body, struct err *e);

#endif
