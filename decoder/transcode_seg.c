/* A compressed SEG's frames into one native Pixel Data value (see transcode_seg.h).
 * Frames are read one at a time through the SEG index; only the output value is
 * held whole. BINARY frames come from decoder_frame_read re-aligned to bit 0 and
 * go back to bit k*Rows*Columns: Explicit VR LE has no padding between frames. */
#include "decoder/transcode_seg.h"

#include <stdlib.h>
#include <string.h>

#include "decoder/frame.h"
#include "decoder/seg.h"

bool transcode_is_seg(const char *sop_class)
{
    return sop_class && (!strcmp(sop_class, SEG_SOP_CLASS_SEGMENTATION) || !strcmp(sop_class, SEG_SOP_CLASS_LABELMAP));
}

bool transcode_seg_native(const char *path, uint64_t max_bytes, struct transcode_native *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct seg_index *idx = decoder_seg_open(path, NULL, e);
    if (!idx)
        return false;
    bool ok = true;
    const uint64_t npix = (uint64_t)idx->rows * idx->columns, n = idx->number_of_frames;
    out->bits = idx->bits_allocated == 1 ? 1 : idx->bits_allocated == 8 ? 8 : 16;
    uint64_t len = out->bits == 1 ? (n * npix + 7) / 8 : n * npix * (out->bits / 8);
    if (idx->bits_allocated != 1 && idx->bits_allocated != 8 && idx->bits_allocated != 16)
        ok = err_set(e, ERR_UNSUPPORTED, "a compressed segmentation with %u bits allocated", idx->bits_allocated);
    else if (len > SIZE_MAX / 2 || (max_bytes && len > max_bytes))
        ok = err_set(e, ERR_LIMIT, "the decoded Pixel Data (%llu bytes) is over the limit of %llu bytes",
                     (unsigned long long)len, (unsigned long long)max_bytes);
    else if (!(out->data = calloc(len ? (size_t)len : 1, 1)))
        ok = err_set(e, ERR_NOMEM, "out of memory for %llu bytes of Pixel Data", (unsigned long long)len);
    out->len = (size_t)len;
    for (uint32_t f = 1; ok && f <= n; f++) {
        struct seg_pixels px;
        if (!decoder_frame_read(idx, f, &px, e)) {
            ok = false;
            break;
        }
        uint64_t k = f - 1;
        if (out->bits == 1)
            decoder_bits_insert(out->data, k * npix, px.data, npix);
        else
            memcpy(out->data + k * px.len, px.data, px.len);
        decoder_pixels_free(&px);
    }
    decoder_seg_free(idx);
    if (!ok) {
        free(out->data);
        memset(out, 0, sizeof *out);
    }
    return ok;
}
