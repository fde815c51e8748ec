/* Reads one frame: for native data only that frame's byte range, for
 * encapsulated data only that frame's fragments, then decodes it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decoder/codec.h"
#include "decoder/frame.h"

#define MAX_FRAME_BYTES (256ull << 20) /* when the index carries no limit */

static _Atomic uint64_t bytes_read;

uint64_t decoder_frame_bytes_read(void)
{
    return bytes_read;
}

static bool read_at(const struct seg_index *idx, uint64_t off, size_t n, uint8_t *dst, struct err *e)
{
    while (n) {
        ssize_t got = pread(idx->fd, dst, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return err_set(e, ERR_IO, "cannot read %s: %s", idx->path, strerror(errno));
        if (got == 0)
            return err_set(e, ERR_INVALID, "file is truncated: Pixel Data ends at byte %llu",
                           (unsigned long long)off);
        bytes_read += (uint64_t)got;
        dst += got;
        off += (uint64_t)got;
        n -= (size_t)got;
    }
    return true;
}

/* Bytes [start, start+n) of the native Pixel Data value. */
static bool read_native(const struct seg_index *idx, uint64_t start, size_t n, uint8_t *dst, uint32_t frame,
                        struct err *e)
{
    const struct seg_pixel_layout *px = &idx->pixels;
    if (start > px->length || px->length - start < n)
        return err_set(e, ERR_INVALID,
                       "Pixel Data is shorter than declared: frame %u needs bytes %llu to %llu of a %llu-byte value",
                       frame, (unsigned long long)start, (unsigned long long)(start + n),
                       (unsigned long long)px->length);
    if (px->memory) {
        memcpy(dst, px->memory + start, n);
        return true;
    }
    return read_at(idx, px->offset + start, n, dst, e);
}

static void swap16(uint8_t *p, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        uint8_t t = p[2 * i];
        p[2 * i] = p[2 * i + 1];
        p[2 * i + 1] = t;
    }
}

/* Little- or big-endian 16-bit samples to host order, in place. */
static void to_host16(uint8_t *p, size_t npix, bool big_endian)
{
    uint16_t probe = 1;
    bool host_little = *(uint8_t *)&probe == 1;
    if (host_little == big_endian)
        swap16(p, npix);
}

/* Legacy 32-bit label values narrowed to 16 bits; larger values are refused. */
static bool narrow32(const uint8_t *src, size_t npix, bool big_endian, uint16_t *dst, struct err *e)
{
    for (size_t i = 0; i < npix; i++) {
        const uint8_t *p = src + 4 * i;
        uint32_t v = big_endian ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
                                : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
        if (v > 65535)
            return err_set(e, ERR_UNSUPPORTED, "32-bit label value %u does not fit in 16 bits", v);
        dst[i] = (uint16_t)v;
    }
    return true;
}

static bool read_encapsulated(const struct seg_index *idx, uint32_t frame, const struct codec_frame *cf,
                              uint8_t *out, size_t out_len, struct err *e)
{
    const struct seg_pixel_layout *px = &idx->pixels;
    uint32_t first = px->frame_fragment[frame - 1], count = px->frame_fragments_count[frame - 1];
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++)
        total += px->fragments[first + i].length;
    /* A compressed frame far larger than its decoded size is not plausible. */
    if (total > out_len * 4 + 65536 || total > (idx->max_frame_bytes ? idx->max_frame_bytes : MAX_FRAME_BYTES))
        return err_set(e, ERR_LIMIT, "frame %u has %llu compressed bytes for %zu decoded bytes", frame,
                       (unsigned long long)total, out_len);
    uint8_t *in = malloc(total ? total : 1);
    if (!in)
        return err_set(e, ERR_NOMEM, "out of memory reading frame %u", frame);
    bool ok = true;
    size_t at = 0;
    for (uint32_t i = 0; ok && i < count; i++) {
        const struct seg_fragment *f = &px->fragments[first + i];
        ok = read_at(idx, f->offset, f->length, in + at, e);
        at += f->length;
    }
    if (ok) {
        switch (px->encoding) {
        case SEG_ENC_RLE: ok = codec_rle_decode(in, total, cf, out, out_len, e); break;
        case SEG_ENC_JPEGLS: ok = codec_jpegls_decode(in, total, cf, out, out_len, e); break;
        case SEG_ENC_J2K: ok = codec_j2k_decode(in, total, cf, out, out_len, e); break;
        case SEG_ENC_DEFLATE_FRAME: ok = codec_deflate_decode(in, total, cf, out, out_len, e); break;
        case SEG_ENC_ENCAPSULATED_NATIVE:
            /* Each frame is its native bytes (1-bit frames padded to a whole byte). */
            ok = total >= out_len ? (memcpy(out, in, out_len), true)
                                  : err_set(e, ERR_INVALID, "fragment holds %llu bytes of a %zu-byte frame",
                                            (unsigned long long)total, out_len);
            if (ok && cf->bits_allocated == 16)
                to_host16(out, out_len / 2, false);
            break;
        default: ok = err_set(e, ERR_INTERNAL, "no decoder for this encoding"); break;
        }
        if (!ok)
            err_prefix(e, "frame %u", frame);
    }
    free(in);
    return ok;
}

