/* The index as JSON. Keys are snake_case; absent DICOM values become null (or
 * "" for strings the object did not carry), so clients see one stable shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/index_json.h"
#include "api/volume_routes.h"
#include "common/utf8.h"

json_t *api_json_text(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    if (utf8_valid(s, n))
        return json_stringn_nocheck(s, n);
    size_t len;
    char *fixed = utf8_repair(s, n, &len);
    json_t *j = fixed ? json_stringn_nocheck(fixed, len) : NULL;
    free(fixed);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? api_json_text(s) : json_null();
}

static json_t *code_json(const struct seg_code *c)
{
    if (!c->value[0] && !c->scheme[0] && !c->meaning[0])
        return json_null();
    return json_pack("{s:o, s:o, s:o}", "value", api_json_text(c->value), "scheme", api_json_text(c->scheme),
                     "meaning", api_json_text(c->meaning));
}

static json_t *codes_json(const struct seg_codes *cs)
{
    json_t *a = json_array();
    for (size_t i = 0; i < cs->count; i++)
        json_array_append_new(a, code_json(&cs->items[i]));
    return a;
}

static json_t *doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *tag_json(uint32_t tag)
{
    char s[9];
    snprintf(s, sizeof s, "%08X", tag);
    return json_string(s);
}

static json_t *frame_numbers(const struct seg_segment *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_frames; i++)
        json_array_append_new(a, json_integer(s->frames[i]));
    return a;
}

static json_t *segment_core(const struct seg_segment *s)
{
    char hex[8];
    snprintf(hex, sizeof hex, "#%02x%02x%02x", s->rgb[0], s->rgb[1], s->rgb[2]);
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer(s->number));
    json_object_set_new(o, "label", api_json_text(s->label));
    json_object_set_new(o, "description", str_or_null(s->description));
    json_object_set_new(o, "algorithm_type", str_or_null(s->algorithm_type));
    json_object_set_new(o, "algorithm_name", str_or_null(s->algorithm_name));
    json_object_set_new(o, "category", code_json(&s->category));
    json_object_set_new(o, "type", code_json(&s->type));
    json_object_set_new(o, "type_modifiers", codes_json(&s->type_modifiers));
    json_object_set_new(o, "anatomic_region", code_json(&s->anatomic_region));
    json_object_set_new(o, "anatomic_region_modifiers", codes_json(&s->anatomic_region_modifiers));
    json_object_set_new(o, "tracking_id", str_or_null(s->tracking_id));
    json_object_set_new(o, "tracking_uid", str_or_null(s->tracking_uid));
    json_object_set_new(o, "recommended_display_cielab",
                        s->has_lab ? json_pack("[i,i,i]", s->lab[0], s->lab[1], s->lab[2]) : json_null());
    json_object_set_new(o, "rgb", json_pack("[i,i,i]", s->rgb[0], s->rgb[1], s->rgb[2]));
    json_object_set_new(o, "color", json_string(hex));
    json_object_set_new(o, "color_source", json_string(s->rgb_from_lab ? "cielab" : "default"));
    json_object_set_new(o, "frames", frame_numbers(s));
    return o;
}

static json_t *frame_json(const struct seg_index *idx, uint32_t number)
{
    const struct seg_frame *f = &idx->frames[number - 1];
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer(number));
    json_object_set_new(o, "segment_number", f->segment_number ? json_integer(f->segment_number) : json_null());
    if (f->position_kind == SEG_POS_PATIENT) {
        json_object_set_new(o, "image_position_patient", doubles(f->position, 3));
    } else if (f->position_kind == SEG_POS_SLIDE) {
        json_object_set_new(o, "slide_position", doubles(f->position, 3));
    } else {
        json_object_set_new(o, "image_position_patient", json_null());
    }
    if (f->matrix_column || f->matrix_row)
        json_object_set_new(o, "total_pixel_matrix_position",
                            json_pack("{s:i, s:i}", "column", f->matrix_column, "row", f->matrix_row));
    json_t *src = json_array();
    for (uint32_t i = 0; i < f->refs_count; i++) {
        const struct seg_source_ref *r = &idx->refs[f->refs_first + i];
        json_t *ref = json_pack("{s:o, s:o}", "sop_instance_uid", api_json_text(r->sop_instance_uid), "sop_class_uid",
                                str_or_null(r->sop_class_uid));
        json_object_set_new(ref, "frame", r->frame ? json_integer(r->frame) : json_null());
        json_array_append_new(src, ref);
    }
    json_object_set_new(o, "source", src);
    json_t *dims = json_array();
    for (uint32_t i = 0; i < f->dims_count; i++)
        json_array_append_new(dims, json_integer(idx->dim_values[f->dims_first + i]));
    json_object_set_new(o, "dimension_index_values", dims);
    return o;
}

json_t *api_segment_json(const struct seg_index *idx, const struct seg_segment *seg)
{
    json_t *o = segment_core(seg);
    json_t *details = json_array();
    for (size_t i = 0; i < seg->n_frames; i++)
        json_array_append_new(details, frame_json(idx, seg->frames[i]));
    json_object_set_new(o, "frame_details", details);
    json_t *one = json_pack("[O]", o); /* volume/: this segment's measurements */
    if (one)
        api_volume_measurements_add(idx, one, seg->number);
    json_decref(one);
    json_object_set_new(o, "sop_instance_uid", api_json_text(idx->sop_instance_uid));
    return o;
}

