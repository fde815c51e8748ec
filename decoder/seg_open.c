/* Builds the SEG index from a parsed file: instance attributes, segments,
 * the per-frame index (Per-Frame Functional Groups first, then Shared), and
 * the pixel layout. Pixel Data is only located, except for LABELMAP objects,
 * whose segment frame lists depend on which values each frame holds. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "decoder/arena.h"
#include "decoder/dataset.h"
#include "decoder/frame.h"
#include "decoder/pixel_locate.h"
#include "decoder/seg.h"

#define T_SOP_CLASS TAG(0x0008, 0x0016)
#define T_MEDIA_SOP_CLASS TAG(0x0002, 0x0002)
#define T_PER_FRAME TAG(0x5200, 0x9230)
#define T_SHARED TAG(0x5200, 0x9229)

struct builder {
    struct dataset_file *f;
    const struct dataset_item *root, *shared;
    struct seg_index *idx;
    struct arena *a;
    struct err *e;
};

static const char *str(struct builder *b, const struct dataset_item *it, uint32_t tag)
{
    return arena_str(b->a, it ? dataset_string(b->f, it, tag, 0) : NULL);
}

/* Whole multi-valued string (e.g. ContentCreatorName components stay as written). */
static const char *str_all(struct builder *b, const struct dataset_item *it, uint32_t tag)
{
    return arena_str(b->a, it ? dataset_string(b->f, it, tag, -1) : NULL);
}

static const struct dataset_item *first_item(const struct dataset_item *it, uint32_t tag)
{
    return it ? dataset_seq_item(it, tag, 0) : NULL;
}

/* The item of functional group `group` for a frame: per-frame first, then shared. */
static const struct dataset_item *group_item(struct builder *b, const struct dataset_item *frame_item,
                                             uint32_t group)
{
    const struct dataset_item *g = first_item(frame_item, group);
    return g ? g : first_item(b->shared, group);
}

static void read_code(struct builder *b, const struct dataset_item *it, struct seg_code *c)
{
    const char *value = it ? dataset_string(b->f, it, TAG(0x0008, 0x0100), 0) : NULL;
    if (!value && it)
        value = dataset_string(b->f, it, TAG(0x0008, 0x0119), 0); /* LongCodeValue */
    if (!value && it)
        value = dataset_string(b->f, it, TAG(0x0008, 0x0120), 0); /* URNCodeValue */
    c->value = arena_str(b->a, value);
    c->scheme = str(b, it, TAG(0x0008, 0x0102));
    c->meaning = str(b, it, TAG(0x0008, 0x0104));
}