bool decoder_frame_read(const struct seg_index *idx, uint32_t frame, struct seg_pixels *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (frame < 1 || frame > idx->number_of_frames)
        return err_set(e, ERR_NOT_FOUND, "frame %u does not exist (the object has frames 1 to %u)", frame,
                       idx->number_of_frames);
    const uint64_t npix = (uint64_t)idx->rows * idx->columns;
    const unsigned stored_bits = idx->bits_allocated;
    const bool encapsulated = idx->pixels.encoding != SEG_ENC_NATIVE;
    if (encapsulated && stored_bits == 32)
        return err_set(e, ERR_UNSUPPORTED, "compressed 32-bit segmentations are not supported");

    out->rows = idx->rows;
    out->columns = idx->columns;
    out->bits = stored_bits == 1 ? 1 : stored_bits == 8 ? 8 : 16;
    size_t out_len = out->bits == 1 ? (size_t)((npix + 7) / 8) : (size_t)(npix * (out->bits / 8));
    const uint64_t max_bytes = idx->max_frame_bytes ? idx->max_frame_bytes : MAX_FRAME_BYTES;
    if (out_len > max_bytes)
        return err_set(e, ERR_LIMIT, "a decoded frame of %llu bytes exceeds the max-frame-bytes limit of %llu",
                       (unsigned long long)out_len, (unsigned long long)max_bytes);
    out->data = malloc(out_len ? out_len : 1);
    if (!out->data)
        return err_set(e, ERR_NOMEM, "out of memory for frame %u", frame);
    out->len = out_len;

    bool ok;
    const uint64_t k = frame - 1;
    if (encapsulated) {
        struct codec_frame cf = {idx->rows, idx->columns, stored_bits};
        ok = read_encapsulated(idx, frame, &cf, out->data, out_len, e);
    } else if (stored_bits == 1) {
        uint64_t bit = k * npix;
        uint64_t start = bit / 8, end = (bit + npix + 7) / 8;
        uint8_t *tmp = malloc((size_t)(end - start));
        ok = tmp && read_native(idx, start, (size_t)(end - start), tmp, frame, e);
        if (!tmp)
            err_set(e, ERR_NOMEM, "out of memory for frame %u", frame);
        if (ok)
            decoder_bits_extract(tmp, bit & 7, npix, out->data);
        free(tmp);
    } else if (stored_bits == 32) {
        uint8_t *tmp = malloc((size_t)(npix * 4));
        ok = tmp && read_native(idx, k * npix * 4, (size_t)(npix * 4), tmp, frame, e) &&
             narrow32(tmp, (size_t)npix, idx->pixels.big_endian, (uint16_t *)out->data, e);
        if (!tmp)
            err_set(e, ERR_NOMEM, "out of memory for frame %u", frame);
        free(tmp);
    } else {
        ok = read_native(idx, k * out_len, out_len, out->data, frame, e);
        if (ok && out->bits == 16)
            to_host16(out->data, (size_t)npix, idx->pixels.big_endian);
    }
    if (!ok)
        decoder_pixels_free(out);
    return ok;
}

void decoder_pixels_free(struct seg_pixels *px)
{
    if (!px)
        return;
    free(px->data);
    px->data = NULL;
    px->len = 0;
}
