/* dcmqi's metadata JSON (doc/schemas/seg-schema.json), as segimage2itkimage
 * writes meta.json: series-level attributes, then segmentAttributes with one
 * list per label file, each holding that file's segment (labelID = the voxel
 * value = the segment number). itkimage2segimage (and `segweb create`) take the
 * same document back. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "volume/internal.h"

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(o, key, json_string(v));
}

static json_t *code(const struct seg_code *c)
{
    json_t *o = json_object();
    set_str(o, "CodeValue", c->value);
    set_str(o, "CodingSchemeDesignator", c->scheme);
    set_str(o, "CodeMeaning", c->meaning);
    return o;
}

static bool has_code(const struct seg_code *c)
{
    return c->value[0] || c->meaning[0];
}

static json_t *segment(const struct seg_segment *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "labelID", json_integer(s->number));
    set_str(o, "SegmentLabel", s->label);
    set_str(o, "SegmentDescription", s->description);
    set_str(o, "SegmentAlgorithmType", s->algorithm_type);
    set_str(o, "SegmentAlgorithmName", s->algorithm_name);
    if (has_code(&s->category))
        json_object_set_new(o, "SegmentedPropertyCategoryCodeSequence", code(&s->category));
    if (has_code(&s->type))
        json_object_set_new(o, "SegmentedPropertyTypeCodeSequence", code(&s->type));
    if (s->type_modifiers.count)
        json_object_set_new(o, "SegmentedPropertyTypeModifierCodeSequence", code(&s->type_modifiers.items[0]));
    if (has_code(&s->anatomic_region))
        json_object_set_new(o, "AnatomicRegionSequence", code(&s->anatomic_region));
    if (s->anatomic_region_modifiers.count)
        json_object_set_new(o, "AnatomicRegionModifierSequence",
                            code(&s->anatomic_region_modifiers.items[0]));
    set_str(o, "TrackingIdentifier", s->tracking_id);
    set_str(o, "TrackingUniqueIdentifier", s->tracking_uid);
    json_object_set_new(o, "recommendedDisplayRGBValue",
                        json_pack("[i,i,i]", s->rgb[0], s->rgb[1], s->rgb[2]));
    return o;
}

bool volume_meta_json(const struct seg_index *idx, struct buf *out, struct err *e)
{
    json_t *doc = json_object();
    if (!doc)
        return err_set(e, ERR_NOMEM, "out of memory");
    json_object_set_new(doc, "@schema",
                        json_string("https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/schemas/"
                                    "seg-schema.json#"));
    set_str(doc, "ContentCreatorName", idx->content_creator);
    set_str(doc, "ContentLabel", idx->content_label);
    set_str(doc, "ContentDescription", idx->content_description);
    set_str(doc, "SeriesDescription", idx->series_description);
    set_str(doc, "SeriesNumber", idx->series_number);
    set_str(doc, "InstanceNumber", idx->instance_number);
    json_t *attrs = json_array();
    for (size_t i = 0; i < idx->n_segments; i++) {
        const struct seg_segment *s = &idx->segments[i];
        if (idx->type == SEG_TYPE_LABELMAP && s->number == 0)
            continue; /* a Label Map object's background segment has no file */
        json_array_append_new(attrs, json_pack("[o]", segment(s)));
    }
    json_object_set_new(doc, "segmentAttributes", attrs);
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text)
        return err_set(e, ERR_NOMEM, "out of memory for meta.json");
    bool ok = buf_append(out, text, strlen(text), e) && buf_append(out, "\n", 1, e);
    free(text);
    return ok;
}
