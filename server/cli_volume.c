/* segweb volume / total: volumes and slide total pixel matrices on the command
 * line (volume/). Refusals exit 1 with one line `segweb: ...`; usage errors
 * exit 2, as the other commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "decoder/decoder.h"
#include "server/cli.h"
#include "volume/volume.h"

static int fail(const struct err *e)
{
    fprintf(stderr, "segweb: %s\n", e->msg);
    return 1;
}

static int usage(const char *msg)
{
    fprintf(stderr, "segweb: %s\n", msg);
    return 2;
}

static bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

#define VOLUME_USAGE                                                                               \
    "usage: segweb volume FILE (--segment N --out OUT | --labelmap --out OUT | --out-dir DIR "     \
    "[--format nifti|nrrd]) [--grid seg|source --source DIR] [--binary] [--threads N]  (OUT: "     \
    ".nii, .nii.gz or .nrrd)"

int cli_volume(int argc, char **argv)
{
    const char *file = NULL, *out = NULL, *out_dir = NULL, *grid = "seg", *source = NULL;
    const char *format = "nifti";
    long long segment = -1, threads = 0;
    bool labelmap = false, binary = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s\n", VOLUME_USAGE + strlen("usage: "));
            return 0;
        } else if (!strcmp(a, "--segment")) {
            if (!parse_int(v, 0, 65535, &segment))
                return usage("--segment needs a segment number (0..65535)");
            i++;
        } else if (!strcmp(a, "--out") && v) {
            out = v, i++;
        } else if (!strcmp(a, "--out-dir") && v) {
            out_dir = v, i++;
        } else if (!strcmp(a, "--format") && v) {
            format = v, i++;
        } else if (!strcmp(a, "--grid") && v) {
            grid = v, i++;
        } else if (!strcmp(a, "--source") && v) {
            source = v, i++;
        } else if (!strcmp(a, "--threads")) {
            if (!parse_int(v, 1, 256, &threads))
                return usage("--threads needs a number (1..256)");
            i++;
        } else if (!strcmp(a, "--labelmap")) {
            labelmap = true;
        } else if (!strcmp(a, "--binary")) {
            binary = true;
        } else if (a[0] == '-' || file) {
            return usage(VOLUME_USAGE);
        } else {
            file = a;
        }
    }
    int modes = (segment >= 0) + labelmap + (out_dir != NULL);
    if (!file || modes != 1 || (out_dir && out) || (!out_dir && !out))
        return usage(VOLUME_USAGE);
    if (strcmp(grid, "seg") && strcmp(grid, "source"))
        return usage("--grid is seg or source");
    if (!strcmp(grid, "source") != (source != NULL))
        return usage("--grid source needs --source DIR (and --source needs --grid source)");
    enum volume_format fmt = VOLUME_NII_GZ;
    if (out && !volume_format_from_name(out, &fmt))
        return usage("--out must end in .nii, .nii.gz or .nrrd");
    if (out_dir) {
        if (!strcmp(format, "nifti"))
            fmt = VOLUME_NII_GZ;
        else if (!strcmp(format, "nrrd"))
            fmt = VOLUME_NRRD;
        else
            return usage("--format is nifti or nrrd");
    }

    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(file, NULL, &e);
    if (!idx)
        return fail(&e);
    struct volume_grid g;
    bool ok = source ? volume_grid_from_source(idx, source, NULL, &g, &e)
                     : volume_grid_from_seg(idx, NULL, &g, &e);
    if (!ok) {
        decoder_seg_free(idx);
        return fail(&e);
    }
    uint64_t overlap = 0;
    if (out_dir) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned t = threads ? (unsigned)threads : n > 0 ? (unsigned)n : 1;
        ok = volume_write_dir(idx, &g, out_dir, fmt, binary, t, &overlap, &e);
    } else {
        struct volume_what w = {.segment = (int32_t)segment, .labelmap = labelmap, .binary = binary,
                                .format = fmt};
        ok = volume_write_file(idx, &g, &w, out, &overlap, &e);
    }
    if (ok && (labelmap || out_dir))
        fprintf(stderr, "segweb: labelmap: %llu overlapping voxels (the higher segment number kept)\n",
                (unsigned long long)overlap);
    volume_grid_free(&g);
    decoder_seg_free(idx);
    return ok ? 0 : fail(&e);
}

int cli_total(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    long long segment = -1, max_pixels = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--segment")) {
            if (!parse_int(v, 0, 65535, &segment))
                return usage("--segment needs a segment number (0..65535)");
            i++;
        } else if (!strcmp(a, "--out") && v) {
            out = v, i++;
        } else if (!strcmp(a, "--max-total-pixels")) {
            if (!parse_int(v, 1, (long long)1 << 40, &max_pixels))
                return usage("--max-total-pixels needs a positive number");
            i++;
        } else if (a[0] == '-' || file) {
            return usage("usage: segweb total FILE --segment N --out OUT.png [--max-total-pixels N]");
        } else {
            file = a;
        }
    }
    if (!file || !out || segment < 0)
        return usage("usage: segweb total FILE --segment N --out OUT.png [--max-total-pixels N]");
    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(file, NULL, &e);
    if (!idx)
        return fail(&e);
    struct buf png = {0};
    bool ok = volume_total_png(idx, (int32_t)segment, (uint64_t)max_pixels, &png, &e);
    if (ok) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(png.data, 1, png.len, f) != png.len) {
            err_set(&e, ERR_IO, "cannot write %s", out);
            ok = false;
        }
        if (f && fclose(f) != 0 && ok) {
            err_set(&e, ERR_IO, "cannot write %s", out);
            ok = false;
        }
    }
    buf_free(&png);
    decoder_seg_free(idx);
    return ok ? 0 : fail(&e);
}
