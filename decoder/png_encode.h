/* In-memory PNG encoding of one frame (libpng; setjmp stays inside png_encode.c). */
#ifndef SEGWEB_DECODER_PNG_ENCODE_H
#define SEGWEB_DECODER_PNG_ENCODE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/frame.h"

/* Grayscale of the stored values: bits 1 -> 1-bit PNG (0/1), 8 -> 8-bit, 16 -> 16-bit.
 * Appends the PNG to out. */
bool decoder_png_gray(const struct seg_pixels *px, struct buf *out, struct err *e);

/* RGBA: pixel value v -> lut[v] (R, G, B, A); values >= lut_len are transparent.
 * For bits 1 the values are 0/1. Appends the PNG to out. */
bool decoder_png_rgba(const struct seg_pixels *px, const uint8_t (*lut)[4], size_t lut_len,
                      struct buf *out, struct err *e);

/* RGB, 8 bits per sample: rows*columns*3 bytes, row-major, R G B interleaved
 * (render/'s burned-in source images). Appends the PNG to out. */
bool decoder_png_rgb(const uint8_t *rgb, uint32_t rows, uint32_t columns, struct buf *out,
                     struct err *e);

#endif
