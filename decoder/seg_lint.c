/* The SEG doctor's checks (decoder/seg_lint.h). */
#include "decoder/seg_lint.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/frame.h"

static void add(struct seg_lint_report *r, enum seg_lint_severity s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(struct seg_lint_report *r, enum seg_lint_severity s, const char *code, const char *fmt, ...)
{
    if (r->n >= SEG_LINT_MAX)
        return;
    struct seg_lint_finding *f = &r->items[r->n++];
    f->severity = s;
    f->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

const char *decoder_seg_lint_severity_name(enum seg_lint_severity s)
{
    return s == SEG_LINT_ERROR ? "error" : s == SEG_LINT_WARNING ? "warning" : "info";
}

static void check_references(const struct seg_index *idx, seg_lint_lookup_fn lookup, void *arg,
                             struct seg_lint_report *r)
{
    if (!idx->n_ref_series) {
        add(r, SEG_LINT_ERROR, "REFERENCED_SERIES_MISSING",
            "The Referenced Series Sequence is missing: archives and viewers cannot tell which images "
            "this segmentation belongs to.");
    }
    uint32_t no_source = 0;
    for (uint32_t f = 0; f < idx->number_of_frames; f++)
        if (!idx->frames[f].refs_count)
            no_source++;
    if (no_source && !idx->tiled_full_implicit)
        add(r, SEG_LINT_WARNING, "FRAME_WITHOUT_SOURCE",
            "%u of %u frames name no source image (Derivation Image Sequence): viewers cannot place "
            "them over an image.", no_source, idx->number_of_frames);
    if (!lookup)
        return;
    size_t missing = 0, other = 0, grid = 0;
    const char *first_missing = NULL, *first_other = NULL;
    char grid_why[160] = "";
    for (size_t s = 0; s < idx->n_ref_series; s++) {
        const struct seg_ref_series *rs = &idx->ref_series[s];
        for (size_t i = 0; i < rs->n_instances; i++) {
            const char *uid = rs->instance_uids[i];
            if (!uid || !*uid)
                continue;
            struct seg_lint_source src;
            memset(&src, 0, sizeof src);
            r->sources_checked++;
            if (!lookup(arg, uid, &src) || !src.found) {
                if (!missing++)
                    first_missing = uid;
                continue;
            }
            r->sources_found++;
            if (src.series_uid[0] && rs->series_uid && rs->series_uid[0] &&
                strcmp(src.series_uid, rs->series_uid)) {
                if (!other++)
                    first_other = uid;
            }
            bool mismatch = false;
            if (!grid_why[0] && (src.rows != idx->rows || src.columns != idx->columns)) {
                snprintf(grid_why, sizeof grid_why, "the source is %ux%u, the segmentation %ux%u",
                         src.rows, src.columns, idx->rows, idx->columns);
            }
            mismatch = src.rows != idx->rows || src.columns != idx->columns;
            if (src.has_orientation && idx->has_orientation) {
                for (int k = 0; k < 6; k++)
                    if (fabs(src.orientation[k] - idx->orientation[k]) > 1e-3) {
                        if (!grid_why[0])
                            snprintf(grid_why, sizeof grid_why, "Image Orientation (Patient) differs");
                        mismatch = true;
                        break;
                    }
            }
            if (src.has_spacing && idx->has_pixel_spacing &&
                (fabs(src.spacing[0] - idx->pixel_spacing[0]) > 1e-3 ||
                 fabs(src.spacing[1] - idx->pixel_spacing[1]) > 1e-3)) {
                if (!grid_why[0])
                    snprintf(grid_why, sizeof grid_why, "Pixel Spacing %g\\%g differs from the source's %g\\%g",
                             idx->pixel_spacing[0], idx->pixel_spacing[1], src.spacing[0], src.spacing[1]);
                mismatch = true;
            }
            if (mismatch)
                grid++;
        }
    }
    if (missing)
        add(r, SEG_LINT_WARNING, "SOURCE_NOT_FOUND",
            "%zu of %zu referenced images are not available here (first: %s): the masks cannot be "
            "shown over them.", missing, r->sources_checked, first_missing);
    if (other)
        add(r, SEG_LINT_ERROR, "SOURCE_OTHER_SERIES",
            "%zu referenced images belong to another series than the Referenced Series Sequence names "
            "(first: %s).", other, first_other);
    if (grid)
        add(r, SEG_LINT_ERROR, "GRID_UNLIKE_SOURCE",
            "The segmentation's grid is unlike its source images' for %zu images: %s.", grid, grid_why);
}

static void check_numbers(const struct seg_index *idx, struct seg_lint_report *r)
{
    int32_t expect = 1;
    size_t k = 0;
    if (idx->n_segments && idx->segments[0].number == 0 && idx->type == SEG_TYPE_LABELMAP)
        k = 1;
    for (; k < idx->n_segments; k++, expect++)
        if (idx->segments[k].number != expect) {
            add(r, SEG_LINT_WARNING, "SEGMENT_NUMBERS",
                "Segment numbers are not 1..%zu (segment %d where %d was expected): some viewers "
                "index segments by position.", idx->n_segments, idx->segments[k].number, expect);
            return;
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void check_grid(const struct seg_index *idx, struct seg_lint_report *r)
{
    if (!idx->number_of_frames || idx->frames[0].position_kind != SEG_POS_PATIENT)
        return;
    double n[3] = {0, 0, 1};
    if (idx->has_orientation) {
        const double *o = idx->orientation;
        n[0] = o[1] * o[5] - o[2] * o[4];
        n[1] = o[2] * o[3] - o[0] * o[5];
        n[2] = o[0] * o[4] - o[1] * o[3];
    }
    double *d = malloc(idx->number_of_frames * sizeof *d);
    if (!d)
        return;
    size_t m = 0;
    for (uint32_t f = 0; f < idx->number_of_frames; f++)
        if (idx->frames[f].position_kind == SEG_POS_PATIENT) {
            const double *p = idx->frames[f].position;
            d[m++] = p[0] * n[0] + p[1] * n[1] + p[2] * n[2];
        }
    qsort(d, m, sizeof *d, cmp_double);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (!u || fabs(d[i] - d[u - 1]) > 1e-3)
            d[u++] = d[i];
    if (u >= 2 && !idx->has_spacing_between_slices)
        add(r, SEG_LINT_WARNING, "SPACING_BETWEEN_SLICES_MISSING",
            "The segmentation has %zu planes but no Spacing Between Slices: some readers cannot build "
            "a volume.", u);
    if (u >= 3) {
        double step = d[1] - d[0], worst = 0;
        for (size_t i = 2; i < u; i++) {
            double s = d[i] - d[i - 1];
            /* a missing plane (an exact multiple of the step) is a sparse SEG, not off grid */
            double k = round(s / step);
            double off = k >= 1 ? fabs(s - k * step) : fabs(s - step);
            if (off > worst)
                worst = off;
        }
        if (worst > 0.01 * fabs(step) + 1e-3)
            add(r, SEG_LINT_WARNING, "OFF_GRID",
                "Frame positions are not on one regular stack (spacing %.4g mm, a plane is off by "
                "%.4g mm): volume readers will resample or refuse.", step, worst);
    }
    free(d);
}

static bool frame_empty(const struct seg_index *idx, uint32_t f)
{
    struct seg_pixels px;
    struct err e = ERR_INIT;
    if (!decoder_frame_read(idx, f, &px, &e))
        return false; /* unreadable is not "empty" */
    bool empty = true;
    for (size_t i = 0; i < px.len && empty; i++)
        empty = px.data[i] == 0;
    decoder_pixels_free(&px);
    return empty;
}

static void check_empty(const struct seg_index *idx, size_t max_frames, struct seg_lint_report *r)
{
    bool read = idx->number_of_frames <= (max_frames ? max_frames : 4096) && idx->type != SEG_TYPE_LABELMAP;
    uint8_t *empty = read ? calloc(idx->number_of_frames + 1, 1) : NULL; /* 0 unknown, 1 empty, 2 not */
    for (size_t k = 0; k < idx->n_segments; k++) {
        const struct seg_segment *s = &idx->segments[k];
        if (s->number == 0 && idx->type == SEG_TYPE_LABELMAP)
            continue;
        if (!s->n_frames) {
            add(r, SEG_LINT_WARNING, "EMPTY_SEGMENT", "Segment %d (%s) has no frames.", s->number,
                s->label[0] ? s->label : "no label");
            continue;
        }
        if (!empty)
            continue;
        bool all = true;
        for (size_t i = 0; i < s->n_frames && all; i++) {
            uint32_t f = s->frames[i];
            if (f < 1 || f > idx->number_of_frames)
                continue;
            if (!empty[f])
                empty[f] = frame_empty(idx, f) ? 1 : 2;
            all = empty[f] == 1;
        }
        if (all)
            add(r, SEG_LINT_WARNING, "EMPTY_SEGMENT",
                "Segment %d (%s) has %zu frames, all of them empty.", s->number,
                s->label[0] ? s->label : "no label", s->n_frames);
    }
    free(empty);
}

static void check_pixels(const struct seg_index *idx, struct seg_lint_report *r)
{
    uint64_t npix = (uint64_t)idx->rows * idx->columns;
    if (idx->type == SEG_TYPE_BINARY && npix % 8)
        add(r, SEG_LINT_INFO, "BITS_NOT_BYTE_ALIGNED",
            "Frames of %ux%u = %llu pixels are not a multiple of 8: with 1-bit packing frames after the "
            "first start mid-byte, which some archives and readers get wrong.", idx->rows, idx->columns,
            (unsigned long long)npix);
    if (idx->pixels.encoding != SEG_ENC_NATIVE)
        return;
    uint64_t frames = idx->number_of_frames;
    uint64_t need = idx->bits_allocated == 1 ? (frames * npix + 7) / 8
                                             : frames * npix * (idx->bits_allocated / 8);
    uint64_t have = idx->pixels.length;
    if (have < need || have > need + 1)
        add(r, SEG_LINT_ERROR, "PIXEL_DATA_LENGTH",
            "Pixel Data holds %llu bytes; %llu frames of %ux%u at %u bits need %llu%s.",
            (unsigned long long)have, (unsigned long long)frames, idx->rows, idx->columns,
            idx->bits_allocated, (unsigned long long)need, need % 2 ? " (+1 padding byte)" : "");
}

static void code(const struct seg_code *c, int32_t number, const char *what, int *bad, char *first,
                 size_t firstsz)
{
    if (c->value && c->value[0] && (!c->scheme || !c->scheme[0])) {
        if (!(*bad)++)
            snprintf(first, firstsz, "segment %d %s %s", number, what, c->value);
    }
}

static void check_codes(const struct seg_index *idx, struct seg_lint_report *r)
{
    int bad = 0;
    char first[160] = "";
    for (size_t k = 0; k < idx->n_segments; k++) {
        const struct seg_segment *s = &idx->segments[k];
        code(&s->category, s->number, "category", &bad, first, sizeof first);
        code(&s->type, s->number, "type", &bad, first, sizeof first);
        code(&s->anatomic_region, s->number, "anatomic region", &bad, first, sizeof first);
        for (size_t i = 0; i < s->type_modifiers.count; i++)
            code(&s->type_modifiers.items[i], s->number, "type modifier", &bad, first, sizeof first);
        for (size_t i = 0; i < s->anatomic_region_modifiers.count; i++)
            code(&s->anatomic_region_modifiers.items[i], s->number, "region modifier", &bad, first,
                 sizeof first);
    }
    if (bad)
        add(r, SEG_LINT_WARNING, "CODE_WITHOUT_SCHEME",
            "%d coded concepts have no Coding Scheme Designator (first: %s): their meaning is "
            "ambiguous.", bad, first);
}

void decoder_seg_lint(const struct seg_index *idx, seg_lint_lookup_fn lookup, void *arg,
                      size_t max_frames_read, struct seg_lint_report *out)
{
    memset(out, 0, sizeof *out);
    check_references(idx, lookup, arg, out);
    check_numbers(idx, out);
    check_grid(idx, out);
    check_empty(idx, max_frames_read, out);
    check_pixels(idx, out);
    check_codes(idx, out);
}
