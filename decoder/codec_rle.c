/* DICOM RLE Lossless (PS3.5 Annex G). A frame is a 64-byte header (segment
 * count, then 15 segment offsets from the start of the header, all uint32
 * little endian) followed by PackBits segments, one per byte plane:
 *   bits 1:  one segment, the bit-packed frame padded to a whole byte
 *   bits 8:  one segment
 *   bits 16: two segments, most significant byte plane first
 * Each plane is decoded straight into the output with a stride, so no scratch
 * buffer is needed. Segments longer than needed are cut off (encoders pad to
 * an even length); shorter ones are an error. */
#include <string.h>

#include "decoder/codec.h"

#define HEADER_LEN 64
#define MAX_SEGMENTS 15

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* PackBits into out[0], out[stride], ... out[(want-1)*stride]. Returns the
 * number of bytes produced (< want if the segment ran out). */
static size_t packbits(const uint8_t *in, size_t in_len, uint8_t *out, size_t stride, size_t want)
{
    size_t i = 0, n = 0;
    while (n < want && i < in_len) {
        int h = (int8_t)in[i++];
        if (h >= 0) {
            size_t run = (size_t)h + 1;
            if (run > in_len - i)
                run = in_len - i; /* truncated literal: produce what is there */
            if (run > want - n)
                run = want - n;
            for (size_t k = 0; k < run; k++)
                out[(n + k) * stride] = in[i + k];
            i += run;
            n += run;
        } else if (h != -128) { /* -128 is a no-op */
            if (i >= in_len)
                break;
            size_t run = (size_t)(1 - h);
            if (run > want - n)
                run = want - n;
            uint8_t v = in[i++];
            for (size_t k = 0; k < run; k++)
                out[(n + k) * stride] = v;
            n += run;
        }
    }
    return n;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

bool codec_rle_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                      uint8_t *out, size_t out_len, struct err *e)
{
    if (!codec_check_output(f, out_len, "rle", e))
        return false;
    uint64_t expect = out_len;
    uint32_t nseg = f->bits_allocated == 16 ? 2 : 1; /* one byte plane per segment */
    if (in_len < HEADER_LEN)
        return err_set(e, ERR_INVALID, "rle: frame is %zu bytes, shorter than the 64-byte header",
                       in_len);

    uint32_t count = le32(in);
    if (count != nseg)
        return err_set(e, ERR_INVALID, "rle: %u segments, expected %u for %u-bit data", count,
                       nseg, (unsigned)f->bits_allocated);
    size_t off[MAX_SEGMENTS + 1];
    for (uint32_t s = 0; s < count; s++) {
        uint32_t o = le32(in + 4 + 4 * s);
        if (o < HEADER_LEN || o > in_len)
            return err_set(e, ERR_INVALID, "rle: segment %u offset %u outside 64..%zu", s + 1, o,
                           in_len);
        if (s > 0 && o < off[s - 1])
            return err_set(e, ERR_INVALID, "rle: segment %u offset %u before segment %u", s + 1, o,
                           s);
        off[s] = o;
    }
    off[count] = in_len;

    size_t plane = (size_t)(expect / nseg);
    for (uint32_t s = 0; s < count; s++) {
        uint8_t *dst = out;
        size_t stride = 1;
        if (nseg == 2) {
            /* Segment 1 is the high byte; where it lands depends on host order. */
            int hi_index = host_is_little_endian() ? 1 : 0;
            dst = out + (s == 0 ? hi_index : 1 - hi_index);
            stride = 2;
        }
        size_t got = packbits(in + off[s], off[s + 1] - off[s], dst, stride, plane);
        if (got < plane)
            return err_set(e, ERR_INVALID, "rle: segment %u decodes to %zu bytes, need %zu", s + 1,
                           got, plane);
    }
    return true;
}
