/* GET R/lint and `segweb lint FILE`: the SEG doctor's findings as JSON
 *   {"sop_instance_uid": ..., "findings": [{"severity", "code", "message"}],
 *    "counts": {"error": n, "warning": n, "info": n},
 *    "sources": {"referenced": n, "found": n}}
 * The checks are decoder/seg_lint.c; referenced images are looked up with
 * api/uid_locate.h (store, then files root) and probed with render/. */
#ifndef SEGWEB_API_LINT_H
#define SEGWEB_API_LINT_H

#include <jansson.h>
#include <stdbool.h>

#include "api/request.h"
#include "decoder/decoder.h"

struct api_ctx;

/* New JSON document (NULL when out of memory). ctx may be NULL: no lookups. */
json_t *api_lint_json(struct api_ctx *ctx, const struct seg_index *idx);

bool api_lint_get(struct api_ctx *ctx, const struct seg_index *idx, struct api_response *r,
                  struct err *e);

#endif
