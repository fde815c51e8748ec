/* decoder/-private: one frame of a compressed image that is not a Segmentation,
 * decompressed by DCMTK's registered decoders (JPEG, JPEG-LS, RLE; implemented
 * in transcode_dcmtk.cc, which registers them), for decoder_image_frame. */
#ifndef SEGWEB_DECODER_TRANSCODE_IMAGE_H
#define SEGWEB_DECODER_TRANSCODE_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends frame `frame` (1-based) of the encapsulated image at path to out, as
 * Explicit VR Little Endian carries it (little-endian samples, colour as the
 * decoder gives it). At most max_bytes (ERR_LIMIT; 0: no bound). ERR_NOT_ACCEPTABLE
 * when no decoder knows the syntax, ERR_INVALID for corrupt data, ERR_NOT_FOUND
 * for a frame out of range. */
bool transcode_image_frame(const char *path, uint32_t frame, uint64_t max_bytes, struct buf *out,
                           struct err *e);

#ifdef __cplusplus
}
#endif

#endif
