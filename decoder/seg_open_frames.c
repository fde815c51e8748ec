/* The frame index of a SEG (a stage of decoder_seg_open(), see seg_open.h).
 * Design note: this file owns what the index knows per frame (its segment,
 * position, source image references and dimension index values) and each
 * segment's list of frames. Its invariants:
 *   - frames are numbered from 1 outside, stored from 0 here; idx->frames has
 *     exactly NumberOfFrames entries, whatever the per-frame items say;
 *   - a frame's refs and dimension values are one contiguous run
 *     (refs_first / refs_count, dims_first / dims_count) of the index's arrays,
 *     grown on the heap while building and copied into the arena once;
 *   - TILED_FULL objects without per-frame items follow the implicit order
 *     (segment outermost, then focal plane, tile row, tile column);
 *   - a segment's frame list is ascending; LABELMAP lists come from the values
 *     each frame holds (every frame decoded once, never kept), the others from
 *     the per-frame segment numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/frame.h"
#include "decoder/seg_open.h"

/* Growable arrays used while building; copied into the arena at the end. */
struct grow {
    void *data;
    size_t n, cap, size;
};

static void *grow_push(struct grow *g, struct err *e)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        void *d = realloc(g->data, cap * g->size);
        if (!d) {
            err_set(e, ERR_NOMEM, "out of memory building the frame index");
            return NULL;
        }
        g->data = d;
        g->cap = cap;
    }
    return (char *)g->data + g->size * g->n++;
}

/* TILED_FULL without per-frame items: the tile grid. */
struct tiles {
    uint32_t per_segment, cols, rows;
};

static bool tiles_setup(struct builder *b, struct tiles *t)
{
    struct seg_index *idx = b->idx;
    if (!idx->total_matrix_rows || !idx->total_matrix_columns)
        return err_set(b->e, ERR_INVALID, "TILED_FULL without TotalPixelMatrixRows/Columns");
    t->cols = (idx->total_matrix_columns + idx->columns - 1) / idx->columns;
    t->rows = (idx->total_matrix_rows + idx->rows - 1) / idx->rows;
    uint32_t planes = idx->total_matrix_focal_planes ? idx->total_matrix_focal_planes : 1;
    uint64_t per = (uint64_t)t->cols * t->rows * planes;
    if (per == 0 || per > UINT32_MAX)
        return err_set(b->e, ERR_INVALID, "TILED_FULL tile count out of range");
    t->per_segment = (uint32_t)per;
    return true;
}

/* Frame i's segment (and, TILED_FULL, its place in the tile grid). */
static void frame_segment(struct builder *b, uint32_t i, const struct dataset_item *item,
                          const struct tiles *t, struct seg_frame *fr)
{
    struct seg_index *idx = b->idx;
    if (idx->tiled_full_implicit) {
        /* Implicit order: segment outermost, then focal plane, tile row, tile column. */
        uint32_t s = i / t->per_segment, k = i % t->per_segment;
        if (s < idx->n_segments)
            fr->segment_number = idx->segments[s].number;
        uint32_t in_plane = k % (t->cols * t->rows);
        fr->matrix_row = (int32_t)((in_plane / t->cols) * idx->rows + 1);
        fr->matrix_column = (int32_t)((in_plane % t->cols) * idx->columns + 1);
    } else {
        const struct dataset_item *sid = seg_open_group_item(b, item, TAG(0x0062, 0x000A));
        int32_t num;
        if (sid && dataset_int(sid, TAG(0x0062, 0x000B), 0, &num))
            fr->segment_number = num;
    }
}

/* A frame's own Plane Orientation / Pixel Spacing that disagrees with the
 * index's (first frame or shared): the first such frame is recorded for volume/. */
static void frame_geometry_check(struct builder *b, uint32_t i, const struct dataset_item *item)
{
    struct seg_index *idx = b->idx;
    double o[6], ps[2];
    bool has_o = false, has_ps = false;
    seg_open_doubles(seg_open_first_item(item, TAG(0x0020, 0x9116)), TAG(0x0020, 0x0037), o, 6, &has_o);
    for (int c = 0; has_o && c < 6 && !idx->orientation_differs_frame; c++)
        if (!idx->has_orientation || fabs(o[c] - idx->orientation[c]) > 1e-4)
            idx->orientation_differs_frame = i + 1;
    seg_open_doubles(seg_open_first_item(item, TAG(0x0028, 0x9110)), TAG(0x0028, 0x0030), ps, 2, &has_ps);
    for (int c = 0; has_ps && c < 2 && !idx->pixel_spacing_differs_frame; c++)
        if (!idx->has_pixel_spacing || fabs(ps[c] - idx->pixel_spacing[c]) > 1e-4 * fabs(ps[c]) + 1e-6)
            idx->pixel_spacing_differs_frame = i + 1;
}

