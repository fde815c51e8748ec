/* The segment index as JSON: the document `segweb info` prints and
 * GET R/segments serves. */
#ifndef SEGWEB_API_INDEX_JSON_H
#define SEGWEB_API_INDEX_JSON_H

#include <jansson.h>

#include "decoder/seg.h"

/* New reference: the whole index (instance attributes, segments with frames,
 * per-frame entries). */
json_t *api_index_json(const struct seg_index *idx);

/* New reference: one segment's metadata and frames (each frame with its
 * position and source references). */
json_t *api_segment_json(const struct seg_index *idx, const struct seg_segment *seg);

#endif
