/* Reading one frame reads about one frame of Pixel Data, never the whole
 * value: native frames by byte range, encapsulated frames by fragment. */
#include <stdio.h>
#include <stdlib.h>

#include "decoder/frame.h"
#include "decoder/seg.h"
#include "tests/unit/check.h"

static void check_file(const char *dir, const char *name, uint32_t frame)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/seg/%s", dir, name);
    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(path, NULL, &e);
    CHECK(idx != NULL, "%s: %s", name, e.msg);
    if (!idx)
        return;
    uint64_t before = decoder_frame_bytes_read();
    struct seg_pixels px;
    CHECK(decoder_frame_read(idx, frame, &px, &e), "%s frame %u: %s", name, frame, e.msg);
    uint64_t read = decoder_frame_bytes_read() - before;
    uint64_t frame_bytes = ((uint64_t)idx->rows * idx->columns * (idx->bits_allocated ? idx->bits_allocated : 1) + 7) / 8;
    uint64_t bound;
    if (idx->pixels.encoding == SEG_ENC_NATIVE) {
        bound = frame_bytes + 1; /* a non-aligned frame straddles one more byte */
        CHECK(read >= frame_bytes, "%s frame %u: the native read covers the frame", name, frame);
    } else {
        uint32_t first = idx->pixels.frame_fragment[frame - 1];
        bound = 0;
        for (uint32_t i = 0; i < idx->pixels.frame_fragments_count[frame - 1]; i++)
            bound += idx->pixels.fragments[first + i].length;
    }
    CHECK(read <= bound && read > 0, "%s frame %u: read %llu bytes, bound %llu (one frame's bytes)", name, frame,
          (unsigned long long)read, (unsigned long long)bound);
    decoder_pixels_free(&px);
    decoder_seg_free(idx);
}

int main(void)
{
    const char *dir = check_corpus();
    check_file(dir, "dcmqi_liver.dcm", 2);
    check_file(dir, "pyd_liver_nonbyte_aligned.dcm", 2);
    check_file(dir, "pyd_liver_nonbyte_aligned.dcm", 3);
    check_file(dir, "pyd_liver_j2k.dcm", 2);
    check_file(dir, "pyd_liver_rle.dcm", 3);
    check_file(dir, "hd_sm_dots_tiled_full.dcm", 700);
    return check_done();
}
