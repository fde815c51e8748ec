/* The grid of a source series (--grid source): the images' positions give the
 * slices (sorted along the normal, regular spacing, extent of the series), and
 * the SEG's frames are placed on the image they derive from, else by position
 * within half a slice. The in-plane grid must be the series' own: same rows,
 * columns, pixel spacing, orientation and in-plane origin; nothing is resampled. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"
#include "volume/internal.h"

struct src {
    char uid[65];
    double d;  /* position along the normal */
    double u, v; /* in-plane */
    uint32_t k;
};

static int by_d(const void *a, const void *b)
{
    double x = ((const struct src *)a)->d, y = ((const struct src *)b)->d;
    return x < y ? -1 : x > y;
}

static int by_uid(const void *a, const void *b)
{
    return strcmp(((const struct src *)a)->uid, ((const struct src *)b)->uid);
}

static double dot(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

static bool close_n(const double *a, const double *b, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol)
            return false;
    return true;
}

bool volume_grid_from_source(const struct seg_index *idx, const char *dir,
                             const struct volume_limits *lim, struct volume_grid *g, struct err *e)
{
    memset(g, 0, sizeof *g);
    struct src *srcs = NULL;
    size_t n = 0, cap = 0;
    DIR *dh = NULL;
    struct decoder_image_geometry first = {0};
    if (!grid_no_patient_geometry(idx, e) || !grid_axes(idx, g, e))
        goto fail;
    dh = opendir(dir);
    if (!dh) {
        err_set(e, ERR_NOT_FOUND, "cannot read the source directory %s", dir);
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct decoder_image_geometry im;
        struct err ie = ERR_INIT;
        if (!decoder_image_geometry(path, &im, &ie) || !im.has_position || !im.has_orientation)
            continue; /* not an image with patient geometry */
        if (!n)
            first = im;
        else if (!close_n(im.orientation, first.orientation, 6, 1e-4) || im.rows != first.rows ||
                 im.columns != first.columns ||
                 (im.has_pixel_spacing && !close_n(im.pixel_spacing, first.pixel_spacing, 2, 1e-4))) {
            err_set(e, ERR_INVALID,
                    "the source series is not a volume: %s differs from the other images in "
                    "orientation, size or pixel spacing", de->d_name);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct src *ns = realloc(srcs, cap * sizeof *srcs);
            if (!ns) {
                err_set(e, ERR_NOMEM, "out of memory");
                goto fail;
            }
            srcs = ns;
        }
        struct src *s = &srcs[n++];
        snprintf(s->uid, sizeof s->uid, "%s", im.sop_instance_uid);
        s->d = dot(im.position, g->axes[2]);
        s->u = dot(im.position, g->axes[0]);
        s->v = dot(im.position, g->axes[1]);
    }
    if (!n) {
        err_set(e, ERR_NOT_FOUND, "no image with patient geometry in the source directory %s", dir);
        goto fail;
    }
    /* The SEG's in-plane grid must be the series'. */
    if (!close_n(first.orientation, idx->orientation, 6, 1e-3) || first.rows != idx->rows ||
        first.columns != idx->columns ||
        (first.has_pixel_spacing && !close_n(first.pixel_spacing, idx->pixel_spacing, 2,
                                             1e-3 * fmax(idx->pixel_spacing[0], 1e-3)))) {
        err_set(e, ERR_INVALID,
                "the SEG's in-plane grid (%ux%u, spacing %g\\%g) differs from the source series' "
                "(%ux%u, spacing %g\\%g) or its orientation does: not resampled", idx->columns,
                idx->rows, idx->pixel_spacing[0], idx->pixel_spacing[1], first.columns, first.rows,
                first.pixel_spacing[0], first.pixel_spacing[1]);
        goto fail;
    }
    double tol_in = fmax(0.01, 0.1 * fmin(g->spacing[0], g->spacing[1]));
    qsort(srcs, n, sizeof *srcs, by_d);
    for (size_t i = 1; i < n; i++)
        if (fabs(srcs[i].u - srcs[0].u) > tol_in || fabs(srcs[i].v - srcs[0].v) > tol_in) {
            err_set(e, ERR_INVALID, "the source series is not a volume: image %s is shifted in-plane",
                    srcs[i].uid);
            goto fail;
        }
    double dmin = srcs[0].d, dmax = srcs[n - 1].d, gap_min = INFINITY;
    for (size_t i = 1; i < n; i++) {
        double gap = srcs[i].d - srcs[i - 1].d;
        if (gap > 0.01 && gap < gap_min)
            gap_min = gap;
    }
    double s = 1.0;
    if (isfinite(gap_min)) {
        double steps = round((dmax - dmin) / gap_min);
        if (steps + 1 > 32767) {
            err_set(e, ERR_LIMIT, "the source series would have %.0f slices", steps + 1);
            goto fail;
        }
        g->nk = (uint32_t)steps + 1;
        s = (dmax - dmin) / steps;
    } else {
        g->nk = 1;
        s = idx->has_spacing_between_slices && idx->spacing_between_slices > 0
                ? idx->spacing_between_slices
                : idx->has_slice_thickness && idx->slice_thickness > 0 ? idx->slice_thickness : 1.0;
    }
    g->spacing[2] = s;
    for (size_t i = 0; i < n; i++) {
        double t = g->nk > 1 ? (srcs[i].d - dmin) / s : 0, k = round(t);
        if (fabs(t - k) > 0.01) {
            err_set(e, ERR_INVALID,
                    "the source series is not a volume: image %s is off the regular %.6g mm slice "
                    "spacing by more than 1%%", srcs[i].uid, s);
            goto fail;
        }
        srcs[i].k = (uint32_t)k;
    }
    /* origin: the position of the first slice's image */
    {
        double o[3];
        for (int x = 0; x < 3; x++)
            o[x] = srcs[0].u * g->axes[0][x] + srcs[0].v * g->axes[1][x] + srcs[0].d * g->axes[2][x];
        memcpy(g->origin, o, sizeof o);
    }
    qsort(srcs, n, sizeof *srcs, by_uid);

    g->frame_slice = malloc((size_t)(g->n_frames ? g->n_frames : 1) * sizeof *g->frame_slice);
    if (!g->frame_slice) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t f = 0; f < g->n_frames; f++) {
        const struct seg_frame *fr = &idx->frames[f];
        uint32_t k = VOLUME_NO_SLICE;
        for (uint32_t r = 0; r < fr->refs_count && k == VOLUME_NO_SLICE; r++) {
            struct src key;
            snprintf(key.uid, sizeof key.uid, "%s", idx->refs[fr->refs_first + r].sop_instance_uid);
            const struct src *hit = bsearch(&key, srcs, n, sizeof *srcs, by_uid);
            if (hit)
                k = hit->k;
        }
        double u = dot(fr->position, g->axes[0]), v = dot(fr->position, g->axes[1]);
        if (fabs(u - srcs[0].u) > tol_in || fabs(v - srcs[0].v) > tol_in) {
            err_set(e, ERR_INVALID,
                    "frame %u is shifted in-plane by (%.3g, %.3g) mm from the source series: not "
                    "resampled", f + 1, u - srcs[0].u, v - srcs[0].v);
            goto fail;
        }
        if (k == VOLUME_NO_SLICE) {
            double t = g->nk > 1 ? (dot(fr->position, g->axes[2]) - dmin) / s : 0;
            double kr = round(t);
            if (kr < 0 || kr >= g->nk || fabs(t - kr) > 0.5 ||
                (g->nk == 1 && fabs(dot(fr->position, g->axes[2]) - dmin) > s / 2)) {
                err_set(e, ERR_INVALID,
                        "frame %u falls on no slice of the source series (%.6g mm along the normal, "
                        "series from %.6g to %.6g mm)", f + 1, dot(fr->position, g->axes[2]), dmin, dmax);
                goto fail;
            }
            k = (uint32_t)kr;
        }
        g->frame_slice[f] = k;
    }
    if (!grid_check_limits(g, lim, e) || !grid_index_slices(idx, g, e))
        goto fail;
    closedir(dh);
    free(srcs);
    return true;
fail:
    if (dh)
        closedir(dh);
    free(srcs);
    volume_grid_free(g);
    return false;
}
