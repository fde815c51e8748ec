/* Frame masks as PNG, shared by the CLI and the HTTP handlers. */
#ifndef SEGWEB_API_RENDER_H
#define SEGWEB_API_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/decoder.h"

/* PNG of SEG frame `frame` (1-based), appended to out. color=false: grayscale
 * of the stored values; color=true: RGBA in the segment's display colour
 * (LABELMAP: each label in its segment's colour), transparent where 0,
 * FRACTIONAL alpha proportional to the value. */
bool api_frame_png(const struct seg_index *idx, uint32_t frame, bool color, struct buf *out,
                   struct err *e);

#endif
