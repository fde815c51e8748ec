/* Decoders for one encapsulated frame. Each takes the frame's compressed bytes
 * (its fragments concatenated) and writes exactly `out_len` bytes of native
 * frame data into out:
 *   - bits_allocated 1: bit-packed LSB-first from bit 0 (ceil(rows*cols/8) bytes)
 *   - bits_allocated 8: one byte per pixel
 *   - bits_allocated 16: one uint16 per pixel, host order
 * They never write past out_len and fail with ERR_INVALID on corrupt or
 * short data, ERR_LIMIT if the stream declares a larger image than expected
 * (decompression bombs stop at out_len). */
#ifndef SEGWEB_DECODER_CODEC_H
#define SEGWEB_DECODER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct codec_frame {
    uint32_t rows, columns;
    uint16_t bits_allocated; /* 1, 8 or 16 */
};

/* Checks that out_len is the native size of frame f (bits 1: packed, 8, 16);
 * `name` starts the message. ERR_UNSUPPORTED for other bit depths. */
bool codec_check_output(const struct codec_frame *f, size_t out_len, const char *name, struct err *e);

bool codec_rle_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                      uint8_t *out, size_t out_len, struct err *e);
bool codec_jpegls_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                         uint8_t *out, size_t out_len, struct err *e);
bool codec_j2k_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                      uint8_t *out, size_t out_len, struct err *e);
bool codec_deflate_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                          uint8_t *out, size_t out_len, struct err *e);

#endif
