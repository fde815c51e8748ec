/* The instance endpoints, given an already opened index: each fills the body
 * and content type of r, or returns false with e set (mapped to a status by
 * api/http_error.h). Called by api_handle(); usable directly in tests. */
#ifndef SEGWEB_API_HANDLERS_H
#define SEGWEB_API_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/request.h"
#include "decoder/frame.h"
#include "decoder/seg.h"

/* GET R/segments: the index document (as `segweb info`). */
bool api_segments_get(const struct seg_index *idx, struct api_response *r, struct err *e);

/* GET R/segments/{n}: one segment. ERR_NOT_FOUND for an unknown number. */
bool api_segment_get(const struct seg_index *idx, uint32_t number, struct api_response *r,
                     struct err *e);

/* GET R/frames/{f}/rendered: PNG of frame f. ERR_NOT_FOUND out of range. */
bool api_frame_rendered_get(const struct seg_index *idx, uint32_t frame, bool color,
                            struct api_response *r, struct err *e);

/* GET R/segments/{n}/mask?source=UID[&frame=k]: PNG of segment n on that source. */
bool api_segment_mask_get(const struct seg_index *idx, uint32_t number, const char *source_uid,
                          uint32_t source_frame, bool color, struct api_response *r,
                          struct err *e);

/* The mask pixels behind api_segment_mask_get: BINARY and LABELMAP give 1-bit
 * 0/1 (LABELMAP: pixel == number), FRACTIONAL gives 8-bit stored values (the
 * maximum over frames when several match). All zero of Rows x Columns when the
 * segment has no frame on that source; ERR_NOT_FOUND when the object does not
 * reference the source at all or the segment does not exist. out->data is new. */
bool api_mask_pixels(const struct seg_index *idx, uint32_t number, const char *source_uid,
                     uint32_t source_frame, struct seg_pixels *out, struct err *e);

#endif
