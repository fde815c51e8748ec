/* The labelmap of one source image (GET R/labelmap?source=UID): every frame that
 * derives from that image, assembled with the volume labelmap's rules, as one
 * PNG. The same slicer as the volumes does the work, on a one-slice grid made
 * of the matching frames. */
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"
#include "volume/internal.h"

bool volume_labelmap_png(const struct seg_index *idx, const char *source_uid, uint32_t source_frame,
                         bool color, struct buf *out, uint64_t *overlap_pixels, struct err *e)
{
    struct volume_grid g;
    memset(&g, 0, sizeof g);
    g.ni = idx->columns;
    g.nj = idx->rows;
    g.nk = 1;
    g.n_frames = idx->number_of_frames;
    struct slicer s;
    memset(&s, 0, sizeof s);
    uint8_t (*lut)[4] = NULL;
    bool ok = false, referenced = false;
    g.frame_slice = malloc((size_t)(g.n_frames ? g.n_frames : 1) * sizeof *g.frame_slice);
    if (!g.frame_slice) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t f = 0; f < g.n_frames; f++) {
        bool derives = decoder_frame_derives_from(idx, f + 1, source_uid, source_frame);
        g.frame_slice[f] = derives ? 0 : VOLUME_NO_SLICE;
        referenced |= derives;
    }
    if (!referenced && !decoder_seg_references(idx, source_uid)) {
        err_set(e, ERR_NOT_FOUND, "this object does not reference source %s", source_uid);
        goto out;
    }
    struct volume_what w = {.labelmap = true, .format = VOLUME_NII};
    if (!grid_index_slices(idx, &g, e) || !slicer_init(&s, idx, &g, &w, e) || !slicer_fill(&s, 0, e))
        goto out;
    struct seg_pixels px = {.rows = g.nj, .columns = g.ni, .bits = (uint8_t)(8 * s.bpv), .data = s.buf,
                            .len = (size_t)g.ni * g.nj * s.bpv};
    if (!color) {
        ok = decoder_png_gray(&px, out, e);
        goto out;
    }
    size_t n = s.bpv == 1 ? 256 : 65536;
    lut = calloc(n, sizeof *lut);
    if (!lut) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < idx->n_segments; i++) {
        const struct seg_segment *sg = &idx->segments[i];
        if (sg->number <= 0 || (size_t)sg->number >= n)
            continue;
        memcpy(lut[sg->number], sg->rgb, 3);
        lut[sg->number][3] = 255;
    }
    ok = decoder_png_rgba(&px, (const uint8_t(*)[4])lut, n, out, e);
out:
    if (ok && overlap_pixels)
        *overlap_pixels = s.overlap;
    free(lut);
    slicer_free(&s);
    volume_grid_free(&g);
    return ok;
}
