/* Assembling one slice of one output file from the frames at that position.
 *
 * Only the rows between a frame's first and last non-zero byte are visited, and
 * only those rows are cleared before the next slice, so a slice costs what its
 * non-zero part costs. Segment volumes take the frames of their segment (or, in
 * a LABELMAP object, the pixels equal to their number); the labelmap takes every
 * frame, in ascending segment number so that the higher number wins, counting a
 * voxel once when a second segment covers it. */
#include <stdlib.h>
#include <string.h>

#include "decoder/decoder.h"
#include "volume/internal.h"

uint8_t slicer_bytes_per_voxel(const struct seg_index *idx, const struct volume_what *w)
{
    int32_t maxn = 0;
    for (size_t i = 0; i < idx->n_segments; i++)
        if (idx->segments[i].number > maxn)
            maxn = idx->segments[i].number;
    if (w->labelmap)
        return maxn > 255 || (idx->type == SEG_TYPE_LABELMAP && idx->bits_allocated > 8) ? 2 : 1;
    if (w->binary || idx->type == SEG_TYPE_FRACTIONAL)
        return 1;
    return w->segment > 255 ? 2 : 1;
}

bool slicer_init(struct slicer *s, const struct seg_index *idx, const struct volume_grid *g,
                 const struct volume_what *w, struct err *e)
{
    memset(s, 0, sizeof *s);
    s->idx = idx;
    s->g = g;
    s->labelmap = w->labelmap;
    s->binary = w->binary;
    if (!w->labelmap) {
        s->seg = decoder_seg_segment(idx, w->segment);
        if (!s->seg)
            return err_set(e, ERR_NOT_FOUND, "no segment %d in this SEG", (int)w->segment);
    }
    s->bpv = slicer_bytes_per_voxel(idx, w);
    s->value = w->binary ? 1 : (uint16_t)(w->labelmap ? 0 : w->segment);
    size_t n = (size_t)g->ni * g->nj;
    s->buf = calloc(n ? n : 1, s->bpv);
    if (!s->buf)
        return err_set(e, ERR_NOMEM, "out of memory for a %u x %u slice", g->ni, g->nj);
    if (w->labelmap) {
        s->overlap_flags = calloc(n ? n : 1, 1);
        if (!s->overlap_flags)
            return err_set(e, ERR_NOMEM, "out of memory for a %u x %u slice", g->ni, g->nj);
    }
    return true;
}

void slicer_free(struct slicer *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s->overlap_flags);
    s->buf = s->overlap_flags = NULL;
}

static bool frame_in_segment(const struct seg_segment *seg, uint32_t frame)
{
    size_t lo = 0, hi = seg->n_frames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->frames[mid] < frame)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < seg->n_frames && seg->frames[lo] == frame;
}

static inline void put(struct slicer *s, size_t p, uint32_t v)
{
    if (s->bpv == 1)
        s->buf[p] = (uint8_t)v;
    else {
        s->buf[2 * p] = (uint8_t)v;
        s->buf[2 * p + 1] = (uint8_t)(v >> 8);
    }
}

static inline uint32_t get(const struct slicer *s, size_t p)
{
    return s->bpv == 1 ? s->buf[p] : (uint32_t)s->buf[2 * p] | (uint32_t)s->buf[2 * p + 1] << 8;
}

/* Labelmap: voxel p becomes label v. */
static inline void label(struct slicer *s, size_t p, uint32_t v)
{
    uint32_t old = get(s, p);
    if (old && old != v && !s->overlap_flags[p]) {
        s->overlap_flags[p] = 1;
        s->overlap++;
    }
    put(s, p, v);
}

/* First and last non-zero byte of a buffer; false when all zero. */
static bool nonzero_range(const uint8_t *d, size_t n, size_t *first, size_t *last)
{
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, d + i, 8);
        if (w)
            break;
        i += 8;
    }
    while (i < n && !d[i])
        i++;
    if (i == n)
        return false;
    *first = i;
    size_t j = n;
    while (j >= i + 8) {
        uint64_t w;
        memcpy(&w, d + j - 8, 8);
        if (w)
            break;
        j -= 8;
    }
    while (j > i && !d[j - 1])
        j--;
    *last = j - 1;
    return true;
}