/* Plane Position (Patient), then Plane Position (Slide). */
static void frame_position(struct builder *b, const struct dataset_item *item, struct seg_frame *fr)
{
    const struct dataset_item *pos = seg_open_group_item(b, item, TAG(0x0020, 0x9113));
    if (pos && dataset_vm(pos, TAG(0x0020, 0x0032)) >= 3) {
        bool has = false;
        seg_open_doubles(pos, TAG(0x0020, 0x0032), fr->position, 3, &has);
        if (has)
            fr->position_kind = SEG_POS_PATIENT;
    }
    const struct dataset_item *slide = seg_open_group_item(b, item, TAG(0x0048, 0x021A));
    if (slide) {
        bool hx = dataset_double(slide, TAG(0x0040, 0x072A), 0, &fr->position[0]);
        bool hy = dataset_double(slide, TAG(0x0040, 0x073A), 0, &fr->position[1]);
        dataset_double(slide, TAG(0x0040, 0x074A), 0, &fr->position[2]);
        if (hx && hy)
            fr->position_kind = SEG_POS_SLIDE;
        dataset_int(slide, TAG(0x0048, 0x021E), 0, &fr->matrix_column);
        dataset_int(slide, TAG(0x0048, 0x021F), 0, &fr->matrix_row);
    }
}

/* Source images: DerivationImageSequence > SourceImageSequence, one ref per
 * referenced frame (or one with frame 0 when none is named). */
static bool frame_refs(struct builder *b, const struct dataset_item *item, struct grow *refs,
                       struct seg_frame *fr)
{
    fr->refs_first = (uint32_t)refs->n;
    const uint32_t dis = TAG(0x0008, 0x9124), sis = TAG(0x0008, 0x2112);
    const struct dataset_item *holder = dataset_seq_count(item, dis) ? item : b->shared;
    size_t nd = dataset_seq_count(holder, dis);
    for (size_t d = 0; d < nd; d++) {
        const struct dataset_item *der = dataset_seq_item(holder, dis, d);
        size_t ns = dataset_seq_count(der, sis);
        for (size_t s = 0; s < ns; s++) {
            const struct dataset_item *src = dataset_seq_item(der, sis, s);
            const char *cls = seg_open_str(b, src, TAG(0x0008, 0x1150));
            const char *uid = seg_open_str(b, src, TAG(0x0008, 0x1155));
            unsigned nfr = dataset_vm(src, TAG(0x0008, 0x1160));
            for (unsigned k = 0; k < (nfr ? nfr : 1); k++) {
                struct seg_source_ref *ref = grow_push(refs, b->e);
                if (!ref)
                    return false;
                ref->sop_class_uid = cls;
                ref->sop_instance_uid = uid;
                ref->frame = 0;
                if (nfr)
                    dataset_int(src, TAG(0x0008, 0x1160), k, &ref->frame);
            }
        }
    }
    fr->refs_count = (uint32_t)(refs->n - fr->refs_first);
    return true;
}

/* DimensionIndexValues of the frame's Frame Content item. */
static bool frame_dims(struct builder *b, const struct dataset_item *item, struct grow *dims,
                       struct seg_frame *fr)
{
    fr->dims_first = (uint32_t)dims->n;
    const struct dataset_item *content = seg_open_first_item(item, TAG(0x0020, 0x9111));
    unsigned nv = dataset_vm(content, TAG(0x0020, 0x9157));
    for (unsigned k = 0; k < nv; k++) {
        uint32_t *v = grow_push(dims, b->e);
        if (!v)
            return false;
        *v = 0;
        dataset_uint(content, TAG(0x0020, 0x9157), k, v);
    }
    fr->dims_count = (uint32_t)(dims->n - fr->dims_first);
    return true;
}

/* Copies the grown arrays into the arena. */
static bool keep_arrays(struct builder *b, const struct grow *refs, const struct grow *dims)
{
    struct seg_index *idx = b->idx;
    idx->n_refs = refs->n;
    idx->refs = refs->n ? arena_alloc(b->a, refs->n * refs->size) : NULL;
    idx->n_dim_values = dims->n;
    idx->dim_values = dims->n ? arena_alloc(b->a, dims->n * dims->size) : NULL;
    if ((refs->n && !idx->refs) || (dims->n && !idx->dim_values))
        return err_set(b->e, ERR_NOMEM, "out of memory");
    if (refs->n)
        memcpy(idx->refs, refs->data, refs->n * refs->size);
    if (dims->n)
        memcpy(idx->dim_values, dims->data, dims->n * dims->size);
    return true;
}

