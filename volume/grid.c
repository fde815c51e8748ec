/* The slice grid of a SEG from its own geometry.
 *
 * Every frame must carry a patient position; one orientation and one pixel
 * spacing hold for all frames (the decoder records the first frame that
 * disagrees). Positions are projected on the normal; distinct projections
 * (within 0.01 mm) are slices. The smallest gap between them estimates the
 * spacing, the span divided by the rounded number of steps refines it, and
 * every frame must then lie within 1% of a spacing from its grid plane. Gaps
 * that are whole multiples of the spacing are slices the SEG left out (zero). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "volume/internal.h"

#define NIFTI_MAX_DIM 32767u

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_frame_in_slice(const void *a, const void *b, void *arg)
{
    const struct seg_index *idx = arg;
    uint32_t fa = *(const uint32_t *)a, fb = *(const uint32_t *)b;
    int32_t sa = idx->frames[fa - 1].segment_number, sb = idx->frames[fb - 1].segment_number;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    return fa < fb ? -1 : fa > fb;
}

bool grid_index_slices(const struct seg_index *idx, struct volume_grid *g, struct err *e)
{
    g->slice_start = calloc((size_t)g->nk + 1, sizeof *g->slice_start);
    size_t placed = 0;
    for (uint32_t f = 0; f < g->n_frames; f++)
        placed += g->frame_slice[f] != VOLUME_NO_SLICE;
    g->slice_frames = malloc((placed ? placed : 1) * sizeof *g->slice_frames);
    if (!g->slice_start || !g->slice_frames)
        return err_set(e, ERR_NOMEM, "out of memory for the slice index");
    for (uint32_t f = 0; f < g->n_frames; f++)
        if (g->frame_slice[f] != VOLUME_NO_SLICE)
            g->slice_start[g->frame_slice[f] + 1]++;
    for (uint32_t k = 0; k < g->nk; k++)
        g->slice_start[k + 1] += g->slice_start[k];
    uint32_t *fill = malloc(((size_t)g->nk + 1) * sizeof *fill);
    if (!fill)
        return err_set(e, ERR_NOMEM, "out of memory for the slice index");
    memcpy(fill, g->slice_start, ((size_t)g->nk + 1) * sizeof *fill);
    for (uint32_t f = 0; f < g->n_frames; f++)
        if (g->frame_slice[f] != VOLUME_NO_SLICE)
            g->slice_frames[fill[g->frame_slice[f]]++] = f + 1;
    free(fill);
    for (uint32_t k = 0; k < g->nk; k++) {
        uint32_t n = g->slice_start[k + 1] - g->slice_start[k];
        if (n > 1)
            qsort_r(g->slice_frames + g->slice_start[k], n, sizeof(uint32_t), cmp_frame_in_slice,
                    (void *)idx);
    }
    return true;
}

static double dot(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

bool grid_axes(const struct seg_index *idx, struct volume_grid *g, struct err *e)
{
    if (!idx->has_orientation)
        return err_set(e, ERR_INVALID,
                       "geometry is not a volume: no Image Orientation (Patient) in the SEG");
    if (!idx->has_pixel_spacing)
        return err_set(e, ERR_INVALID, "geometry is not a volume: no Pixel Spacing in the SEG");
    if (idx->orientation_differs_frame)
        return err_set(e, ERR_INVALID,
                       "geometry is not a volume: frames have more than one orientation (frame %u differs "
                       "from frame 1)", idx->orientation_differs_frame);
    if (idx->pixel_spacing_differs_frame)
        return err_set(e, ERR_INVALID,
                       "geometry is not a volume: frames have more than one pixel spacing (frame %u "
                       "differs from frame 1)", idx->pixel_spacing_differs_frame);
    double *r = g->axes[0], *c = g->axes[1], *n = g->axes[2];
    memcpy(r, idx->orientation, 3 * sizeof(double));
    memcpy(c, idx->orientation + 3, 3 * sizeof(double));
    double lr = sqrt(dot(r, r)), lc = sqrt(dot(c, c));
    if (!(lr > 0.5 && lc > 0.5) || !isfinite(lr) || !isfinite(lc))
        return err_set(e, ERR_INVALID, "geometry is not a volume: Image Orientation (Patient) is not "
                                       "two direction cosines");
    for (int i = 0; i < 3; i++) {
        r[i] /= lr;
        c[i] /= lc;
    }
    if (fabs(dot(r, c)) > 1e-3)
        return err_set(e, ERR_INVALID, "geometry is not a volume: the row and column directions are "
                                       "not perpendicular");
    n[0] = r[1] * c[2] - r[2] * c[1];
    n[1] = r[2] * c[0] - r[0] * c[2];
    n[2] = r[0] * c[1] - r[1] * c[0];
    /* PixelSpacing is (row spacing, column spacing): j then i. */
    g->spacing[0] = idx->pixel_spacing[1];
    g->spacing[1] = idx->pixel_spacing[0];
    if (!(g->spacing[0] > 0 && g->spacing[1] > 0) || !isfinite(g->spacing[0]) ||
        !isfinite(g->spacing[1]))
        return err_set(e, ERR_INVALID, "geometry is not a volume: Pixel Spacing is not positive");
    g->ni = idx->columns;
    g->nj = idx->rows;
    g->n_frames = idx->number_of_frames;
    return true;
}

