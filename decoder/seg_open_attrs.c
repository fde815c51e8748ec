/* Attributes of a SEG (the first stages of decoder_seg_open(), see seg_open.h).
 * Design note: this file owns reading the top-level and functional-group
 * attributes into the index: the instance (UIDs, patient / study / series /
 * content strings, concatenation, spacing and orientation, referenced series,
 * dimension index), the image (Rows, Columns, bits, NumberOfFrames, type) and
 * the segments. Its invariants:
 *   - every string is interned in the index's arena and never NULL ("" when
 *     absent); multi-valued names keep all their components;
 *   - a functional-group attribute is looked up in the frame's item first,
 *     then in the shared item (seg_open_group_item);
 *   - segments are keyed by SegmentNumber (gaps allowed, duplicates refused)
 *     and sorted by it; every segment has a colour (from its CIELab value,
 *     else a palette colour by number);
 *   - the limits (pixels per frame, frames) are checked before anything is
 *     sized by them. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/seg_open.h"

const char *seg_open_str(struct builder *b, const struct dataset_item *it, uint32_t tag)
{
    return arena_str(b->a, it ? dataset_string(b->f, it, tag, 0) : NULL);
}

/* Whole multi-valued string (e.g. ContentCreatorName components stay as written). */
const char *seg_open_str_all(struct builder *b, const struct dataset_item *it, uint32_t tag)
{
    return arena_str(b->a, it ? dataset_string(b->f, it, tag, -1) : NULL);
}

const struct dataset_item *seg_open_first_item(const struct dataset_item *it, uint32_t tag)
{
    return it ? dataset_seq_item(it, tag, 0) : NULL;
}

const struct dataset_item *seg_open_group_item(struct builder *b, const struct dataset_item *frame_item,
                                               uint32_t group)
{
    const struct dataset_item *g = seg_open_first_item(frame_item, group);
    return g ? g : seg_open_first_item(b->shared, group);
}

