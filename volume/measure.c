/* Segment measurements from one pass over the frames.
 *
 * Each frame contributes to its segment (LABELMAP objects: each pixel to the
 * segment its value names) at its slice of the grid. 1-bit rows whose width is
 * a multiple of 8 are counted a 64-bit word at a time: popcount for the count,
 * and the sum of set-bit positions as sum over t of 2^t * popcount(word & M_t)
 * (M_t: the positions with bit t set), so a measurement costs about what
 * reading the frames costs. Two frames of one segment at one slice are both
 * counted (a SEG does not normally carry duplicates). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"
#include "volume/internal.h"

struct acc {
    uint64_t n;
    double w, si, sj, sk;
    uint32_t min[3], max[3];
};

static void acc_box(struct acc *a, uint32_t i0, uint32_t i1, uint32_t j, uint32_t k)
{
    if (!a->n) {
        a->min[0] = i0, a->max[0] = i1;
        a->min[1] = a->max[1] = j;
        a->min[2] = a->max[2] = k;
        return;
    }
    if (i0 < a->min[0]) a->min[0] = i0;
    if (i1 > a->max[0]) a->max[0] = i1;
    if (j < a->min[1]) a->min[1] = j;
    if (j > a->max[1]) a->max[1] = j;
    if (k < a->min[2]) a->min[2] = k;
    if (k > a->max[2]) a->max[2] = k;
}

static void acc_pixel(struct acc *a, uint32_t i, uint32_t j, uint32_t k, double w)
{
    acc_box(a, i, i, j, k);
    a->n++;
    a->w += w;
    a->si += w * i;
    a->sj += w * j;
    a->sk += w * k;
}

static const uint64_t M[6] = {0xAAAAAAAAAAAAAAAAull, 0xCCCCCCCCCCCCCCCCull, 0xF0F0F0F0F0F0F0F0ull,
                              0xFF00FF00FF00FF00ull, 0xFFFF0000FFFF0000ull, 0xFFFFFFFF00000000ull};

/* A row of 1-bit pixels starting on a byte boundary. */
static void acc_bit_row(struct acc *a, const uint8_t *d, uint32_t cols, uint32_t di, uint32_t j,
                        uint32_t k)
{
    uint32_t nbytes = cols / 8;
    uint64_t cnt = 0;
    double sum = 0;
    int32_t first = -1, last = -1;
    for (uint32_t b = 0; b < nbytes; b += 8) {
        uint32_t take = nbytes - b < 8 ? nbytes - b : 8;
        uint64_t w = 0;
        memcpy(&w, d + b, take); /* little-endian: pixel 8*b + t is bit t */
        if (!w)
            continue;
        uint64_t c = (uint64_t)__builtin_popcountll(w);
        uint64_t s = 0;
        for (int t = 0; t < 6; t++)
            s += (uint64_t)__builtin_popcountll(w & M[t]) << t;
        cnt += c;
        sum += (double)s + (double)c * (8.0 * b + di);
        if (first < 0)
            first = (int32_t)(8 * b + __builtin_ctzll(w));
        last = (int32_t)(8 * b + 63 - __builtin_clzll(w));
    }
    if (!cnt)
        return;
    acc_box(a, (uint32_t)first + di, (uint32_t)last + di, j, k);
    a->n += cnt;
    a->w += (double)cnt;
    a->si += sum;
    a->sj += (double)cnt * j;
    a->sk += (double)cnt * k;
}

static _Thread_local int32_t measure_only = -1;

static struct acc *acc_for(const struct seg_index *idx, struct acc *accs, int32_t number)
{
    if (measure_only >= 0 && number != measure_only)
        return NULL;
    const struct seg_segment *s = decoder_seg_segment(idx, number);
    return s ? &accs[s - idx->segments] : NULL;
}

