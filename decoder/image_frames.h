/* Frames of any image (a CT, an MR, ... stored beside the SEGs), for WADO-RS
 * /frames on objects that are not Segmentations: each frame's bytes as Explicit
 * VR Little Endian carries them (Rows x Columns x SamplesPerPixel x
 * BitsAllocated/8, little endian). Compressed images are decoded by segweb's own
 * codecs (JPEG-LS through the system CharLS, one sample per pixel; JPEG 2000
 * through OpenJPEG, grey or RGB, signed too) or DCMTK's registered decoders
 * (JPEG, RLE).
 * DCMTK's JPEG-LS codec is never used: its bundled CharLS exports the same
 * symbol names as the system one with another ABI, and both in one process
 * crashed. */
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

/* Whether segweb's own codecs decode this transfer syntax (JPEG-LS lossless and
 * near-lossless, JPEG 2000 lossless and lossy). */
bool decoder_ts_own_codec(const char *ts);

/* One compressed frame (its fragments concatenated) of an image with one sample
 * per pixel, decoded by segweb's codec for ts into out: rows*columns samples of
 * bits_allocated 8 (bytes) or 16 (host-order uint16); out_len must be exactly
 * that. ERR_UNSUPPORTED for another syntax or shape (colour, signed JPEG 2000),
 * ERR_INVALID for corrupt data, ERR_LIMIT for a stream larger than the frame.
 * For render/ (source images) and decoder_transcode. */
bool decoder_frame_decode(const char *ts, const uint8_t *in, size_t in_len, uint32_t rows, uint32_t columns,
                          uint16_t bits_allocated, uint8_t *out, size_t out_len, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
