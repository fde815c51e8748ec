/* Frame PNGs: grayscale stored values, or RGBA through a value -> colour table
 * (BINARY: 1 -> colour; FRACTIONAL: alpha grows with the value; LABELMAP: each
 * label in its segment's colour). Value 0 is always transparent. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/render.h"
#include "decoder/decoder.h"

static void set(uint8_t (*lut)[4], size_t v, const uint8_t rgb[3], uint8_t alpha)
{
    lut[v][0] = rgb[0];
    lut[v][1] = rgb[1];
    lut[v][2] = rgb[2];
    lut[v][3] = alpha;
}

/* The one value -> RGBA table of every colour PNG (frames, masks, CLI), n entries,
 * new (NULL when out of memory). Value 0 is transparent (0,0,0,0). rgb NULL: a
 * LABELMAP, label v in segment v's colour; n == 2: 1 in rgb, opaque; otherwise
 * FRACTIONAL values, alpha round(v * 255 / MaximumFractionalValue) (255 when absent). */
static uint8_t (*color_table(const struct seg_index *idx, const uint8_t *rgb, size_t n))[4]
{
    uint8_t (*lut)[4] = calloc(n, sizeof *lut);
    if (!lut)
        return NULL;
    if (!rgb) {
        for (size_t i = 0; i < idx->n_segments; i++) {
            const struct seg_segment *s = &idx->segments[i];
            if (s->number > 0 && (size_t)s->number < n)
                set(lut, (size_t)s->number, s->rgb, 255);
        }
    } else if (n == 2) {
        set(lut, 1, rgb, 255);
    } else {
        double max = idx->max_fractional_value ? idx->max_fractional_value : 255;
        for (size_t v = 1; v < n; v++) {
            double a = round((double)v * 255.0 / max);
            set(lut, v, rgb, (uint8_t)(a > 255 ? 255 : a));
        }
    }
    return lut;
}

/* px as PNG: grayscale, or RGBA through color_table(idx, rgb, n). */
static bool png_of(const struct seg_index *idx, const struct seg_pixels *px, bool color,
                   const uint8_t *rgb, size_t n, struct buf *out, struct err *e)
{
    if (!color)
        return decoder_png_gray(px, out, e);
    uint8_t (*lut)[4] = color_table(idx, rgb, n);
    bool ok = lut ? decoder_png_rgba(px, (const uint8_t (*)[4])lut, n, out, e)
                  : err_set(e, ERR_NOMEM, "out of memory for the colour table");
    free(lut);
    return ok;
}

bool api_frame_png(const struct seg_index *idx, uint32_t frame, bool color, struct buf *out, struct err *e)
{
    static const uint8_t grey[3] = {128, 128, 128};
    struct seg_pixels px;
    if (!decoder_frame_read(idx, frame, &px, e))
        return false;
    size_t n = idx->type == SEG_TYPE_BINARY ? 2 : idx->bits_allocated > 8 ? 65536 : 256;
    const uint8_t *rgb = NULL;
    if (idx->type != SEG_TYPE_LABELMAP) {
        const struct seg_segment *s = decoder_seg_segment(idx, idx->frames[frame - 1].segment_number);
        rgb = s ? s->rgb : grey;
    }
    bool ok = png_of(idx, &px, color, rgb, n, out, e);
    decoder_pixels_free(&px);
    return ok;
}

bool api_mask_png(const struct seg_index *idx, uint32_t number, const struct seg_pixels *px,
                  bool color, struct buf *out, struct err *e)
{
    static const uint8_t grey[3] = {128, 128, 128};
    const struct seg_segment *s = number <= INT32_MAX ? decoder_seg_segment(idx, (int32_t)number) : NULL;
    return png_of(idx, px, color, s ? s->rgb : grey, px->bits == 8 ? 256 : 2, out, e);
}
