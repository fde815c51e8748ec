/* A whole JPEG 2000 image (J2K codestream or JP2 file) decoded with OpenJPEG into
 * interleaved samples: what render/ needs for source images in the JPEG 2000
 * transfer syntaxes (DCMTK 3.6.7 has no JPEG 2000 codec). The same OpenJPEG reader
 * as the SEG frame codec (decoder/codec_j2k.c). Part of decoder/decoder.h. */
#ifndef SEGWEB_DECODER_J2K_IMAGE_H
#define SEGWEB_DECODER_J2K_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct decoder_j2k_image {
    uint32_t width, height, comps; /* comps 1 (grey) or 3 (colour) */
    uint32_t bytes;                /* 1 or 2 per sample (host order), by precision */
    void *data;                    /* interleaved samples, malloc'd; signed ones keep their bit pattern */
    size_t len;
};

/* Decodes in[0..n). Refuses images larger than max_pixels (ERR_LIMIT, from the main
 * header, before OpenJPEG allocates tiles), other component counts, sub-sampled
 * components or over 16-bit (8-bit for colour) samples (ERR_UNSUPPORTED), corrupt
 * data (ERR_INVALID). out->data is new (free) on success, NULL on failure. */
bool decoder_j2k_image_decode(const uint8_t *in, size_t n, uint64_t max_pixels,
                              struct decoder_j2k_image *out, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
