/* For the fuzz targets that take a whole SEG file (fuzz_decoder, fuzz_volume): the
 * input written to a file and indexed under small limits (the limit checks are fuzzed
 * too). A refusal must carry an error code and a message. */
#ifndef SEGWEB_TESTS_FUZZ_SEG_H
#define SEGWEB_TESTS_FUZZ_SEG_H

#include "decoder/decoder.h"
#include "fuzz_util.h"

/* The index of data[0..size), or NULL when the decoder refuses it; *path is the file
 * it was written to (fuzz_input_file(name, ...)). Aborts on a refusal without a reason. */
static inline struct seg_index *fuzz_seg_open(const char *name, const uint8_t *data, size_t size,
                                              uint64_t max_pixels, uint64_t max_frame_bytes, const char **path)
{
    *path = fuzz_input_file(name, data, size);
    struct err e = ERR_INIT;
    struct seg_limits lim = {.max_pixels_per_frame = max_pixels, .max_frames = 4096,
                             .max_frame_bytes = max_frame_bytes};
    struct seg_index *idx = decoder_seg_open(*path, &lim, &e);
    if (!idx && (e.code == ERR_OK || !e.msg[0]))
        abort(); /* a failure must say why */
    return idx;
}

#endif