static void add_frame(struct slicer *s, const struct seg_pixels *px, int32_t frame_segment)
{
    const struct seg_index *idx = s->idx;
    size_t cols = px->columns, npix = (size_t)px->rows * cols;
    size_t bpp = px->bits == 16 ? 2 : 1;
    size_t first, last;
    if (!cols || !nonzero_range(px->data, px->bits == 1 ? (npix + 7) / 8 : npix * bpp, &first, &last))
        return;
    size_t p0, p1; /* pixel range to visit, whole rows */
    if (px->bits == 1) {
        p0 = first * 8 / cols * cols;
        p1 = ((last * 8 + 7) / cols + 1) * cols;
    } else {
        p0 = first / bpp / cols * cols;
        p1 = (last / bpp / cols + 1) * cols;
    }
    if (p1 > npix)
        p1 = npix;
    uint32_t r0 = (uint32_t)(p0 / cols), r1 = (uint32_t)(p1 / cols);
    if (s->r0 >= s->r1) {
        s->r0 = r0;
        s->r1 = r1;
    } else {
        if (r0 < s->r0)
            s->r0 = r0;
        if (r1 > s->r1)
            s->r1 = r1;
    }
    uint32_t v = s->labelmap ? (uint32_t)frame_segment : s->value;
    if (s->labelmap && v > s->max_label)
        s->max_label = v;

    if (px->bits == 1) {
        const uint8_t *d = px->data;
        size_t p = p0;
        while (p < p1) {
            if ((p & 7) == 0 && p + 8 <= p1) {
                uint8_t b = d[p >> 3];
                if (b) {
                    for (int bit = 0; bit < 8; bit++)
                        if (b >> bit & 1) {
                            if (s->labelmap)
                                label(s, p + bit, v);
                            else
                                put(s, p + bit, v);
                        }
                }
                p += 8;
                continue;
            }
            if (d[p >> 3] >> (p & 7) & 1) {
                if (s->labelmap)
                    label(s, p, v);
                else
                    put(s, p, v);
            }
            p++;
        }
        return;
    }

    uint32_t maxf = idx->max_fractional_value ? idx->max_fractional_value : 255;
    for (size_t p = p0; p < p1; p++) {
        uint32_t x = bpp == 1 ? px->data[p] : ((const uint16_t *)px->data)[p];
        if (!x)
            continue;
        if (idx->type == SEG_TYPE_FRACTIONAL) {
            bool on = 2 * x >= maxf;
            if (s->labelmap) {
                if (on)
                    label(s, p, v);
            } else if (s->binary) {
                if (on)
                    put(s, p, 1);
            } else if (x > get(s, p)) {
                put(s, p, x);
            }
        } else if (idx->type == SEG_TYPE_LABELMAP) {
            if (s->labelmap) {
                if (!decoder_seg_segment(idx, (int32_t)x) || (s->bpv == 1 && x > 255))
                    continue; /* a value no segment describes */
                if (x > s->max_label)
                    s->max_label = x;
                label(s, p, x);
            } else if (x == (uint32_t)s->seg->number) {
                put(s, p, s->value);
            }
        } else { /* BINARY stored as 8 bits by some writers */
            if (s->labelmap)
                label(s, p, v);
            else
                put(s, p, s->value);
        }
    }
}

bool slicer_fill(struct slicer *s, uint32_t k, struct err *e)
{
    const struct volume_grid *g = s->g;
    const struct seg_index *idx = s->idx;
    if (s->r0 < s->r1) {
        size_t row = (size_t)g->ni;
        memset(s->buf + (size_t)s->r0 * row * s->bpv, 0, (size_t)(s->r1 - s->r0) * row * s->bpv);
        if (s->overlap_flags)
            memset(s->overlap_flags + (size_t)s->r0 * row, 0, (size_t)(s->r1 - s->r0) * row);
    }
    s->r0 = s->r1 = 0;
    for (uint32_t i = g->slice_start[k]; i < g->slice_start[k + 1]; i++) {
        uint32_t f = g->slice_frames[i];
        int32_t num = idx->frames[f - 1].segment_number;
        if (!s->labelmap) {
            if (idx->type == SEG_TYPE_LABELMAP ? !frame_in_segment(s->seg, f) : num != s->seg->number)
                continue;
        } else if (idx->type != SEG_TYPE_LABELMAP && !decoder_seg_segment(idx, num)) {
            continue; /* a frame naming no described segment */
        }
        struct seg_pixels px;
        if (!decoder_frame_read(idx, f, &px, e)) {
            err_prefix(e, "frame %u", f);
            return false;
        }
        if (px.rows != g->nj || px.columns != g->ni) {
            decoder_pixels_free(&px);
            return err_set(e, ERR_INVALID, "frame %u is %ux%u, the grid %ux%u", f, px.columns, px.rows,
                           g->ni, g->nj);
        }
        add_frame(s, &px, num);
        decoder_pixels_free(&px);
    }
    return true;
}
