/* render/-private: one JPEG 2000 codestream (J2K or JP2) decoded with OpenJPEG,
 * for source images in the JPEG 2000 transfer syntaxes (DCMTK 3.6.7 has no JPEG
 * 2000 codec). Used by render/source_dcmtk.cc only. */
#ifndef SEGWEB_RENDER_J2K_H
#define SEGWEB_RENDER_J2K_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct render_j2k {
    uint32_t width, height, comps; /* comps 1 (grey) or 3 (colour) */
    uint32_t bytes;                /* 1 or 2 per sample (host order), by precision */
    void *data;                    /* interleaved samples, malloc'd */
    size_t len;
};

/* Decodes in[0..n). Refuses images larger than max_pixels (ERR_LIMIT), other
 * component counts or sub-sampled components (ERR_UNSUPPORTED), corrupt data
 * (ERR_INVALID). out->data is new on success. */
bool render_j2k_decode(const uint8_t *in, size_t n, uint64_t max_pixels, struct render_j2k *out,
                       struct err *e);

#ifdef __cplusplus
}
#endif

#endif