static void read_code(struct builder *b, const struct dataset_item *it, struct seg_code *c)
{
    const char *value = it ? dataset_string(b->f, it, TAG(0x0008, 0x0100), 0) : NULL;
    if (!value && it)
        value = dataset_string(b->f, it, TAG(0x0008, 0x0119), 0); /* LongCodeValue */
    if (!value && it)
        value = dataset_string(b->f, it, TAG(0x0008, 0x0120), 0); /* URNCodeValue */
    c->value = arena_str(b->a, value);
    c->scheme = seg_open_str(b, it, TAG(0x0008, 0x0102));
    c->meaning = seg_open_str(b, it, TAG(0x0008, 0x0104));
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

void seg_open_doubles(const struct dataset_item *it, uint32_t tag, double *out, unsigned n, bool *has)
{
    if (!it || dataset_vm(it, tag) < n)
        return;
    for (unsigned i = 0; i < n; i++)
        if (!dataset_double(it, tag, i, &out[i]))
            return;
    *has = true;
}

/* The instance's strings, in the order they have always been read (so the
 * arena holds them as before). */
static const struct {
    size_t offset;
    uint32_t tag;
    bool all; /* the whole multi-valued string */
} STRINGS[] = {
#define S(field, group, element, all) {offsetof(struct seg_index, field), TAG(group, element), all}
    S(study_uid, 0x0020, 0x000D, false),
    S(series_uid, 0x0020, 0x000E, false),
    S(sop_instance_uid, 0x0008, 0x0018, false),
    S(frame_of_reference_uid, 0x0020, 0x0052, false),
    S(patient_id, 0x0010, 0x0020, false),
    S(patient_name, 0x0010, 0x0010, true),
    S(study_date, 0x0008, 0x0020, false),
    S(modality, 0x0008, 0x0060, false),
    S(series_number, 0x0020, 0x0011, false),
    S(instance_number, 0x0020, 0x0013, false),
    S(series_description, 0x0008, 0x103E, false),
    S(study_time, 0x0008, 0x0030, false),
    S(accession_number, 0x0008, 0x0050, false),
    S(study_description, 0x0008, 0x1030, false),
    S(study_id, 0x0020, 0x0010, false),
    S(referring_physician, 0x0008, 0x0090, true),
    S(patient_birth_date, 0x0010, 0x0030, false),
    S(patient_sex, 0x0010, 0x0040, false),
    S(manufacturer, 0x0008, 0x0070, false),
    S(software_versions, 0x0018, 0x1020, true),
    S(content_label, 0x0070, 0x0080, false),
    S(content_description, 0x0070, 0x0081, false),
    S(content_creator, 0x0070, 0x0084, true),
    S(content_date, 0x0008, 0x0023, false),
    S(content_time, 0x0008, 0x0033, false),
    S(segmentation_type, 0x0062, 0x0001, false),
    S(fractional_type, 0x0062, 0x0010, false),
    S(photometric, 0x0028, 0x0004, false),
    S(segments_overlap, 0x0062, 0x0013, false),
    S(dimension_organization_type, 0x0020, 0x9311, false),
    S(concatenation_uid, 0x0020, 0x9161, false),
#undef S
};

/* Geometry: shared functional groups, then the first frame's, then top level. */
static void read_spacing(struct builder *b)
{
    struct seg_index *idx = b->idx;
    const struct dataset_item *r = b->root;
    const struct dataset_item *first = dataset_seq_item(r, T_PER_FRAME, 0);
    const struct dataset_item *measures = seg_open_group_item(b, first, TAG(0x0028, 0x9110));
    seg_open_doubles(measures, TAG(0x0028, 0x0030), idx->pixel_spacing, 2, &idx->has_pixel_spacing);
    seg_open_doubles(measures, TAG(0x0018, 0x0050), &idx->slice_thickness, 1, &idx->has_slice_thickness);
    seg_open_doubles(measures, TAG(0x0018, 0x0088), &idx->spacing_between_slices, 1,
                     &idx->has_spacing_between_slices);
    if (!idx->has_pixel_spacing)
        seg_open_doubles(r, TAG(0x0028, 0x0030), idx->pixel_spacing, 2, &idx->has_pixel_spacing);
    if (!idx->has_slice_thickness)
        seg_open_doubles(r, TAG(0x0018, 0x0050), &idx->slice_thickness, 1, &idx->has_slice_thickness);
    const struct dataset_item *orient = seg_open_group_item(b, first, TAG(0x0020, 0x9116));
    seg_open_doubles(orient, TAG(0x0020, 0x0037), idx->orientation, 6, &idx->has_orientation);
    if (!idx->has_orientation)
        seg_open_doubles(r, TAG(0x0020, 0x0037), idx->orientation, 6, &idx->has_orientation);
}

static bool read_ref_series(struct builder *b)
{
    struct seg_index *idx = b->idx;
    const struct dataset_item *r = b->root;
    const uint32_t rss = TAG(0x0008, 0x1115), ris = TAG(0x0008, 0x114A);
    size_t ns = dataset_seq_count(r, rss);
    idx->ref_series = ns ? arena_alloc(b->a, ns * sizeof *idx->ref_series) : NULL;
    if (ns && !idx->ref_series)
        return err_set(b->e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ns; i++) {
        const struct dataset_item *s = dataset_seq_item(r, rss, i);
        struct seg_ref_series *rs = &idx->ref_series[idx->n_ref_series++];
        rs->series_uid = seg_open_str(b, s, TAG(0x0020, 0x000E));
        size_t ni = dataset_seq_count(s, ris);
        rs->instance_uids = ni ? arena_alloc(b->a, ni * sizeof(char *)) : NULL;
        rs->class_uids = ni ? arena_alloc(b->a, ni * sizeof(char *)) : NULL;
        if (ni && (!rs->instance_uids || !rs->class_uids))
            return err_set(b->e, ERR_NOMEM, "out of memory");
        for (size_t j = 0; j < ni; j++) {
            const struct dataset_item *inst = dataset_seq_item(s, ris, j);
            rs->class_uids[j] = seg_open_str(b, inst, TAG(0x0008, 0x1150));
            rs->instance_uids[j] = seg_open_str(b, inst, TAG(0x0008, 0x1155));
        }
        rs->n_instances = ni;
    }
    return true;
}

static bool read_dimension_index(struct builder *b)
{
    struct seg_index *idx = b->idx;
    const uint32_t dis = TAG(0x0020, 0x9222);
    size_t nd = dataset_seq_count(b->root, dis);
    if (!nd)
        return true;
    idx->dim_index_pointers = arena_alloc(b->a, nd * sizeof(uint32_t));
    idx->dim_functional_group_pointers = arena_alloc(b->a, nd * sizeof(uint32_t));
    idx->dim_descriptions = arena_alloc(b->a, nd * sizeof(char *));
    if (!idx->dim_index_pointers || !idx->dim_functional_group_pointers || !idx->dim_descriptions)
        return err_set(b->e, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nd; i++) {
        const struct dataset_item *d = dataset_seq_item(b->root, dis, i);
        dataset_uint(d, TAG(0x0020, 0x9165), 0, &idx->dim_index_pointers[i]);
        dataset_uint(d, TAG(0x0020, 0x9167), 0, &idx->dim_functional_group_pointers[i]);
        idx->dim_descriptions[i] = seg_open_str(b, d, TAG(0x0020, 0x9421));
    }
    idx->n_dims = nd;
    return true;
}

bool seg_open_instance(struct builder *b)
{
    struct seg_index *idx = b->idx;
    const struct dataset_item *r = b->root;
    for (size_t i = 0; i < sizeof STRINGS / sizeof *STRINGS; i++) {
        const char **dst = (const char **)((char *)idx + STRINGS[i].offset);
        *dst = STRINGS[i].all ? seg_open_str_all(b, r, STRINGS[i].tag) : seg_open_str(b, r, STRINGS[i].tag);
    }
    dataset_uint(r, TAG(0x0048, 0x0007), 0, &idx->total_matrix_rows);
    dataset_uint(r, TAG(0x0048, 0x0006), 0, &idx->total_matrix_columns);
    dataset_uint(r, TAG(0x0048, 0x0303), 0, &idx->total_matrix_focal_planes);
    idx->concatenation = idx->concatenation_uid[0] != 0;
    dataset_uint(r, TAG(0x0020, 0x9228), 0, &idx->concatenation_frame_offset);
    dataset_uint(r, TAG(0x0020, 0x9162), 0, &idx->in_concatenation_number);
    dataset_uint(r, TAG(0x0020, 0x9163), 0, &idx->in_concatenation_total);
    read_spacing(b);
    return read_ref_series(b) && read_dimension_index(b);
}

bool seg_open_image(struct builder *b, const struct seg_limits *lim)
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

bool seg_open_segments(struct builder *b)
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
        s->label = seg_open_str(b, it, TAG(0x0062, 0x0005));
        s->description = seg_open_str(b, it, TAG(0x0062, 0x0006));
        s->algorithm_type = seg_open_str(b, it, TAG(0x0062, 0x0008));
        s->algorithm_name = seg_open_str(b, it, TAG(0x0062, 0x0009));
        read_code(b, seg_open_first_item(it, TAG(0x0062, 0x0003)), &s->category);
        const struct dataset_item *type = seg_open_first_item(it, TAG(0x0062, 0x000F));
        read_code(b, type, &s->type);
        /* Modifiers live inside the property type item (older writers: beside it). */
        if (!read_codes(b, type ? type : it, TAG(0x0062, 0x0011), &s->type_modifiers))
            return false;
        if (!s->type_modifiers.count && type && !read_codes(b, it, TAG(0x0062, 0x0011), &s->type_modifiers))
            return false;
        const struct dataset_item *region = seg_open_first_item(it, TAG(0x0008, 0x2218));
        read_code(b, region, &s->anatomic_region);
        if (!read_codes(b, region ? region : it, TAG(0x0008, 0x2220), &s->anatomic_region_modifiers))
            return false;
        s->tracking_id = seg_open_str(b, it, TAG(0x0062, 0x0020));
        s->tracking_uid = seg_open_str(b, it, TAG(0x0062, 0x0021));
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