/* The object's identity and pixel layout. */
static void layout_json(const struct seg_index *idx, json_t *o)
{
    json_object_set_new(o, "sop_instance_uid", api_json_text(idx->sop_instance_uid));
    json_object_set_new(o, "sop_class_uid", api_json_text(idx->sop_class_uid));
    json_object_set_new(o, "study_instance_uid", api_json_text(idx->study_uid));
    json_object_set_new(o, "series_instance_uid", api_json_text(idx->series_uid));
    json_object_set_new(o, "frame_of_reference_uid", str_or_null(idx->frame_of_reference_uid));
    json_object_set_new(o, "transfer_syntax_uid", api_json_text(idx->transfer_syntax_uid));
    json_object_set_new(o, "patient_id", str_or_null(idx->patient_id));
    json_object_set_new(o, "modality", str_or_null(idx->modality));
    json_object_set_new(o, "rows", json_integer(idx->rows));
    json_object_set_new(o, "columns", json_integer(idx->columns));
    json_object_set_new(o, "number_of_frames", json_integer(idx->number_of_frames));
    json_object_set_new(o, "number_of_frames_absent", json_boolean(idx->number_of_frames_absent));
    json_object_set_new(o, "bits_allocated", json_integer(idx->bits_allocated));
    json_object_set_new(o, "bits_stored", json_integer(idx->bits_stored));
    json_object_set_new(o, "segmentation_type", api_json_text(idx->segmentation_type));
    json_object_set_new(o, "segmentation_kind", json_string(decoder_seg_type_name(idx->type)));
    json_object_set_new(o, "fractional_type", str_or_null(idx->fractional_type));
    json_object_set_new(o, "maximum_fractional_value",
                        idx->type == SEG_TYPE_FRACTIONAL ? json_integer(idx->max_fractional_value) : json_null());
    json_object_set_new(o, "photometric_interpretation", str_or_null(idx->photometric));
    json_object_set_new(o, "segments_overlap", str_or_null(idx->segments_overlap));
    json_object_set_new(o, "dimension_organization_type", str_or_null(idx->dimension_organization_type));
}

/* Slide and concatenation layout, spacing and orientation, and the content fields. */
static void geometry_json(const struct seg_index *idx, json_t *o)
{
    json_object_set_new(o, "total_pixel_matrix",
                        idx->total_matrix_rows
                            ? json_pack("{s:i, s:i, s:i}", "rows", idx->total_matrix_rows, "columns",
                                        idx->total_matrix_columns, "focal_planes",
                                        idx->total_matrix_focal_planes ? idx->total_matrix_focal_planes : 1)
                            : json_null());
    json_object_set_new(o, "concatenation",
                        idx->concatenation
                            ? json_pack("{s:o, s:i, s:i, s:i}", "uid", api_json_text(idx->concatenation_uid), "frame_offset",
                                        idx->concatenation_frame_offset, "in_concatenation_number",
                                        idx->in_concatenation_number, "in_concatenation_total",
                                        idx->in_concatenation_total)
                            : json_null());
    json_object_set_new(o, "pixel_spacing", idx->has_pixel_spacing ? doubles(idx->pixel_spacing, 2) : json_null());
    json_object_set_new(o, "image_orientation_patient",
                        idx->has_orientation ? doubles(idx->orientation, 6) : json_null());
    json_object_set_new(o, "slice_thickness", idx->has_slice_thickness ? json_real(idx->slice_thickness) : json_null());
    json_object_set_new(o, "spacing_between_slices",
                        idx->has_spacing_between_slices ? json_real(idx->spacing_between_slices) : json_null());
    json_object_set_new(o, "content",
                        json_pack("{s:o, s:o, s:o, s:o, s:o}", "label", str_or_null(idx->content_label),
                                  "description", str_or_null(idx->content_description), "creator",
                                  str_or_null(idx->content_creator), "date", str_or_null(idx->content_date),
                                  "time", str_or_null(idx->content_time)));
}

static json_t *referenced_series_json(const struct seg_index *idx)
{
    json_t *series = json_array();
    for (size_t i = 0; i < idx->n_ref_series; i++) {
        const struct seg_ref_series *rs = &idx->ref_series[i];
        json_t *inst = json_array();
        for (size_t j = 0; j < rs->n_instances; j++)
            json_array_append_new(inst, json_pack("{s:o, s:o}", "sop_class_uid", str_or_null(rs->class_uids[j]),
                                                  "sop_instance_uid", api_json_text(rs->instance_uids[j])));
        json_array_append_new(series, json_pack("{s:o, s:o}", "series_instance_uid", api_json_text(rs->series_uid),
                                                "instances", inst));
    }
    return series;
}

static json_t *dimensions_json(const struct seg_index *idx)
{
    json_t *dims = json_array();
    for (size_t i = 0; i < idx->n_dims; i++)
        json_array_append_new(dims, json_pack("{s:o, s:o, s:o}", "index_pointer", tag_json(idx->dim_index_pointers[i]),
                                              "functional_group_pointer",
                                              tag_json(idx->dim_functional_group_pointers[i]), "description",
                                              str_or_null(idx->dim_descriptions[i])));
    return dims;
}

json_t *api_index_json(const struct seg_index *idx)
{
    json_t *o = json_object();
    layout_json(idx, o);
    geometry_json(idx, o);
    json_object_set_new(o, "referenced_series", referenced_series_json(idx));
    json_object_set_new(o, "dimensions", dimensions_json(idx));
    json_t *segs = json_array();
    for (size_t i = 0; i < idx->n_segments; i++)
        json_array_append_new(segs, segment_core(&idx->segments[i]));
    api_volume_measurements_add(idx, segs, -1); /* volume/: voxels, mL, bounding box, ... */
    json_object_set_new(o, "segments", segs);

    json_t *frames = json_array();
    for (uint32_t f = 1; f <= idx->number_of_frames; f++)
        json_array_append_new(frames, frame_json(idx, f));
    json_object_set_new(o, "frames", frames);
    return o;
}
