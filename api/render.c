/* Frame PNGs: grayscale stored values, or RGBA through a value -> colour table
 * (BINARY: 1 -> colour; FRACTIONAL: alpha grows with the value; LABELMAP: each
 * label in its segment's colour). Value 0 is always transparent. */
#include <math.h>
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

/* New table of lut_len entries, or NULL when out of memory. */
static uint8_t (*color_table(const struct seg_index *idx, uint32_t frame, size_t *lut_len))[4]
{
    static const uint8_t grey[3] = {128, 128, 128};
    size_t n = idx->type == SEG_TYPE_BINARY ? 2 : idx->bits_allocated > 8 ? 65536 : 256;
    uint8_t (*lut)[4] = calloc(n, sizeof *lut);
    if (!lut)
        return NULL;
    *lut_len = n;
    if (idx->type == SEG_TYPE_LABELMAP) {
        for (size_t i = 0; i < idx->n_segments; i++) {
            const struct seg_segment *s = &idx->segments[i];
            if (s->number > 0 && (size_t)s->number < n)
                set(lut, (size_t)s->number, s->rgb, 255);
        }
        return lut;
    }
    const struct seg_segment *s = decoder_seg_segment(idx, idx->frames[frame - 1].segment_number);
    const uint8_t *rgb = s ? s->rgb : grey;
    if (idx->type == SEG_TYPE_BINARY) {
        set(lut, 1, rgb, 255);
        return lut;
    }
    double max = idx->max_fractional_value ? idx->max_fractional_value : 255;
    for (size_t v = 1; v < n; v++) {
        double a = round((double)v * 255.0 / max);
        set(lut, v, rgb, (uint8_t)(a > 255 ? 255 : a));
    }
    return lut;
}

bool api_frame_png(const struct seg_index *idx, uint32_t frame, bool color, struct buf *out, struct err *e)
{
    struct seg_pixels px;
    if (!decoder_frame_read(idx, frame, &px, e))
        return false;
    bool ok;
    if (!color) {
        ok = decoder_png_gray(&px, out, e);
    } else {
        size_t n = 0;
        uint8_t (*lut)[4] = color_table(idx, frame, &n);
        ok = lut ? decoder_png_rgba(&px, (const uint8_t (*)[4])lut, n, out, e)
                 : err_set(e, ERR_NOMEM, "out of memory for the colour table");
        free(lut);
    }
    decoder_pixels_free(&px);
    return ok;
}