bool seg_open_frames(struct builder *b)
{
    struct seg_index *idx = b->idx;
    uint32_t nf = idx->number_of_frames;
    idx->frames = arena_alloc(b->a, (size_t)nf * sizeof *idx->frames);
    if (nf && !idx->frames)
        return err_set(b->e, ERR_NOMEM, "out of memory for %u frames", nf);
    size_t n_items = 0;
    const struct dataset_item **items = dataset_seq_items(b->root, T_PER_FRAME, &n_items);
    if (!items && dataset_seq_count(b->root, T_PER_FRAME))
        return err_set(b->e, ERR_NOMEM, "out of memory listing per-frame items");
    idx->tiled_full_implicit = n_items == 0 && !strcmp(idx->dimension_organization_type, "TILED_FULL");

    struct grow refs = {.size = sizeof(struct seg_source_ref)};
    struct grow dims = {.size = sizeof(uint32_t)};
    struct tiles tiles = {0};
    bool ok = !idx->tiled_full_implicit || tiles_setup(b, &tiles);
    for (uint32_t i = 0; ok && i < nf; i++) {
        struct seg_frame *fr = &idx->frames[i];
        const struct dataset_item *item = i < n_items ? items[i] : NULL;
        frame_segment(b, i, item, &tiles, fr);
        frame_position(b, item, fr);
        frame_geometry_check(b, i, item);
        ok = frame_refs(b, item, &refs, fr) && frame_dims(b, item, &dims, fr);
    }
    ok = ok && keep_arrays(b, &refs, &dims);
    free(items);
    free(refs.data);
    free(dims.data);
    return ok;
}

/* Segment frame lists from the per-frame segment numbers (BINARY, FRACTIONAL). */
static bool frames_by_reference(struct builder *b)
{
    struct seg_index *idx = b->idx;
    for (size_t s = 0; s < idx->n_segments; s++) {
        struct seg_segment *seg = &idx->segments[s];
        size_t n = 0;
        for (uint32_t i = 0; i < idx->number_of_frames; i++)
            n += idx->frames[i].segment_number == seg->number;
        seg->frames = n ? arena_alloc(b->a, n * sizeof(uint32_t)) : NULL;
        if (n && !seg->frames)
            return err_set(b->e, ERR_NOMEM, "out of memory");
        for (uint32_t i = 0; i < idx->number_of_frames; i++)
            if (idx->frames[i].segment_number == seg->number)
                seg->frames[seg->n_frames++] = i + 1;
    }
    return true;
}

/* LABELMAP: a segment's frames are those in which its value occurs, so every
 * frame is decoded once here (never kept). */
static bool frames_by_value(struct builder *b)
{
    struct seg_index *idx = b->idx;
    size_t nvals = idx->bits_allocated > 8 ? 65536 : 256;
    uint8_t *present = malloc(nvals);
    uint32_t **lists = calloc(idx->n_segments ? idx->n_segments : 1, sizeof *lists);
    bool ok = false;
    if (!present || !lists) {
        err_set(b->e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t s = 0; s < idx->n_segments; s++) {
        if (idx->number_of_frames &&
            !(lists[s] = malloc((size_t)idx->number_of_frames * sizeof(uint32_t)))) {
            err_set(b->e, ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    for (uint32_t i = 0; i < idx->number_of_frames; i++) {
        struct seg_pixels px;
        if (!decoder_frame_read(idx, i + 1, &px, b->e))
            goto out;
        memset(present, 0, nvals);
        size_t npix = (size_t)px.rows * px.columns;
        if (px.bits == 16) {
            const uint16_t *v = (const uint16_t *)px.data;
            for (size_t k = 0; k < npix; k++)
                present[v[k]] = 1;
        } else {
            for (size_t k = 0; k < npix; k++)
                present[px.data[k]] = 1;
        }
        decoder_pixels_free(&px);
        for (size_t s = 0; s < idx->n_segments; s++) {
            struct seg_segment *seg = &idx->segments[s];
            if (seg->number >= 0 && (size_t)seg->number < nvals && present[seg->number])
                lists[s][seg->n_frames++] = i + 1;
        }
    }
    for (size_t s = 0; s < idx->n_segments; s++) {
        struct seg_segment *seg = &idx->segments[s];
        if (!seg->n_frames)
            continue;
        seg->frames = arena_alloc(b->a, seg->n_frames * sizeof(uint32_t));
        if (!seg->frames) {
            err_set(b->e, ERR_NOMEM, "out of memory");
            goto out;
        }
        memcpy(seg->frames, lists[s], seg->n_frames * sizeof(uint32_t));
    }
    ok = true;
out:
    if (lists)
        for (size_t s = 0; s < idx->n_segments; s++)
            free(lists[s]);
    free(lists);
    free(present);
    return ok;
}

bool seg_open_segment_frames(struct builder *b)
{
    /* Legacy LABELED objects (SOP class 66.4) still name each frame's segment. */
    struct seg_index *idx = b->idx;
    bool by_value = !strcmp(idx->sop_class_uid, SEG_SOP_CLASS_LABELMAP) || !strcmp(idx->segmentation_type, "LABELMAP");
    return by_value ? frames_by_value(b) : frames_by_reference(b);
}
