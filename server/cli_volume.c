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

/* The command line of `segweb volume`. */
struct volume_args {
    const char *file, *out, *out_dir, *grid, *source, *format;
    long long segment, threads;
    bool labelmap, binary;
    enum volume_format fmt;
};

/* The options' combinations and the output format. Returns -1 to go on, else 2. */
static int volume_args_check(struct volume_args *a)
{
    int modes = (a->segment >= 0) + a->labelmap + (a->out_dir != NULL);
    if (!a->file || modes != 1 || (a->out_dir && a->out) || (!a->out_dir && !a->out))
        return cli_usage(VOLUME_USAGE);
    if (strcmp(a->grid, "seg") && strcmp(a->grid, "source"))
        return cli_usage("--grid is seg or source");
    if (!strcmp(a->grid, "source") != (a->source != NULL))
        return cli_usage("--grid source needs --source DIR (and --source needs --grid source)");
    a->fmt = VOLUME_NII_GZ;
    if (a->out && !volume_format_from_name(a->out, &a->fmt))
        return cli_usage("--out must end in .nii, .nii.gz or .nrrd");
    if (a->out_dir) {
        if (!strcmp(a->format, "nifti"))
            a->fmt = VOLUME_NII_GZ;
        else if (!strcmp(a->format, "nrrd"))
            a->fmt = VOLUME_NRRD;
        else
            return cli_usage("--format is nifti or nrrd");
    }
    return -1;
}

/* argv into a. Returns -1 to go on, else the exit status (help, usage). */
static int volume_args_parse(int argc, char **argv, struct volume_args *a)
{
    *a = (struct volume_args){.grid = "seg", .format = "nifti", .segment = -1};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **text = !v                         ? NULL
                            : !strcmp(o, "--out")      ? &a->out
                            : !strcmp(o, "--out-dir")  ? &a->out_dir
                            : !strcmp(o, "--format")   ? &a->format
                            : !strcmp(o, "--grid")     ? &a->grid
                            : !strcmp(o, "--source")   ? &a->source
                                                       : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            printf("%s\n", VOLUME_USAGE);
            return 0;
        } else if (!strcmp(o, "--segment")) {
            if (!parse_int(v, 0, 65535, &a->segment))
                return cli_usage("--segment needs a segment number (0..65535)");
            i++;
        } else if (text) {
            *text = v, i++;
        } else if (!strcmp(o, "--threads")) {
            if (!parse_int(v, 1, 256, &a->threads))
                return cli_usage("--threads needs a number (1..256)");
            i++;
        } else if (!strcmp(o, "--labelmap")) {
            a->labelmap = true;
        } else if (!strcmp(o, "--binary")) {
            a->binary = true;
        } else if (o[0] == '-' || a->file) {
            return cli_usage(VOLUME_USAGE);
        } else {
            a->file = o;
        }
    }
    return volume_args_check(a);
}

int cli_volume(int argc, char **argv)
{
    struct volume_args a;
    int rc = volume_args_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(a.file, NULL, &e);
    if (!idx)
        return cli_fail(&e);
    struct volume_grid g;
    bool ok = a.source ? volume_grid_from_source(idx, a.source, NULL, &g, &e)
                       : volume_grid_from_seg(idx, NULL, &g, &e);
    if (!ok) {
        decoder_seg_free(idx);
        return cli_fail(&e);
    }
    uint64_t overlap = 0;
    if (a.out_dir) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned t = a.threads ? (unsigned)a.threads : n > 0 ? (unsigned)n : 1;
        ok = volume_write_dir(idx, &g, a.out_dir, a.fmt, a.binary, t, &overlap, &e);
    } else {
        struct volume_what w = {.segment = (int32_t)a.segment, .labelmap = a.labelmap, .binary = a.binary,
                                .format = a.fmt};
        ok = volume_write_file(idx, &g, &w, a.out, &overlap, &e);
    }
    if (ok && (a.labelmap || a.out_dir))
        fprintf(stderr, "segweb: labelmap: %llu overlapping voxels (the higher segment number kept)\n",
                (unsigned long long)overlap);
    volume_grid_free(&g);
    decoder_seg_free(idx);
    return ok ? 0 : cli_fail(&e);
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
                return cli_usage("--segment needs a segment number (0..65535)");
            i++;
        } else if (!strcmp(a, "--out") && v) {
            out = v, i++;
        } else if (!strcmp(a, "--max-total-pixels")) {
            if (!parse_int(v, 1, (long long)1 << 40, &max_pixels))
                return cli_usage("--max-total-pixels needs a positive number");
            i++;
        } else if (a[0] == '-' || file) {
            return cli_usage("usage: segweb total FILE --segment N --out OUT.png [--max-total-pixels N]");
        } else {
            file = a;
        }
    }
    if (!file || !out || segment < 0)
        return cli_usage("usage: segweb total FILE --segment N --out OUT.png [--max-total-pixels N]");
    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(file, NULL, &e);
    if (!idx)
        return cli_fail(&e);
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
    return ok ? 0 : cli_fail(&e);
}
