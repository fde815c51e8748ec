/* Frames of images (see image_frames.h). Uncompressed: through the DCMTK bridge's
 * plain C view, the whole Pixel Data value is copied (little endian) and the
 * frame cut out of it. Compressed: JPEG-LS and JPEG 2000 by segweb's own codecs,
 * JPEG and RLE by DCMTK's decoders (transcode_image.h). */
#include "decoder/image_frames.h"

#include <stdlib.h>
#include <string.h>

#include "decoder/codec.h"
#include "decoder/dataset.h"
#include "decoder/transcode_image.h"

bool decoder_image_frame(const char *path, uint32_t frame, uint64_t max_bytes, struct buf *out,
                         uint32_t *n_frames, struct err *e)
{
    struct dataset_file *f = dataset_open(path, e);
    if (!f)
        return false;
    const struct dataset_item *r = dataset_root(f);
    uint32_t rows = 0, cols = 0, spp = 1, bits = 0, frames = 1;
    bool ok = true;
    dataset_uint(r, TAG(0x0028, 0x0002), 0, &spp);
    if (!dataset_uint(r, TAG(0x0028, 0x0008), 0, &frames) || !frames)
        frames = 1;
    *n_frames = frames;
    struct dataset_pixel_info pi = {0};
    if (!dataset_pixel_info(f, &pi, e))
        ok = false;
    if (ok && pi.encapsulated) { /* the decoder knows the geometry it can decode */
        dataset_close(f);
        return transcode_image_frame(path, frame, max_bytes, out, e);
    }
    if (ok && (!dataset_uint(r, TAG(0x0028, 0x0010), 0, &rows) || !dataset_uint(r, TAG(0x0028, 0x0011), 0, &cols) ||
               !dataset_uint(r, TAG(0x0028, 0x0100), 0, &bits) || !rows || !cols || !bits || bits % 8))
        ok = err_set(e, ERR_INVALID, "not an image with whole-byte pixels (Rows, Columns, BitsAllocated)");
    if (ok && !pi.present)
        ok = err_set(e, ERR_NOT_FOUND, "the object has no Pixel Data");
    if (ok && (frame < 1 || frame > frames))
        ok = err_set(e, ERR_NOT_FOUND, "frame %u out of range 1..%u", frame, frames);
    uint64_t fsize = (uint64_t)rows * cols * (spp ? spp : 1) * (bits / 8);
    if (ok && max_bytes && pi.length > max_bytes)
        ok = err_set(e, ERR_LIMIT, "Pixel Data of %llu bytes is over the limit", (unsigned long long)pi.length);
    size_t len = 0;
    uint8_t *px = ok ? dataset_pixel_copy(f, &len, e) : NULL;
    if (ok && !px)
        ok = false;
    if (ok && (uint64_t)frame * fsize > len)
        ok = err_set(e, ERR_INVALID, "Pixel Data (%zu bytes) is shorter than frame %u needs", len, frame);
    if (ok)
        ok = buf_append(out, px + (size_t)((uint64_t)(frame - 1) * fsize), (size_t)fsize, e);
    free(px);
    dataset_close(f);
    return ok;
}

bool decoder_ts_own_codec(const char *ts)
{
    static const char *const OWN[] = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90",
                                      "1.2.840.10008.1.2.4.91"};
    for (size_t i = 0; ts && i < sizeof OWN / sizeof OWN[0]; i++)
        if (!strcmp(ts, OWN[i]))
            return true;
    return false;
}

bool decoder_frame_decode(const char *ts, const uint8_t *in, size_t in_len, uint32_t rows, uint32_t columns,
                          uint16_t bits_allocated, uint8_t *out, size_t out_len, struct err *e)
{
    if (!decoder_ts_own_codec(ts))
        return err_set(e, ERR_UNSUPPORTED, "no segweb codec for transfer syntax %s", ts ? ts : "(none)");
    if (bits_allocated != 8 && bits_allocated != 16)
        return err_set(e, ERR_UNSUPPORTED, "compressed frames of %u bits allocated", (unsigned)bits_allocated);
    struct codec_frame cf = {rows, columns, bits_allocated};
    return strstr(ts, ".4.8") ? codec_jpegls_decode(in, in_len, &cf, out, out_len, e)
                              : codec_j2k_decode(in, in_len, &cf, out, out_len, e);
}
