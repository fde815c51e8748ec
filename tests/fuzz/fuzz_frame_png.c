/* libFuzzer target: frame extraction and PNG encoding on random geometry, and
 * the frame codecs (RLE, JPEG-LS, JPEG 2000, deflate) on random compressed
 * bytes. Input layout: 8 header bytes, then payload.
 *   h[0..1] rows-1 (mod 300), h[2..3] columns-1 (mod 300), h[4] bits selector,
 *   h[5] bit offset (0..7) / codec selector, h[6..7] frame index (mod 4).
 * Checks that decoder_bits_extract leaves pad bits zero and that the codecs
 * never write outside out_len (ASan) and fail with a message. JPEG 2000 bytes also
 * go through the whole-image reader render/ uses (decoder_j2k_image_decode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/codec.h"
#include "decoder/frame.h"
#include "decoder/j2k_image.h"
#include "decoder/png_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint32_t rows = (uint32_t)((data[0] | data[1] << 8) % 300) + 1;
    uint32_t cols = (uint32_t)((data[2] | data[3] << 8) % 300) + 1;
    static const uint8_t BITS[4] = {1, 8, 16, 1};
    uint8_t bits = BITS[data[4] & 3];
    unsigned bit_off = data[5] & 7;
    unsigned codec = (data[5] >> 3) % 5; /* 0 none, 1 rle, 2 jpeg-ls, 3 j2k, 4 deflate */
    uint32_t fidx = (uint32_t)((data[6] | data[7] << 8) % 4);
    const uint8_t *p = data + 8;
    size_t n = size - 8;
    uint64_t npix = (uint64_t)rows * cols;
    size_t out_len = bits == 1 ? (size_t)((npix + 7) / 8) : (size_t)(npix * (bits / 8));

    struct seg_pixels px = {rows, cols, bits, malloc(out_len), out_len};
    if (!px.data)
        return 0;
    struct err e = ERR_INIT;
    if (codec == 0) {
        if (bits == 1) {
            /* frame fidx of a bit-packed multi-frame value, starting mid-byte */
            uint64_t bit = fidx * npix + bit_off;
            size_t need = (size_t)((bit + npix + 7) / 8);
            uint8_t *src = calloc(need, 1);
            if (!src) {
                free(px.data);
                return 0;
            }
            memcpy(src, p, n < need ? n : need);
            memset(px.data, 0xA5, out_len);
            decoder_bits_extract(src, bit, npix, px.data);
            unsigned pad = (unsigned)(out_len * 8 - npix);
            if (pad && (px.data[out_len - 1] >> (8 - pad)) != 0)
                abort(); /* trailing pad bits must be zero */
            free(src);
        } else {
            memset(px.data, 0, out_len);
            memcpy(px.data, p, n < out_len ? n : out_len);
        }
    } else {
        struct codec_frame cf = {rows, cols, bits};
        if (codec == 3) {
            struct decoder_j2k_image img;
            struct err ie = ERR_INIT;
            if (decoder_j2k_image_decode(p, n, 1u << 18, &img, &ie)) {
                if (img.len != (size_t)img.width * img.height * img.comps * img.bytes)
                    abort();
                free(img.data);
            } else if (ie.code == ERR_OK || !ie.msg[0] || img.data) {
                abort();
            }
        }
        bool ok;
        switch (codec) {
        case 1: ok = codec_rle_decode(p, n, &cf, px.data, out_len, &e); break;
        case 2: ok = codec_jpegls_decode(p, n, &cf, px.data, out_len, &e); break;
        case 3: ok = codec_j2k_decode(p, n, &cf, px.data, out_len, &e); break;
        default: ok = codec_deflate_decode(p, n, &cf, px.data, out_len, &e); break;
        }
        if (!ok) {
            if (e.code == ERR_OK || !e.msg[0])
                abort();
            free(px.data);
            return 0;
        }
    }
    struct buf png = {0};
    e = (struct err)ERR_INIT;
    if (!decoder_png_gray(&px, &png, &e) || png.len < 8 || memcmp(png.data, "\x89PNG\r\n\x1a\n", 8))
        abort();
    buf_free(&png);
    /* Short LUT on purpose: values past it must come out transparent, not read out of bounds. */
    uint8_t lut_len = (uint8_t)(size > 8 ? data[8] % 5 : 2);
    uint8_t (*lut)[4] = malloc((lut_len ? lut_len : 1) * sizeof *lut);
    for (unsigned i = 0; i < lut_len; i++)
        memset(lut[i], (int)(i * 60), 4);
    if (!decoder_png_rgba(&px, (const uint8_t(*)[4])lut, lut_len, &png, &e))
        abort();
    buf_free(&png);
    free(lut);
    free(px.data);
    return 0;
}