static void acc_frame(const struct seg_index *idx, struct acc *accs, const struct seg_pixels *px,
                      int32_t number, uint32_t k, uint32_t di, uint32_t dj)
{
    uint32_t rows = px->rows, cols = px->columns;
    struct acc *a = idx->type == SEG_TYPE_LABELMAP ? NULL : acc_for(idx, accs, number);
    if (idx->type != SEG_TYPE_LABELMAP && !a)
        return;
    if (px->bits == 1) {
        if (cols % 8 == 0) {
            for (uint32_t j = 0; j < rows; j++)
                acc_bit_row(a, px->data + (size_t)j * cols / 8, cols, di, j + dj, k);
        } else {
            for (uint32_t j = 0; j < rows; j++)
                for (uint32_t i = 0; i < cols; i++) {
                    size_t p = (size_t)j * cols + i;
                    if (px->data[p >> 3] >> (p & 7) & 1)
                        acc_pixel(a, i + di, j + dj, k, 1);
                }
        }
        return;
    }
    double maxf = idx->max_fractional_value ? idx->max_fractional_value : 255;
    for (uint32_t j = 0; j < rows; j++)
        for (uint32_t i = 0; i < cols; i++) {
            size_t p = (size_t)j * cols + i;
            uint32_t x = px->bits == 8 ? px->data[p] : ((const uint16_t *)px->data)[p];
            if (!x)
                continue;
            if (idx->type == SEG_TYPE_LABELMAP) {
                struct acc *la = acc_for(idx, accs, (int32_t)x);
                if (la)
                    acc_pixel(la, i + di, j + dj, k, 1);
            } else {
                acc_pixel(a, i + di, j + dj, k, idx->type == SEG_TYPE_FRACTIONAL ? x / maxf : 1);
            }
        }
}

struct volume_measure *volume_measure_segments(const struct seg_index *idx,
                                               const struct volume_grid *grid, int32_t only,
                                               struct err *e)
{
    measure_only = only;
    const struct seg_segment *only_seg = only >= 0 ? decoder_seg_segment(idx, only) : NULL;
    size_t ns = idx->n_segments;
    struct volume_measure *out = calloc(ns ? ns : 1, sizeof *out);
    struct acc *accs = calloc(ns ? ns : 1, sizeof *accs);
    if (!out || !accs) {
        free(out);
        free(accs);
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (uint32_t f = 1; f <= idx->number_of_frames; f++) {
        const struct seg_frame *fr = &idx->frames[f - 1];
        uint32_t k = 0, di = 0, dj = 0;
        if (grid) {
            k = grid->frame_slice[f - 1];
            if (k == VOLUME_NO_SLICE)
                continue;
        } else if (fr->matrix_column > 0 && fr->matrix_row > 0) {
            di = (uint32_t)fr->matrix_column - 1;
            dj = (uint32_t)fr->matrix_row - 1;
        }
        if (idx->type != SEG_TYPE_LABELMAP && !acc_for(idx, accs, fr->segment_number))
            continue;
        if (idx->type == SEG_TYPE_LABELMAP && only >= 0) { /* only the frames holding that label */
            bool has = false;
            for (size_t n = 0; only_seg && n < only_seg->n_frames && !has; n++)
                has = only_seg->frames[n] == f;
            if (!has)
                continue;
        }
        struct seg_pixels px;
        if (!decoder_frame_read(idx, f, &px, e)) {
            err_prefix(e, "frame %u", f);
            free(out);
            free(accs);
            return NULL;
        }
        acc_frame(idx, accs, &px, fr->segment_number, k, di, dj);
        decoder_pixels_free(&px);
    }
    for (size_t s = 0; s < ns; s++) {
        struct volume_measure *m = &out[s];
        struct acc *a = &accs[s];
        m->number = idx->segments[s].number;
        m->voxels = a->n;
        m->weighted = a->w;
        if (!a->n)
            continue;
        memcpy(m->bbox_min, a->min, sizeof a->min);
        memcpy(m->bbox_max, a->max, sizeof a->max);
        if (grid) {
            double vox = grid->spacing[0] * grid->spacing[1] * grid->spacing[2];
            m->volume_ml = a->w * vox / 1000.0;
            m->slices = a->max[2] - a->min[2] + 1;
            double c[3] = {a->si / a->w, a->sj / a->w, a->sk / a->w};
            for (int x = 0; x < 3; x++) {
                double lo = grid->origin[x], hi = grid->origin[x], cc = grid->origin[x];
                for (int ax = 0; ax < 3; ax++) {
                    double step = grid->axes[ax][x] * grid->spacing[ax];
                    double p = step * a->min[ax], q = step * a->max[ax];
                    lo += p < q ? p : q;
                    hi += p < q ? q : p;
                    cc += step * c[ax];
                }
                m->bbox_mm_min[x] = lo;
                m->bbox_mm_max[x] = hi;
                m->centroid_mm[x] = cc;
            }
        } else {
            double px_area = idx->has_pixel_spacing ? idx->pixel_spacing[0] * idx->pixel_spacing[1] : 0;
            m->area_mm2 = a->w * px_area;
        }
    }
    free(accs);
    return out;
}
