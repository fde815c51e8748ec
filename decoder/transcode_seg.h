/* decoder/-private: the native Pixel Data value of a compressed Segmentation, for
 * decoder_transcode (transcode_dcmtk.cc), which puts it in place of the
 * encapsulated one. The frames are decoded with segweb's own codecs, the same
 * decoder_frame_read the SEG routes use (RLE, JPEG-LS, JPEG 2000, deflate), so a
 * SEG that /frames can serve can also be retrieved as Explicit VR Little Endian,
 * whatever DCMTK can decode. */
#ifndef SEGWEB_DECODER_TRANSCODE_SEG_H
#define SEGWEB_DECODER_TRANSCODE_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct transcode_native {
    uint16_t bits; /* 1, 8 or 16: BitsAllocated of the value */
    uint8_t *data; /* malloc'd; bits 16: uint16_t values in host order */
    size_t len;    /* bytes: 1-bit frames packed back to back (PS3.5 8.1.1),
                      ceil(frames*rows*columns/8); else frames*rows*columns*bits/8 */
};

/* Whether sop_class is one of the Segmentation SOP classes segweb decodes. */
bool transcode_is_seg(const char *sop_class);

/* Decodes every frame of the SEG at path into out (its data is new). At most
 * max_bytes of value (ERR_LIMIT beyond; 0: no bound). Fails as decoder_seg_open
 * and decoder_frame_read do: ERR_INVALID for a corrupt frame (the message names
 * it), ERR_UNSUPPORTED for what the decoder refuses. */
bool transcode_seg_native(const char *path, uint64_t max_bytes, struct transcode_native *out, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
