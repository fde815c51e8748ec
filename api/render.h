/* Frames and masks as PNG, with the one colour table; shared by the CLI and the
 * HTTP handlers (api/seg_png.c). */
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

/* PNG of a segment mask (api_mask_pixels: 1-bit, or 8-bit FRACTIONAL values),
 * appended to out: grayscale, or with color RGBA in segment number's colour through
 * the same table as api_frame_png. */
bool api_mask_png(const struct seg_index *idx, uint32_t number, const struct seg_pixels *px,
                  bool color, struct buf *out, struct err *e);

#endif