bool grid_check_limits(const struct volume_grid *g, const struct volume_limits *lim, struct err *e)
{
    uint64_t max = lim && lim->max_voxels ? lim->max_voxels : (uint64_t)1 << 32;
    if (g->ni > NIFTI_MAX_DIM || g->nj > NIFTI_MAX_DIM || g->nk > NIFTI_MAX_DIM)
        return err_set(e, ERR_LIMIT, "volume of %u x %u x %u voxels: a dimension exceeds %u", g->ni,
                       g->nj, g->nk, NIFTI_MAX_DIM);
    uint64_t v = (uint64_t)g->ni * g->nj * g->nk;
    if (v > max)
        return err_set(e, ERR_LIMIT, "volume of %u x %u x %u voxels exceeds the limit of %llu voxels",
                       g->ni, g->nj, g->nk, (unsigned long long)max);
    return true;
}

bool grid_no_patient_geometry(const struct seg_index *idx, struct err *e)
{
    if (idx->number_of_frames == 0)
        return err_set(e, ERR_INVALID, "geometry is not a volume: the SEG has no frames");
    for (uint32_t f = 0; f < idx->number_of_frames; f++) {
        const struct seg_frame *fr = &idx->frames[f];
        if (fr->position_kind == SEG_POS_SLIDE || idx->total_matrix_rows || idx->tiled_full_implicit)
            return err_set(e, ERR_INVALID,
                           "geometry is not a volume: a slide (TILED) SEG has no patient geometry; "
                           "use total.png / `segweb total` for its total pixel matrix");
        if (fr->position_kind != SEG_POS_PATIENT)
            return err_set(e, ERR_INVALID,
                           "geometry is not a volume: frame %u has no Plane Position (Patient) (no "
                           "patient geometry)", f + 1);
    }
    return true;
}

