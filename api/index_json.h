/* The segment index as JSON: the document `segweb info` prints and
 * GET R/segments serves. */
#ifndef SEGWEB_API_INDEX_JSON_H
#define SEGWEB_API_INDEX_JSON_H

#include <jansson.h>

#include "decoder/decoder.h"

/* New reference: the whole index (instance attributes, segments with frames,
 * per-frame entries). */
json_t *api_index_json(const struct seg_index *idx);

/* New reference: one segment's metadata and frames (each frame with its
 * position and source references). */
json_t *api_segment_json(const struct seg_index *idx, const struct seg_segment *seg);

/* New reference: a JSON string of s (NULL: ""), with bytes that are not
 * UTF-8 replaced by U+FFFD. jansson refuses invalid UTF-8; every string that
 * comes from a file or a request goes through here. NULL only when out of
 * memory. */
json_t *api_json_text(const char *s);

#endif
