/* libFuzzer target: what `segweb create` and POST .../segmentations read from
 * untrusted bytes besides DICOM -- label volumes (writer/labels.c: NIfTI-1,
 * gzip'd NIfTI, NRRD raw/gzip) and dcmqi metadata JSON (writer/meta.c).
 * and PNG masks (writer/mask_png.c).
 * Input: one selector byte (0 mod 4: label volume, 2 mod 4: one PNG mask, odd:
 * metadata), then the bytes.
 * A volume that opens is read slice by slice to the end. Limits keep one input
 * under a few MiB so the fuzzer explores headers, not memory. */
#include <stdint.h>
#include <stdlib.h>

#include "writer/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct err e = ERR_INIT;
    if (data[0] & 1) {
        struct writer_meta *m = writer_meta_parse((const char *)data + 1, size - 1, &e);
        writer_meta_free(m);
        return 0;
    }
    struct writer_limits lim = {.max_pixels = 1u << 20, .max_label_bytes = 8u << 20};
    struct writer_labels *l;
    if (data[0] & 2) {
        struct writer_mask mask = {"1.2.3", data + 1, size - 1};
        l = writer_labels_from_masks(&mask, 1, "fuzz", &lim, &e);
    } else {
        l = writer_labels_open_mem(data + 1, size - 1, "fuzz", &lim, &e);
    }
    if (!l)
        return 0;
    float *vals = malloc((size_t)l->dim[0] * l->dim[1] * sizeof *vals);
    uint8_t *rows = malloc(l->dim[1]);
    for (uint32_t k = 0; vals && rows && k < l->dim[2]; k++)
        if (!labels_read_slice(l, vals, rows, &e))
            break;
    free(vals);
    free(rows);
    writer_labels_free(l);
    return 0;
}
