/* libFuzzer target: the decoder on whole files. The input is written to a
 * private temp file (the decoder reads by path and preads frames), indexed with
 * decoder_seg_open under tight limits, then every frame (up to MAX_FRAMES) is
 * read and encoded as gray and RGBA PNG, and the index is rendered as JSON.
 * Both JSON documents (the index, and the DICOM JSON of /metadata) must
 * always build and be valid UTF-8, whatever the object's character set and
 * bytes (a NULL from jansson used to become a 500 "out of memory"). A compressed
 * object is also transcoded to Explicit VR LE (every frame decoded into one native
 * value: decoder/transcode_dcmtk.cc, transcode_seg.c, the bulkdata route's path too);
 * failing is fine when it says why, crashing is not. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/index_json.h"
#include "common/utf8.h"
#include "decoder/dataset.h"
#include "decoder/frame.h"
#include "decoder/png_encode.h"
#include "decoder/seg.h"
#include "decoder/transcode.h"
#include "fuzz_seg.h"

#define MAX_FRAMES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    struct seg_index *idx = fuzz_seg_open("decoder", data, size, 1u << 20, 4u << 20, &path);
    if (!idx)
        return 0;
    json_t *doc = api_index_json(idx);
    if (!doc)
        abort();
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text || !utf8_valid(text, strlen(text)))
        abort();
    free(text);
    json_decref(doc);
    struct buf meta = {0};
    struct err me = ERR_INIT;
    if (dataset_json_file(path, "/frames", "/bulk", &meta, &me)) {
        if (!utf8_valid((const char *)meta.data, meta.len))
            abort();
        json_error_t je;
        /* \u0000 is valid JSON (a NUL inside a DICOM string is escaped) */
        json_t *m = json_loadb((const char *)meta.data, meta.len, JSON_ALLOW_NUL, &je);
        if (!m)
            abort(); /* DCMTK's writer must give JSON jansson accepts */
        json_decref(m);
    }
    buf_free(&meta);
    uint32_t n = idx->number_of_frames < MAX_FRAMES ? idx->number_of_frames : MAX_FRAMES;
    for (uint32_t k = 1; k <= n; k++) {
        struct seg_pixels px;
        struct err fe = ERR_INIT;
        if (!decoder_frame_read(idx, k, &px, &fe)) {
            if (fe.code == ERR_OK)
                abort();
            continue;
        }
        if (px.rows != idx->rows || px.columns != idx->columns)
            abort();
        struct buf png = {0};
        decoder_png_gray(&px, &png, &fe);
        buf_free(&png);
        static const uint8_t lut[3][4] = {{0, 0, 0, 0}, {255, 0, 0, 255}, {0, 255, 0, 128}};
        decoder_png_rgba(&px, lut, 3, &png, &fe);
        buf_free(&png);
        decoder_pixels_free(&px);
    }
    bool compressed = idx->pixels.encoding != SEG_ENC_NATIVE;
    decoder_seg_free(idx);
    if (compressed) { /* the new paths (a native object is DCMTK's own re-encoding) */
        char out[4200];
        snprintf(out, sizeof out, "%s.le", path);
        struct err te = ERR_INIT;
        if (!decoder_transcode(path, DECODER_TS_EXPLICIT_LE, out, 16u << 20, &te) && te.code == ERR_OK)
            abort();
        unlink(out);
    }
    return 0;
}
