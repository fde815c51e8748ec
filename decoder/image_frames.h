/* Frames of any image (a CT, an MR, ... stored beside the SEGs), for WADO-RS
 * /frames on objects that are not Segmentations: each frame's bytes as Explicit
 * VR Little Endian carries them (Rows x Columns x SamplesPerPixel x
 * BitsAllocated/8, little endian). Compressed images are decoded by DCMTK's
 * registered decoders (JPEG, JPEG-LS, RLE). */
#ifndef SEGWEB_DECODER_IMAGE_FRAMES_H
#define SEGWEB_DECODER_IMAGE_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends frame `frame` (1-based) of the image at path to out; *n_frames gets
 * NumberOfFrames (1 when absent). ERR_NOT_FOUND for a frame out of range,
 * ERR_NOT_ACCEPTABLE for compressed pixel data no decoder knows (JPEG 2000),
 * ERR_INVALID for an image whose Pixel Data is shorter than its geometry says
 * or a compressed frame that does not decode. max_bytes bounds
 * the whole Pixel Data read (ERR_LIMIT beyond; 0: no bound). */
bool decoder_image_frame(const char *path, uint32_t frame, uint64_t max_bytes, struct buf *out,
                         uint32_t *n_frames, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