static bool read_codes(struct builder *b, const struct dataset_item *it, uint32_t tag, struct seg_codes *out)
{
    size_t n = dataset_seq_count(it, tag);
    out->count = 0;
    out->items = n ? arena_alloc(b->a, n * sizeof *out->items) : NULL;
    if (n && !out->items)
        return err_set(b->e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        read_code(b, dataset_seq_item(it, tag, i), &out->items[out->count++]);
    return true;
}

/* A distinct colour per segment number when the object recommends none. */
static void default_rgb(int32_t number, uint8_t rgb[3])
{
    static const uint8_t palette[][3] = {
        {221, 84, 84},  {77, 228, 121}, {166, 70, 235}, {189, 180, 116}, {109, 182, 196},
        {204, 101, 0},  {251, 208, 31}, {190, 57, 155}, {0, 161, 196},   {123, 198, 66},
        {238, 130, 238}, {255, 160, 122},
    };
    size_t n = sizeof palette / sizeof *palette;
    size_t i = (size_t)((number < 0 ? -number : number) % (int32_t)n);
    memcpy(rgb, palette[i], 3);
}

static uint8_t to_byte(double v)
{
    double x = round(v * 255.0);
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

static int cmp_segment(const void *x, const void *y)
{
    const struct seg_segment *a = x, *b = y;
    return (a->number > b->number) - (a->number < b->number);
}

static bool read_segments(struct builder *b)
{
    struct seg_index *idx = b->idx;
    const uint32_t seq = TAG(0x0062, 0x0002);
    size_t n = dataset_seq_count(b->root, seq);
    idx->segments = n ? arena_alloc(b->a, n * sizeof *idx->segments) : NULL;
    if (n && !idx->segments)
        return err_set(b->e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct dataset_item *it = dataset_seq_item(b->root, seq, i);
        struct seg_segment *s = &idx->segments[idx->n_segments];
        if (!dataset_int(it, TAG(0x0062, 0x0004), 0, &s->number))
            return err_set(b->e, ERR_INVALID, "segment item %zu has no SegmentNumber", i + 1);
        for (size_t j = 0; j < idx->n_segments; j++)
            if (idx->segments[j].number == s->number)
                return err_set(b->e, ERR_INVALID, "SegmentNumber %d appears twice", s->number);
        s->label = str(b, it, TAG(0x0062, 0x0005));
        s->description = str(b, it, TAG(0x0062, 0x0006));
        s->algorithm_type = str(b, it, TAG(0x0062, 0x0008));
        s->algorithm_name = str(b, it, TAG(0x0062, 0x0009));
        read_code(b, first_item(it, TAG(0x0062, 0x0003)), &s->category);
        const struct dataset_item *type = first_item(it, TAG(0x0062, 0x000F));
        read_code(b, type, &s->type);
        /* Modifiers live inside the property type item (older writers: beside it). */
        if (!read_codes(b, type ? type : it, TAG(0x0062, 0x0011), &s->type_modifiers))
            return false;
        if (!s->type_modifiers.count && type && !read_codes(b, it, TAG(0x0062, 0x0011), &s->type_modifiers))
            return false;
        const struct dataset_item *region = first_item(it, TAG(0x0008, 0x2218));
        read_code(b, region, &s->anatomic_region);
        if (!read_codes(b, region ? region : it, TAG(0x0008, 0x2220), &s->anatomic_region_modifiers))
            return false;
        s->tracking_id = str(b, it, TAG(0x0062, 0x0020));
        s->tracking_uid = str(b, it, TAG(0x0062, 0x0021));
        uint32_t lab[3];
        if (dataset_vm(it, TAG(0x0062, 0x000D)) >= 3 && dataset_uint(it, TAG(0x0062, 0x000D), 0, &lab[0]) &&
            dataset_uint(it, TAG(0x0062, 0x000D), 1, &lab[1]) &&
            dataset_uint(it, TAG(0x0062, 0x000D), 2, &lab[2]) && lab[0] <= 65535 && lab[1] <= 65535 &&
            lab[2] <= 65535) {
            s->has_lab = true;
            for (int k = 0; k < 3; k++)
                s->lab[k] = (uint16_t)lab[k];
            double rgb[3];
            dataset_lab_to_rgb(s->lab, rgb);
            for (int k = 0; k < 3; k++)
                s->rgb[k] = to_byte(rgb[k]);
            s->rgb_from_lab = true;
        } else {
            default_rgb(s->number, s->rgb);
        }
        idx->n_segments++;
    }
    if (idx->n_segments)
        qsort(idx->segments, idx->n_segments, sizeof *idx->segments, cmp_segment);
    return true;
}

static void read_double_n(const struct dataset_item *it, uint32_t tag, double *out, unsigned n, bool *has)
{
    if (!it || dataset_vm(it, tag) < n)
        return;
    for (unsigned i = 0; i < n; i++)
        if (!dataset_double(it, tag, i, &out[i]))
            return;
    *has = true;
}

static bool read_instance(struct builder *b)
{
    struct seg_index *idx = b->idx;
    const struct dataset_item *r = b->root;
    idx->study_uid = str(b, r, TAG(0x0020, 0x000D));
    idx->series_uid = str(b, r, TAG(0x0020, 0x000E));
    idx->sop_instance_uid = str(b, r, TAG(0x0008, 0x0018));
    idx->frame_of_reference_uid = str(b, r, TAG(0x0020, 0x0052));
    idx->patient_id = str(b, r, TAG(0x0010, 0x0020));
    idx->patient_name = str_all(b, r, TAG(0x0010, 0x0010));
    idx->study_date = str(b, r, TAG(0x0008, 0x0020));
    idx->modality = str(b, r, TAG(0x0008, 0x0060));
    idx->series_number = str(b, r, TAG(0x0020, 0x0011));
    idx->instance_number = str(b, r, TAG(0x0020, 0x0013));
    idx->series_description = str(b, r, TAG(0x0008, 0x103E));
    idx->study_time = str(b, r, TAG(0x0008, 0x0030));
    idx->accession_number = str(b, r, TAG(0x0008, 0x0050));
    idx->study_description = str(b, r, TAG(0x0008, 0x1030));
    idx->study_id = str(b, r, TAG(0x0020, 0x0010));
    idx->referring_physician = str_all(b, r, TAG(0x0008, 0x0090));
    idx->patient_birth_date = str(b, r, TAG(0x0010, 0x0030));
    idx->patient_sex = str(b, r, TAG(0x0010, 0x0040));
    idx->manufacturer = str(b, r, TAG(0x0008, 0x0070));
    idx->software_versions = str_all(b, r, TAG(0x0018, 0x1020));
    idx->content_label = str(b, r, TAG(0x0070, 0x0080));
    idx->content_description = str(b, r, TAG(0x0070, 0x0081));
    idx->content_creator = str_all(b, r, TAG(0x0070, 0x0084));
    idx->content_date = str(b, r, TAG(0x0008, 0x0023));
    idx->content_time = str(b, r, TAG(0x0008, 0x0033));
    idx->segmentation_type = str(b, r, TAG(0x0062, 0x0001));
    idx->fractional_type = str(b, r, TAG(0x0062, 0x0010));
    idx->photometric = str(b, r, TAG(0x0028, 0x0004));
    idx->segments_overlap = str(b, r, TAG(0x0062, 0x0013));
    idx->dimension_organization_type = str(b, r, TAG(0x0020, 0x9311));
    dataset_uint(r, TAG(0x0048, 0x0007), 0, &idx->total_matrix_rows);
    dataset_uint(r, TAG(0x0048, 0x0006), 0, &idx->total_matrix_columns);
    dataset_uint(r, TAG(0x0048, 0x0303), 0, &idx->total_matrix_focal_planes);

    idx->concatenation_uid = str(b, r, TAG(0x0020, 0x9161));
    idx->concatenation = idx->concatenation_uid[0] != 0;
    dataset_uint(r, TAG(0x0020, 0x9228), 0, &idx->concatenation_frame_offset);
    dataset_uint(r, TAG(0x0020, 0x9162), 0, &idx->in_concatenation_number);
    dataset_uint(r, TAG(0x0020, 0x9163), 0, &idx->in_concatenation_total);

    /* Geometry: shared functional groups, then the first frame's, then top level. */
    const struct dataset_item *first = dataset_seq_item(r, T_PER_FRAME, 0);
    const struct dataset_item *measures = group_item(b, first, TAG(0x0028, 0x9110));
    read_double_n(measures, TAG(0x0028, 0x0030), idx->pixel_spacing, 2, &idx->has_pixel_spacing);
    read_double_n(measures, TAG(0x0018, 0x0050), &idx->slice_thickness, 1, &idx->has_slice_thickness);
    read_double_n(measures, TAG(0x0018, 0x0088), &idx->spacing_between_slices, 1,
                  &idx->has_spacing_between_slices);
    if (!idx->has_pixel_spacing)
        read_double_n(r, TAG(0x0028, 0x0030), idx->pixel_spacing, 2, &idx->has_pixel_spacing);
    if (!idx->has_slice_thickness)
        read_double_n(r, TAG(0x0018, 0x0050), &idx->slice_thickness, 1, &idx->has_slice_thickness);
    const struct dataset_item *orient = group_item(b, first, TAG(0x0020, 0x9116));
    read_double_n(orient, TAG(0x0020, 0x0037), idx->orientation, 6, &idx->has_orientation);
    if (!idx->has_orientation)
        read_double_n(r, TAG(0x0020, 0x0037), idx->orientation, 6, &idx->has_orientation);

    /* Referenced series. */
    const uint32_t rss = TAG(0x0008, 0x1115), ris = TAG(0x0008, 0x114A);
    size_t ns = dataset_seq_count(r, rss);
    idx->ref_series = ns ? arena_alloc(b->a, ns * sizeof *idx->ref_series) : NULL;
    if (ns && !idx->ref_series)
        return err_set(b->e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ns; i++) {
        const struct dataset_item *s = dataset_seq_item(r, rss, i);
        struct seg_ref_series *rs = &idx->ref_series[idx->n_ref_series++];
        rs->series_uid = str(b, s, TAG(0x0020, 0x000E));
        size_t ni = dataset_seq_count(s, ris);
        rs->instance_uids = ni ? arena_alloc(b->a, ni * sizeof(char *)) : NULL;
        rs->class_uids = ni ? arena_alloc(b->a, ni * sizeof(char *)) : NULL;
        if (ni && (!rs->instance_uids || !rs->class_uids))
            return err_set(b->e, ERR_NOMEM, "out of memory");
        for (size_t j = 0; j < ni; j++) {
            const struct dataset_item *inst = dataset_seq_item(s, ris, j);
            rs->class_uids[j] = str(b, inst, TAG(0x0008, 0x1150));
            rs->instance_uids[j] = str(b, inst, TAG(0x0008, 0x1155));
        }
        rs->n_instances = ni;
    }

    /* Dimension index. */
    const uint32_t dis = TAG(0x0020, 0x9222);
    size_t nd = dataset_seq_count(r, dis);
    if (nd) {
        idx->dim_index_pointers = arena_alloc(b->a, nd * sizeof(uint32_t));
        idx->dim_functional_group_pointers = arena_alloc(b->a, nd * sizeof(uint32_t));
        idx->dim_descriptions = arena_alloc(b->a, nd * sizeof(char *));
        if (!idx->dim_index_pointers || !idx->dim_functional_group_pointers || !idx->dim_descriptions)
            return err_set(b->e, ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < nd; i++) {
            const struct dataset_item *d = dataset_seq_item(r, dis, i);
            dataset_uint(d, TAG(0x0020, 0x9165), 0, &idx->dim_index_pointers[i]);
            dataset_uint(d, TAG(0x0020, 0x9167), 0, &idx->dim_functional_group_pointers[i]);
            idx->dim_descriptions[i] = str(b, d, TAG(0x0020, 0x9421));
        }
        idx->n_dims = nd;
    }
    return true;
}

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

static bool read_frames(struct builder *b)
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
    bool ok = false;

    uint32_t tiles_per_segment = 0, tile_cols = 0, tile_rows = 0;
    if (idx->tiled_full_implicit) {
        if (!idx->total_matrix_rows || !idx->total_matrix_columns) {
            err_set(b->e, ERR_INVALID, "TILED_FULL without TotalPixelMatrixRows/Columns");
            goto out;
        }
        tile_cols = (idx->total_matrix_columns + idx->columns - 1) / idx->columns;
        tile_rows = (idx->total_matrix_rows + idx->rows - 1) / idx->rows;
        uint32_t planes = idx->total_matrix_focal_planes ? idx->total_matrix_focal_planes : 1;
        uint64_t per = (uint64_t)tile_cols * tile_rows * planes;
        if (per == 0 || per > UINT32_MAX) {
            err_set(b->e, ERR_INVALID, "TILED_FULL tile count out of range");
            goto out;
        }
        tiles_per_segment = (uint32_t)per;
    }

    for (uint32_t i = 0; i < nf; i++) {
        struct seg_frame *fr = &idx->frames[i];
        const struct dataset_item *item = i < n_items ? items[i] : NULL;

        if (idx->tiled_full_implicit) {
            /* Implicit order: segment outermost, then focal plane, tile row, tile column. */
            uint32_t s = i / tiles_per_segment, t = i % tiles_per_segment;
            if (s < idx->n_segments)
                fr->segment_number = idx->segments[s].number;
            uint32_t in_plane = t % (tile_cols * tile_rows);
            fr->matrix_row = (int32_t)((in_plane / tile_cols) * idx->rows + 1);
            fr->matrix_column = (int32_t)((in_plane % tile_cols) * idx->columns + 1);
        } else {
            const struct dataset_item *sid = group_item(b, item, TAG(0x0062, 0x000A));
            int32_t num;
            if (sid && dataset_int(sid, TAG(0x0062, 0x000B), 0, &num))
                fr->segment_number = num;
        }

        const struct dataset_item *pos = group_item(b, item, TAG(0x0020, 0x9113));
        if (pos && dataset_vm(pos, TAG(0x0020, 0x0032)) >= 3) {
            bool has = false;
            read_double_n(pos, TAG(0x0020, 0x0032), fr->position, 3, &has);
            if (has)
                fr->position_kind = SEG_POS_PATIENT;
        }
        const struct dataset_item *slide = group_item(b, item, TAG(0x0048, 0x021A));
        if (slide) {
            bool hx = dataset_double(slide, TAG(0x0040, 0x072A), 0, &fr->position[0]);
            bool hy = dataset_double(slide, TAG(0x0040, 0x073A), 0, &fr->position[1]);
            dataset_double(slide, TAG(0x0040, 0x074A), 0, &fr->position[2]);
            if (hx && hy)
                fr->position_kind = SEG_POS_SLIDE;
            dataset_int(slide, TAG(0x0048, 0x021E), 0, &fr->matrix_column);
            dataset_int(slide, TAG(0x0048, 0x021F), 0, &fr->matrix_row);
        }

        /* Source images: DerivationImageSequence > SourceImageSequence. */
        fr->refs_first = (uint32_t)refs.n;
        const uint32_t dis = TAG(0x0008, 0x9124), sis = TAG(0x0008, 0x2112);
        const struct dataset_item *holder = dataset_seq_count(item, dis) ? item : b->shared;
        size_t nd = dataset_seq_count(holder, dis);
        for (size_t d = 0; d < nd; d++) {
            const struct dataset_item *der = dataset_seq_item(holder, dis, d);
            size_t ns = dataset_seq_count(der, sis);
            for (size_t s = 0; s < ns; s++) {
                const struct dataset_item *src = dataset_seq_item(der, sis, s);
                const char *cls = str(b, src, TAG(0x0008, 0x1150));
                const char *uid = str(b, src, TAG(0x0008, 0x1155));
                unsigned nfr = dataset_vm(src, TAG(0x0008, 0x1160));
                for (unsigned k = 0; k < (nfr ? nfr : 1); k++) {
                    struct seg_source_ref *ref = grow_push(&refs, b->e);
                    if (!ref)
                        goto out;
                    ref->sop_class_uid = cls;
                    ref->sop_instance_uid = uid;
                    ref->frame = 0;
                    if (nfr)
                        dataset_int(src, TAG(0x0008, 0x1160), k, &ref->frame);
                }
            }
        }
        fr->refs_count = (uint32_t)(refs.n - fr->refs_first);

        fr->dims_first = (uint32_t)dims.n;
        const struct dataset_item *content = first_item(item, TAG(0x0020, 0x9111));
        unsigned nv = dataset_vm(content, TAG(0x0020, 0x9157));
        for (unsigned k = 0; k < nv; k++) {
            uint32_t *v = grow_push(&dims, b->e);
            if (!v)
                goto out;
            *v = 0;
            dataset_uint(content, TAG(0x0020, 0x9157), k, v);
        }
        fr->dims_count = (uint32_t)(dims.n - fr->dims_first);
    }

    idx->n_refs = refs.n;
    idx->refs = refs.n ? arena_alloc(b->a, refs.n * refs.size) : NULL;
    idx->n_dim_values = dims.n;
    idx->dim_values = dims.n ? arena_alloc(b->a, dims.n * dims.size) : NULL;
    if ((refs.n && !idx->refs) || (dims.n && !idx->dim_values)) {
        err_set(b->e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (refs.n)
        memcpy(idx->refs, refs.data, refs.n * refs.size);
    if (dims.n)
        memcpy(idx->dim_values, dims.data, dims.n * dims.size);
    ok = true;
out:
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

static const struct {
    const char *uid;
    enum seg_encoding encoding;
    bool explicit_vr, big_endian, deflated;
} syntaxes[] = {
    {"1.2.840.10008.1.2", SEG_ENC_NATIVE, false, false, false},
    {"1.2.840.10008.1.2.1", SEG_ENC_NATIVE, true, false, false},
    {"1.2.840.10008.1.2.2", SEG_ENC_NATIVE, true, true, false},
    {"1.2.840.10008.1.2.1.99", SEG_ENC_NATIVE, true, false, true},
    {"1.2.840.10008.1.2.5", SEG_ENC_RLE, true, false, false},
    {"1.2.840.10008.1.2.4.80", SEG_ENC_JPEGLS, true, false, false},
    {"1.2.840.10008.1.2.4.81", SEG_ENC_JPEGLS, true, false, false},
    {"1.2.840.10008.1.2.4.90", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.4.91", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.4.201", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.4.202", SEG_ENC_J2K, true, false, false},
    {"1.2.840.10008.1.2.8.1", SEG_ENC_DEFLATE_FRAME, true, false, false},
    {"1.2.840.10008.1.2.1.98", SEG_ENC_ENCAPSULATED_NATIVE, true, false, false},
};

static bool is_jpeg_start(const struct seg_index *idx, uint32_t fragment)
{
    uint8_t head[4];
    const struct seg_fragment *f = &idx->pixels.fragments[fragment];
    if (f->length < 4 || pread(idx->fd, head, 4, (off_t)f->offset) != 4)
        return false;
    if (idx->pixels.encoding == SEG_ENC_J2K)
        return (head[0] == 0xFF && head[1] == 0x4F && head[2] == 0xFF && head[3] == 0x51) ||
               !memcmp(head, "\0\0\0\x0c", 4); /* JP2 signature box */
    return head[0] == 0xFF && head[1] == 0xD8; /* JPEG-LS SOI */
}

/* Which fragments make up each frame. */
static bool map_fragments(struct builder *b, const struct pixel_location *loc)
{
    struct seg_index *idx = b->idx;
    struct seg_pixel_layout *px = &idx->pixels;
    uint32_t nf = idx->number_of_frames;
    px->frame_fragment = arena_alloc(b->a, (size_t)nf * sizeof(uint32_t));
    px->frame_fragments_count = arena_alloc(b->a, (size_t)nf * sizeof(uint32_t));
    if (nf && (!px->frame_fragment || !px->frame_fragments_count))
        return err_set(b->e, ERR_NOMEM, "out of memory");
    size_t nfrag = px->n_fragments;
    if (nfrag == nf) {
        for (uint32_t i = 0; i < nf; i++) {
            px->frame_fragment[i] = i;
            px->frame_fragments_count[i] = 1;
        }
        return true;
    }
    if (nfrag < nf)
        return err_set(b->e, ERR_INVALID, "encapsulated Pixel Data has %zu fragments for %u frames", nfrag, nf);
    if (nf == 1) {
        px->frame_fragment[0] = 0;
        px->frame_fragments_count[0] = (uint32_t)nfrag;
        return true;
    }
    if (loc->n_offset_table == nf) {
        /* Offsets count from the first fragment's item tag: 8 header bytes each. */
        uint64_t base = px->fragments[0].offset - 8;
        uint32_t k = 0;
        for (uint32_t i = 0; i < nf; i++) {
            uint64_t want = base + loc->offset_table[i];
            while (k < nfrag && px->fragments[k].offset - 8 < want)
                k++;
            if (k >= nfrag || px->fragments[k].offset - 8 != want)
                return err_set(b->e, ERR_INVALID, "Basic Offset Table entry %u points between fragments", i + 1);
            px->frame_fragment[i] = k;
        }
    } else if (px->encoding == SEG_ENC_J2K || px->encoding == SEG_ENC_JPEGLS) {
        /* No usable offset table: a frame starts at each fragment that opens a codestream. */
        uint32_t i = 0;
        for (uint32_t k = 0; k < nfrag && i <= nf; k++)
            if (k == 0 || is_jpeg_start(idx, k)) {
                if (i == nf)
                    return err_set(b->e, ERR_INVALID, "more codestreams than the %u frames declared", nf);
                px->frame_fragment[i++] = k;
            }
        if (i != nf)
            return err_set(b->e, ERR_INVALID, "found %u codestreams for %u frames", i, nf);
    } else {
        return err_set(b->e, ERR_INVALID, "%zu fragments for %u frames and no offset table", nfrag, nf);
    }
    for (uint32_t i = 0; i < nf; i++) {
        uint32_t end = i + 1 < nf ? px->frame_fragment[i + 1] : (uint32_t)nfrag;
        if (end <= px->frame_fragment[i])
            return err_set(b->e, ERR_INVALID, "frame %u has no fragments", i + 1);
        px->frame_fragments_count[i] = end - px->frame_fragment[i];
    }
    return true;
}

static bool read_pixels(struct builder *b, int fd, uint64_t size, bool explicit_vr, bool big_endian, bool deflated)
{
    struct seg_index *idx = b->idx;
    struct seg_pixel_layout *px = &idx->pixels;
    if (deflated) {
        size_t len = 0;
        uint8_t *mem = dataset_pixel_copy(b->f, &len, b->e);
        if (!mem)
            return false;
        uint8_t *copy = arena_alloc(b->a, len ? len : 1);
        if (!copy) {
            free(mem);
            return err_set(b->e, ERR_NOMEM, "out of memory");
        }
        memcpy(copy, mem, len);
        free(mem);
        px->memory = copy;
        px->length = len;
        return true;
    }
    struct pixel_location loc;
    if (!decoder_pixel_locate(fd, size, explicit_vr, big_endian, &loc, b->e))
        return false;
    bool ok = false;
    if (!loc.found) {
        err_set(b->e, ERR_INVALID, "the object has no Pixel Data");
        goto out;
    }
    if (loc.encapsulated != (px->encoding != SEG_ENC_NATIVE)) {
        err_set(b->e, ERR_INVALID, "Pixel Data is %s but the transfer syntax %s is %s",
                loc.encapsulated ? "encapsulated" : "native", idx->transfer_syntax_uid,
                loc.encapsulated ? "native" : "encapsulated");
        goto out;
    }
    if (!loc.encapsulated) {
        px->offset = loc.offset;
        px->length = loc.length;
        ok = true;
        goto out;
    }
    px->n_fragments = loc.n_fragments;
    px->fragments = arena_alloc(b->a, loc.n_fragments * sizeof *px->fragments + 1);
    if (!px->fragments) {
        err_set(b->e, ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(px->fragments, loc.fragments, loc.n_fragments * sizeof *px->fragments);
    ok = map_fragments(b, &loc);
out:
    decoder_pixel_location_free(&loc);
    return ok;
}

static bool read_geometry(struct builder *b, const struct seg_limits *lim)
{
    struct seg_index *idx = b->idx;
    const struct dataset_item *r = b->root;
    uint32_t rows = 0, cols = 0, bits = 0, stored = 0, frames = 0;
    if (!dataset_uint(r, TAG(0x0028, 0x0010), 0, &rows) || !dataset_uint(r, TAG(0x0028, 0x0011), 0, &cols) ||
        rows == 0 || cols == 0 || rows > 65535 || cols > 65535)
        return err_set(b->e, ERR_INVALID, "Rows and Columns must be present and between 1 and 65535");
    if (!dataset_uint(r, TAG(0x0028, 0x0100), 0, &bits))
        return err_set(b->e, ERR_INVALID, "BitsAllocated is missing");
    if (!dataset_uint(r, TAG(0x0028, 0x0101), 0, &stored))
        stored = bits;
    if (dataset_has(r, TAG(0x0028, 0x0008)) && dataset_string(b->f, r, TAG(0x0028, 0x0008), 0)) {
        if (!dataset_uint(r, TAG(0x0028, 0x0008), 0, &frames) || frames == 0)
            return err_set(b->e, ERR_INVALID, "NumberOfFrames is not a positive number");
    } else {
        frames = 1; /* real-world defect: absent NumberOfFrames means one frame */
        idx->number_of_frames_absent = true;
    }
    uint32_t samples = 1;
    if (dataset_uint(r, TAG(0x0028, 0x0002), 0, &samples) && samples != 1)
        return err_set(b->e, ERR_UNSUPPORTED, "SamplesPerPixel %u (segmentations have 1)", samples);
    uint64_t max_pixels = lim && lim->max_pixels_per_frame ? lim->max_pixels_per_frame : (1ull << 26);
    uint32_t max_frames = lim && lim->max_frames ? lim->max_frames : 1000000;
    if ((uint64_t)rows * cols > max_pixels)
        return err_set(b->e, ERR_LIMIT, "frame of %ux%u pixels exceeds the max-frame-pixels limit of %llu", rows,
                       cols, (unsigned long long)max_pixels);
    if (frames > max_frames)
        return err_set(b->e, ERR_LIMIT, "%u frames exceed the max-frames limit of %u frames per object", frames,
                       max_frames);
    idx->max_frame_bytes = lim && lim->max_frame_bytes ? lim->max_frame_bytes : (256ull << 20);
    idx->rows = rows;
    idx->columns = cols;
    idx->number_of_frames = frames;
    idx->bits_allocated = (uint16_t)bits;
    idx->bits_stored = (uint16_t)stored;

    const char *st = idx->segmentation_type;
    if (!strcmp(idx->sop_class_uid, SEG_SOP_CLASS_LABELMAP) || !strcmp(st, "LABELMAP") || !strcmp(st, "LABELED")) {
        idx->type = SEG_TYPE_LABELMAP;
        if (bits != 8 && bits != 16 && bits != 32)
            return err_set(b->e, ERR_UNSUPPORTED, "LABELMAP with BitsAllocated %u (8 or 16 expected)", bits);
    } else if (!strcmp(st, "BINARY")) {
        idx->type = SEG_TYPE_BINARY;
        if (bits != 1)
            return err_set(b->e, ERR_INVALID, "BINARY segmentation with BitsAllocated %u (1 expected)", bits);
    } else if (!strcmp(st, "FRACTIONAL")) {
        idx->type = SEG_TYPE_FRACTIONAL;
        if (bits != 8)
            return err_set(b->e, ERR_INVALID, "FRACTIONAL segmentation with BitsAllocated %u (8 expected)", bits);
        if (!dataset_uint(r, TAG(0x0062, 0x000E), 0, &idx->max_fractional_value) ||
            idx->max_fractional_value == 0 || idx->max_fractional_value > 255)
            idx->max_fractional_value = 255;
    } else {
        return err_set(b->e, ERR_UNSUPPORTED, "SegmentationType '%s' is not supported", st);
    }
    return true;
}

/* A lying NumberOfFrames must not buy a large index (and a larger JSON document) with
 * a tiny file: every frame needs at least its native bits, or one 8-byte fragment item
 * when encapsulated, so more frames than twice what the file can hold (plus slack for
 * the tolerated "fewer frames present than declared" defect) are refused. Deflated data
 * sets are exempt (their size on disk says nothing about the inflated size). */
static bool frames_plausible(struct builder *b, uint64_t file_size, bool deflated)
{
    const struct seg_index *idx = b->idx;
    if (deflated)
        return true;
    uint64_t bits = (uint64_t)idx->rows * idx->columns * idx->bits_allocated;
    uint64_t per = idx->pixels.encoding != SEG_ENC_NATIVE ? 8 : (bits + 7) / 8;
    if (per && (uint64_t)idx->number_of_frames > (2 * file_size + 65536) / per)
        return err_set(b->e, ERR_INVALID,
                       "NumberOfFrames %u is not plausible: %llu frames of this size need more than the %llu-byte file",
                       idx->number_of_frames, (unsigned long long)idx->number_of_frames,
                       (unsigned long long)file_size);
    return true;
}

/* Deflated Explicit VR Little Endian: DCMTK inflates the whole data set into memory
 * (about three times its inflated size), so a 0.5 MB file of deflated zeros cost 1.5 GB.
 * Before DCMTK sees the file, inflate it once in 64 KiB steps, counting, and refuse it
 * past the limit. Only the Part 10 meta group is parsed here (its group length and
 * whether it names the deflated syntax); anything odd is left to DCMTK to report. */
#define DEFLATED_TS "1.2.840.10008.1.2.1.99"
static bool inflated_size_ok(int fd, uint64_t size, uint64_t max, struct err *e)
{
    uint8_t head[144];
    if (size < sizeof head || pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
        memcmp(head + 128, "DICM", 4) || memcmp(head + 132, "\x02\x00\x00\x00UL\x04\x00", 8))
        return true;
    /* 64-bit sum: in 32 bits a group length of 0xFFFFFFFF wrapped to a tiny meta_end
     * and a huge read into the 64 KiB buffer (found by fuzz_decoder). */
    uint64_t glen = (uint64_t)head[140] | (uint64_t)head[141] << 8 | (uint64_t)head[142] << 16 |
                    (uint64_t)head[143] << 24;
    uint64_t meta_end = 144 + glen;
    if (meta_end > size || glen > 65536)
        return true;
    uint8_t *in = malloc(65536), *out = malloc(65536);
    bool ok = true;
    if (!in || !out)
        goto done;
    size_t mlen = (size_t)(meta_end - 144);
    if (mlen < strlen(DEFLATED_TS) || pread(fd, in, mlen, 144) != (ssize_t)mlen ||
        !memmem(in, mlen, DEFLATED_TS, strlen(DEFLATED_TS)))
        goto done;
    z_stream z = {0};
    if (inflateInit2(&z, -15) != Z_OK)
        goto done;
    uint64_t off = meta_end, total = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (z.avail_in == 0) {
            ssize_t got = pread(fd, in, 65536, (off_t)off);
            if (got <= 0)
                break;
            off += (uint64_t)got;
            z.next_in = in;
            z.avail_in = (uInt)got;
        }
        z.next_out = out;
        z.avail_out = 65536;
        rc = inflate(&z, Z_NO_FLUSH);
        total += 65536 - z.avail_out;
        if (total > max) {
            ok = err_set(e, ERR_LIMIT, "the deflated data set inflates to more than the max-inflated-bytes limit of %llu",
                         (unsigned long long)max);
            break;
        }
    }
    inflateEnd(&z);
done:
    free(in);
    free(out);
    return ok;
}

static const char *sop_class_name(const char *uid)
{
    static const struct { const char *uid, *name; } names[] = {
        {"1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.2.1", "Enhanced CT Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.1", "Computed Radiography Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.128", "PET Image Storage"},
        {"1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR Storage"},
        {"1.2.840.10008.5.1.4.1.1.481.3", "RT Structure Set Storage"},
        {"1.2.840.10008.5.1.4.1.1.77.1.6", "VL Whole Slide Microscopy Image Storage"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(uid, names[i].uid))
            return names[i].name;
    return NULL;
}

struct seg_index *decoder_seg_open(const char *path, const struct seg_limits *limits, struct err *e)
{
    struct builder b = {.e = e};
    struct seg_index *idx = NULL;
    int fd = -1;
    struct stat st;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, errno == ENOENT || errno == ENOTDIR ? ERR_NOT_FOUND : ERR_IO, "cannot open %s: %s", path,
                strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set(e, ERR_INVALID, "%s is not a regular file", path);
        goto fail;
    }
    if (st.st_size == 0) {
        err_set(e, ERR_INVALID, "%s is empty", path);
        goto fail;
    }

    if (!inflated_size_ok(fd, (uint64_t)st.st_size,
                          limits && limits->max_inflated_bytes ? limits->max_inflated_bytes : (256ull << 20), e))
        goto fail;
    b.f = dataset_open(path, e);
    if (!b.f)
        goto fail;
    b.root = dataset_root(b.f);

    const char *sop = dataset_string(b.f, b.root, T_SOP_CLASS, 0);
    if (!sop)
        sop = dataset_string(b.f, dataset_meta(b.f), T_MEDIA_SOP_CLASS, 0);
    if (!sop) {
        err_set(e, ERR_INVALID, "not a DICOM object: no SOP Class UID");
        goto fail;
    }
    if (strcmp(sop, SEG_SOP_CLASS_SEGMENTATION) && strcmp(sop, SEG_SOP_CLASS_LABELMAP)) {
        const char *name = sop_class_name(sop);
        err_set(e, ERR_UNSUPPORTED, "not a segmentation: SOP Class UID %s%s%s%s", sop, name ? " (" : "",
                name ? name : "", name ? ")" : "");
        goto fail;
    }

    const char *ts = dataset_transfer_syntax(b.f);
    size_t which = sizeof syntaxes / sizeof *syntaxes;
    for (size_t i = 0; i < sizeof syntaxes / sizeof *syntaxes; i++)
        if (!strcmp(ts, syntaxes[i].uid))
            which = i;
    if (which == sizeof syntaxes / sizeof *syntaxes) {
        err_set(e, ERR_UNSUPPORTED, "transfer syntax %s is not supported", ts);
        goto fail;
    }

    b.a = arena_new();
    idx = calloc(1, sizeof *idx);
    if (!b.a || !idx) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    b.idx = idx;
    idx->fd = -1;
    idx->arena = b.a;
    idx->path = strdup(path);
    if (!idx->path) {
        err_set(e, ERR_NOMEM, "out of memory");
        goto fail;
    }
    idx->fd = fd;
    fd = -1;
    idx->transfer_syntax_uid = arena_str(b.a, ts);
    idx->sop_class_uid = arena_str(b.a, sop);
    idx->pixels.encoding = syntaxes[which].encoding;
    idx->pixels.big_endian = syntaxes[which].big_endian;
    b.shared = dataset_seq_item(b.root, T_SHARED, 0);

    if (!read_instance(&b) || !read_geometry(&b, limits) ||
        !frames_plausible(&b, (uint64_t)st.st_size, syntaxes[which].deflated) || !read_segments(&b) ||
        !read_frames(&b))
        goto fail;
    if (!read_pixels(&b, idx->fd, (uint64_t)st.st_size, syntaxes[which].explicit_vr,
                     syntaxes[which].big_endian, syntaxes[which].deflated))
        goto fail;
    /* Legacy LABELED objects (SOP class 66.4) still name each frame's segment. */
    bool by_value = !strcmp(idx->sop_class_uid, SEG_SOP_CLASS_LABELMAP) || !strcmp(idx->segmentation_type, "LABELMAP");
    if (by_value ? !frames_by_value(&b) : !frames_by_reference(&b))
        goto fail;

    idx->memory_bytes = sizeof *idx + arena_bytes(b.a) + strlen(idx->path) + 1;
    dataset_close(b.f);
    return idx;

fail:
    if (idx)
        decoder_seg_free(idx);
    else
        arena_free(b.a);
    dataset_close(b.f);
    if (fd >= 0)
        close(fd);
    if (e && e->code == ERR_OK)
        err_set(e, ERR_INTERNAL, "indexing failed");
    return NULL;
}
