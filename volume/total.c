/* A slide segment's whole total pixel matrix as one PNG, assembled from its
 * tiles (TILED_FULL implicit order or TILED_SPARSE positions, as the decoder
 * records them); missing tiles stay zero, focal planes are merged (maximum). */
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"
#include "volume/internal.h"

#define DEFAULT_MAX_TOTAL_PIXELS 100000000ull

bool volume_total_png(const struct seg_index *idx, int32_t segment, uint64_t max_pixels,
                      struct buf *out, struct err *e)
{
    if (!idx->total_matrix_rows || !idx->total_matrix_columns)
        return err_set(e, ERR_INVALID,
                       "not a slide SEG: no Total Pixel Matrix Rows/Columns (use volume for patient "
                       "geometry)");
    const struct seg_segment *seg = decoder_seg_segment(idx, segment);
    if (!seg)
        return err_set(e, ERR_NOT_FOUND, "no segment %d in this SEG", (int)segment);
    uint64_t R = idx->total_matrix_rows, C = idx->total_matrix_columns;
    uint64_t limit = max_pixels ? max_pixels : DEFAULT_MAX_TOTAL_PIXELS;
    if (R * C > limit)
        return err_set(e, ERR_LIMIT, "total pixel matrix of %llu x %llu pixels exceeds the limit of %llu",
                       (unsigned long long)C, (unsigned long long)R, (unsigned long long)limit);
    bool frac = idx->type == SEG_TYPE_FRACTIONAL;
    struct seg_pixels img = {.rows = (uint32_t)R, .columns = (uint32_t)C, .bits = frac ? 8 : 1};
    img.len = frac ? R * C : (R * C + 7) / 8;
    img.data = calloc(img.len ? img.len : 1, 1);
    if (!img.data)
        return err_set(e, ERR_NOMEM, "out of memory for a %llu x %llu image", (unsigned long long)C,
                       (unsigned long long)R);
    bool ok = false;
    for (size_t n = 0; n < seg->n_frames; n++) {
        uint32_t f = seg->frames[n];
        const struct seg_frame *fr = &idx->frames[f - 1];
        if (fr->matrix_row < 1 || fr->matrix_column < 1) {
            err_set(e, ERR_INVALID, "frame %u has no position in the total pixel matrix", f);
            goto out;
        }
        struct seg_pixels px;
        if (!decoder_frame_read(idx, f, &px, e)) {
            err_prefix(e, "frame %u", f);
            goto out;
        }
        uint64_t r0 = (uint64_t)fr->matrix_row - 1, c0 = (uint64_t)fr->matrix_column - 1;
        for (uint32_t j = 0; j < px.rows && r0 + j < R; j++) {
            for (uint32_t i = 0; i < px.columns && c0 + i < C; i++) {
                size_t p = (size_t)j * px.columns + i;
                uint32_t x = px.bits == 1 ? (uint32_t)(px.data[p >> 3] >> (p & 7) & 1)
                             : px.bits == 8 ? px.data[p]
                                            : ((const uint16_t *)px.data)[p];
                if (idx->type == SEG_TYPE_LABELMAP)
                    x = x == (uint32_t)segment;
                if (!x)
                    continue;
                uint64_t q = (r0 + j) * C + c0 + i;
                if (frac) {
                    if (x > img.data[q])
                        img.data[q] = (uint8_t)(x > 255 ? 255 : x);
                } else {
                    img.data[q >> 3] |= (uint8_t)(1u << (q & 7));
                }
            }
        }
        decoder_pixels_free(&px);
    }
    ok = decoder_png_gray(&img, out, e);
out:
    free(img.data);
    return ok;
}
