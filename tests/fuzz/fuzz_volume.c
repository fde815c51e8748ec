/* libFuzzer target: the volume path on whole files. The input is indexed like
 * fuzz_decoder (tight limits); then the SEG's grid is built (small voxel limit),
 * the labelmap is streamed as .nii.gz and the first segment as .nrrd and .nii
 * (output discarded), the measurements are taken, meta.json is made, and a
 * slide segment's total pixel matrix is encoded under a small pixel limit. A
 * refusal must carry an error code and a message. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_seg.h"
#include "volume/volume.h"

static bool discard(void *arg, const uint8_t *data, size_t len, struct err *e)
{
    (void)arg, (void)data, (void)len, (void)e;
    return true;
}

static void drain(const struct seg_index *idx, const struct volume_grid *g, const struct volume_what *w)
{
    struct err e = ERR_INIT;
    struct volume_stream *s = volume_stream_new(idx, g, w, &e);
    bool ok = s && volume_stream_each(s, discard, NULL, &e);
    if (!ok && (e.code == ERR_OK || !e.msg[0]))
        abort(); /* a refusal must say why */
    volume_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    struct seg_index *idx = fuzz_seg_open("volume", data, size, 1u << 18, 1u << 20, &path);
    if (!idx)
        return 0;
    struct err e = ERR_INIT;
    struct buf b = {0};
    volume_meta_json(idx, &b, &e);
    buf_free(&b);

    struct volume_limits vl = {.max_voxels = 1u << 21};
    struct volume_grid g;
    struct err ge = ERR_INIT;
    if (volume_grid_from_seg(idx, &vl, &g, &ge)) {
        struct volume_what lw = {.labelmap = true, .format = VOLUME_NII_GZ};
        drain(idx, &g, &lw);
        if (idx->n_segments) {
            struct volume_what sw = {.segment = idx->segments[0].number, .format = VOLUME_NRRD};
            drain(idx, &g, &sw);
            sw.format = VOLUME_NII;
            sw.binary = true;
            drain(idx, &g, &sw);
        }
        uint64_t ov;
        struct err oe = ERR_INIT;
        volume_labelmap_overlap(idx, &g, &ov, &oe);
        struct err me = ERR_INIT;
        free(volume_measure_segments(idx, &g, -1, &me));
        volume_grid_free(&g);
    } else {
        if (ge.code == ERR_OK || !ge.msg[0])
            abort();
        struct err me = ERR_INIT;
        free(volume_measure_segments(idx, NULL, -1, &me));
        if (idx->n_segments) {
            struct err te = ERR_INIT;
            volume_total_png(idx, idx->segments[0].number, 1u << 16, &b, &te);
            buf_free(&b);
        }
    }
    decoder_seg_free(idx);
    return 0;
}
