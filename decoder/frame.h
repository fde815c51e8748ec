/* One frame's stored values, read on demand from the file (or memory) using the
 * index's pixel layout: only that frame's bytes or fragments are read. */
#ifndef SEGWEB_DECODER_FRAME_H
#define SEGWEB_DECODER_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "decoder/seg.h"

/* bits == 1: data is bit-packed, LSB first, starting at bit 0, ceil(rows*cols/8) bytes
 *            (the re-aligned form DICOMweb /frames returns);
 * bits == 8: one byte per pixel, row-major;
 * bits == 16: one uint16_t per pixel in host order, row-major. */
struct seg_pixels {
    uint32_t rows, columns;
    uint8_t bits;
    uint8_t *data; /* owned, malloc'd */
    size_t len;
};

/* Reads and decodes frame `frame` (1-based). ERR_NOT_FOUND when out of range,
 * ERR_INVALID when the stored data is short or corrupt, ERR_LIMIT when a frame
 * would decode to more than the limit. On success out->data is new. */
bool decoder_frame_read(const struct seg_index *idx, uint32_t frame, struct seg_pixels *out, struct err *e);

void decoder_pixels_free(struct seg_pixels *px);

/* Pixel Data bytes read from files by frame readers since start-up, all
 * threads together (for metrics and for tests that check reads stay lazy). */
uint64_t decoder_frame_bytes_read(void);

/* Copies npix bits starting at bit `bit_offset` of src (LSB-first packing) into dst
 * starting at bit 0. dst must hold ceil(npix/8) bytes; its trailing pad bits are 0.
 * src must hold ceil((bit_offset+npix)/8) bytes. */
void decoder_bits_extract(const uint8_t *src, uint64_t bit_offset, uint64_t npix, uint8_t *dst);

/* The inverse: writes the npix bits of src (from bit 0) into dst starting at bit
 * `bit_offset`, leaving every other bit of dst as it was (frames packed back to
 * back, as native BINARY Pixel Data wants them). dst must hold
 * ceil((bit_offset+npix)/8) bytes; src ceil(npix/8). */
void decoder_bits_insert(uint8_t *dst, uint64_t bit_offset, const uint8_t *src, uint64_t npix);

#endif