bool volume_grid_from_seg(const struct seg_index *idx, const struct volume_limits *lim,
                          struct volume_grid *g, struct err *e)
{
    memset(g, 0, sizeof *g);
    double *d = NULL;
    if (!grid_no_patient_geometry(idx, e) || !grid_axes(idx, g, e))
        goto fail;
    uint32_t nf = idx->number_of_frames;
    const double *r = g->axes[0], *c = g->axes[1], *n = g->axes[2];
    const double *p0 = idx->frames[0].position;
    double tol_in = fmax(0.01, 0.1 * fmin(g->spacing[0], g->spacing[1]));
    d = malloc((size_t)nf * sizeof *d);
    g->frame_slice = malloc((size_t)nf * sizeof *g->frame_slice);
    if (!d || !g->frame_slice) {
        err_set(e, ERR_NOMEM, "out of memory for %u frame positions", nf);
        goto fail;
    }
    for (uint32_t f = 0; f < nf; f++) {
        const double *p = idx->frames[f].position;
        if (!isfinite(p[0]) || !isfinite(p[1]) || !isfinite(p[2]) || fabs(p[0]) > 1e9 ||
            fabs(p[1]) > 1e9 || fabs(p[2]) > 1e9) {
            err_set(e, ERR_INVALID, "geometry is not a volume: frame %u has an unusable position", f + 1);
            goto fail;
        }
        double delta[3] = {p[0] - p0[0], p[1] - p0[1], p[2] - p0[2]};
        double du = dot(delta, r), dv = dot(delta, c);
        if (fabs(du) > tol_in || fabs(dv) > tol_in) {
            err_set(e, ERR_INVALID,
                    "geometry is not a volume: frame %u is shifted in-plane by (%.3g, %.3g) mm from "
                    "frame 1", f + 1, du, dv);
            goto fail;
        }
        d[f] = dot(p, n);
    }
    double *sorted = malloc((size_t)nf * sizeof *sorted);
    if (!sorted) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(sorted, d, (size_t)nf * sizeof *d);
    qsort(sorted, nf, sizeof *sorted, cmp_double);
    const double same = 0.01; /* mm: one slice */
    double dmin = sorted[0], dmax = sorted[nf - 1], gap_min = INFINITY;
    for (uint32_t f = 1; f < nf; f++) {
        double gap = sorted[f] - sorted[f - 1];
        if (gap > same && gap < gap_min)
            gap_min = gap;
    }
    free(sorted);
    double s;
    if (!isfinite(gap_min)) { /* one position */
        g->nk = 1;
        s = idx->has_spacing_between_slices && idx->spacing_between_slices > 0
                ? idx->spacing_between_slices
                : idx->has_slice_thickness && idx->slice_thickness > 0 ? idx->slice_thickness : 1.0;
        if (!isfinite(s) || s > 1e6)
            s = 1.0;
    } else {
        double steps = round((dmax - dmin) / gap_min);
        if (steps + 1 > NIFTI_MAX_DIM) {
            err_set(e, ERR_LIMIT,
                    "volume would have %.0f slices (span %.6g mm, spacing %.6g mm): more than %u",
                    steps + 1, dmax - dmin, gap_min, NIFTI_MAX_DIM);
            goto fail;
        }
        g->nk = (uint32_t)steps + 1;
        s = (dmax - dmin) / steps;
    }
    g->spacing[2] = s;
    bool origin_set = false;
    for (uint32_t f = 0; f < nf; f++) {
        double t = g->nk > 1 ? (d[f] - dmin) / s : 0;
        double k = round(t);
        if (fabs(t - k) > 0.01) {
            err_set(e, ERR_INVALID,
                    "geometry is not a volume: positions are not on a regular grid (frame %u lies "
                    "%.3g mm off the %.6g mm slice spacing; spacing varies by more than 1%%)",
                    f + 1, fabs(t - k) * s, s);
            goto fail;
        }
        g->frame_slice[f] = (uint32_t)k;
        if (k == 0 && !origin_set) {
            memcpy(g->origin, idx->frames[f].position, sizeof g->origin);
            origin_set = true;
        }
    }
    if (!grid_check_limits(g, lim, e) || !grid_index_slices(idx, g, e))
        goto fail;
    free(d);
    return true;
fail:
    free(d);
    volume_grid_free(g);
    return false;
}

void volume_grid_free(struct volume_grid *g)
{
    if (!g)
        return;
    free(g->frame_slice);
    free(g->slice_start);
    free(g->slice_frames);
    memset(g, 0, sizeof *g);
}
