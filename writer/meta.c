/* dcmqi's segmentation metadata JSON (doc/schemas/seg-schema.json in dcmqi):
 *   { "ContentCreatorName": ..., "SeriesDescription": ..., "SeriesNumber": ...,
 *     "segmentAttributes": [ [ {labelID, SegmentLabel, ..., codes, recommendedDisplayRGBValue} ], ... ] }
 * segmentAttributes has one list per label file. Codes are objects with
 * CodeValue, CodingSchemeDesignator, CodeMeaning (modifiers: one object or a
 * list). Strings are borrowed from the parsed JSON, which the meta keeps. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "writer/internal.h"

static const char *opt_str(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

/* String or integer member into buf (SeriesNumber, InstanceNumber are IS). */
static bool opt_int_str(json_t *o, const char *key, const char *dflt, char *buf, size_t n, struct err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        snprintf(buf, n, "%s", dflt);
        return true;
    }
    if (json_is_integer(v) && json_integer_value(v) >= -2147483647 && json_integer_value(v) <= 2147483647) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        long long x = strtoll(s, &end, 10);
        if (*s && !*end && x >= -2147483647 && x <= 2147483647) {
            snprintf(buf, n, "%lld", x);
            return true;
        }
    }
    return err_set(e, ERR_INVALID, "metadata: %s must be an integer", key);
}

static bool code_from(json_t *o, const char *what, struct meta_code *c, struct err *e)
{
    if (!json_is_object(o))
        return err_set(e, ERR_INVALID, "metadata: %s is not a code object {CodeValue, CodingSchemeDesignator, "
                                       "CodeMeaning}", what);
    c->value = opt_str(o, "CodeValue", NULL);
    c->scheme = opt_str(o, "CodingSchemeDesignator", NULL);
    c->meaning = opt_str(o, "CodeMeaning", NULL);
    if (!c->value || !*c->value || !c->scheme || !*c->scheme || !c->meaning || !*c->meaning)
        return err_set(e, ERR_INVALID, "metadata: %s needs string CodeValue, CodingSchemeDesignator and CodeMeaning",
                       what);
    if (strlen(c->scheme) > 16 || strlen(c->meaning) > 64 || strlen(c->value) > 1024)
        return err_set(e, ERR_INVALID, "metadata: %s has a value too long for its DICOM attribute", what);
    return true;
}

static bool codes_from(json_t *v, const char *what, struct meta_code **out, size_t *n, struct err *e)
{
    *out = NULL;
    *n = 0;
    if (!v)
        return true;
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (count == 0)
        return true;
    if (count > 64)
        return err_set(e, ERR_LIMIT, "metadata: more than 64 %s", what);
    *out = calloc(count, sizeof **out);
    if (!*out)
        return err_set(e, ERR_NOMEM, "no memory");
    for (size_t i = 0; i < count; i++) {
        if (!code_from(json_is_array(v) ? json_array_get(v, i) : v, what, &(*out)[i], e))
            return false;
        (*n)++;
    }
    return true;
}

static bool segment_from(json_t *o, size_t file, struct meta_segment *s, struct err *e)
{
    if (!json_is_object(o))
        return err_set(e, ERR_INVALID, "metadata: segmentAttributes[%zu] holds a non-object", file);
    s->file = file;
    json_t *id = json_object_get(o, "labelID");
    json_int_t v = json_is_integer(id) ? json_integer_value(id) : -1;
    if (json_is_string(id)) {
        char *end;
        long long x = strtoll(json_string_value(id), &end, 10);
        v = *end || end == json_string_value(id) ? -1 : x;
    }
    if (v < 1 || v > 65535)
        return err_set(e, ERR_INVALID, "metadata: segmentAttributes[%zu]: labelID must be an integer 1..65535", file);
    s->label_id = (uint32_t)v;
    char what[96];
    snprintf(what, sizeof what, "labelID %u: SegmentedPropertyCategoryCodeSequence", s->label_id);
    json_t *cat = json_object_get(o, "SegmentedPropertyCategoryCodeSequence");
    if (!code_from(cat, what, &s->category, e))
        return false;
    snprintf(what, sizeof what, "labelID %u: SegmentedPropertyTypeCodeSequence", s->label_id);
    if (!code_from(json_object_get(o, "SegmentedPropertyTypeCodeSequence"), what, &s->type, e))
        return false;
    snprintf(what, sizeof what, "labelID %u: SegmentedPropertyTypeModifierCodeSequence", s->label_id);
    if (!codes_from(json_object_get(o, "SegmentedPropertyTypeModifierCodeSequence"), what, &s->type_mods,
                    &s->n_type_mods, e))
        return false;
    json_t *ar = json_object_get(o, "AnatomicRegionSequence");
    if (ar) {
        snprintf(what, sizeof what, "labelID %u: AnatomicRegionSequence", s->label_id);
        if (json_is_array(ar) && json_array_size(ar) == 1)
            ar = json_array_get(ar, 0);
        if (!code_from(ar, what, &s->anatomic, e))
            return false;
        s->has_anatomic = true;
        snprintf(what, sizeof what, "labelID %u: AnatomicRegionModifierSequence", s->label_id);
        if (!codes_from(json_object_get(o, "AnatomicRegionModifierSequence"), what, &s->anat_mods, &s->n_anat_mods,
                        e))
            return false;
    }
    s->description = opt_str(o, "SegmentDescription", NULL);
    s->label = opt_str(o, "SegmentLabel", NULL);
    if (!s->label || !*s->label)
        s->label = s->description && *s->description ? s->description : s->type.meaning;
    s->algo_type = opt_str(o, "SegmentAlgorithmType", "MANUAL");
    if (strcmp(s->algo_type, "MANUAL") && strcmp(s->algo_type, "SEMIAUTOMATIC") && strcmp(s->algo_type, "AUTOMATIC"))
        return err_set(e, ERR_INVALID, "metadata: labelID %u: SegmentAlgorithmType must be MANUAL, SEMIAUTOMATIC or "
                                       "AUTOMATIC", s->label_id);
    s->algo_name = opt_str(o, "SegmentAlgorithmName", NULL);
    if (s->algo_name && !*s->algo_name)
        s->algo_name = NULL;
    if (strcmp(s->algo_type, "MANUAL") && !s->algo_name)
        return err_set(e, ERR_INVALID, "metadata: labelID %u: SegmentAlgorithmName is required for %s", s->label_id,
                       s->algo_type);
    s->tracking_id = opt_str(o, "TrackingIdentifier", NULL);
    s->tracking_uid = opt_str(o, "TrackingUniqueIdentifier", NULL);
    if ((s->tracking_id == NULL) != (s->tracking_uid == NULL))
        return err_set(e, ERR_INVALID, "metadata: labelID %u: TrackingIdentifier and TrackingUniqueIdentifier go "
                                       "together", s->label_id);
    json_t *rgb = json_object_get(o, "recommendedDisplayRGBValue");
    if (rgb) {
        if (!json_is_array(rgb) || json_array_size(rgb) != 3)
            return err_set(e, ERR_INVALID, "metadata: labelID %u: recommendedDisplayRGBValue must be [r, g, b]",
                           s->label_id);
        for (int k = 0; k < 3; k++) {
            json_t *c = json_array_get(rgb, k);
            if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 255)
                return err_set(e, ERR_INVALID, "metadata: labelID %u: recommendedDisplayRGBValue values are 0..255",
                               s->label_id);
            s->rgb[k] = (uint8_t)json_integer_value(c);
        }
        s->has_rgb = true;
    }
    if ((s->label && strlen(s->label) > 64) || (s->algo_name && strlen(s->algo_name) > 64) ||
        (s->description && strlen(s->description) > 1024) || (s->tracking_uid && strlen(s->tracking_uid) > 64))
        return err_set(e, ERR_INVALID, "metadata: labelID %u: a value is too long for its DICOM attribute",
                       s->label_id);
    return true;
}

/* A CS value: upper-case letters, digits, space, underscore. */
static bool is_cs(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == ' ' || *s == '_'))
            return false;
    return true;
}

struct writer_meta *writer_meta_parse(const char *text, size_t len, struct err *e)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        err_set(e, ERR_PARSE, "metadata: JSON error at line %d: %s", je.line, je.text);
        return NULL;
    }
    struct writer_meta *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(root);
        err_set(e, ERR_NOMEM, "no memory");
        return NULL;
    }
    m->root = root;
    if (!json_is_object(root)) {
        err_set(e, ERR_INVALID, "metadata: the JSON is not an object");
        goto fail;
    }
    /* Absent optional fields stay absent (type 2: empty), unlike dcmqi's defaults
     * ("Reader1", "Session1", "Segmentation"), so volume -> create -> volume gives
     * back the same metadata. */
    m->content_creator = opt_str(root, "ContentCreatorName", "");
    m->ct_series_id = opt_str(root, "ClinicalTrialSeriesID", "");
    m->ct_timepoint_id = opt_str(root, "ClinicalTrialTimePointID", "");
    m->ct_center = opt_str(root, "ClinicalTrialCoordinatingCenterName", "");
    m->series_description = opt_str(root, "SeriesDescription", "");
    m->body_part = opt_str(root, "BodyPartExamined", "");
    m->content_label = opt_str(root, "ContentLabel", "SEGMENTATION");
    m->content_description = opt_str(root, "ContentDescription", "");
    if (!opt_int_str(root, "SeriesNumber", "300", m->series_number, sizeof m->series_number, e) ||
        !opt_int_str(root, "InstanceNumber", "1", m->instance_number, sizeof m->instance_number, e))
        goto fail;
    const char *too_long = strlen(m->content_creator) > 64 ? "ContentCreatorName"
                         : strlen(m->ct_series_id) > 64 ? "ClinicalTrialSeriesID"
                         : strlen(m->ct_timepoint_id) > 64 ? "ClinicalTrialTimePointID"
                         : strlen(m->ct_center) > 64 ? "ClinicalTrialCoordinatingCenterName"
                         : strlen(m->series_description) > 64 ? "SeriesDescription"
                         : strlen(m->body_part) > 16 ? "BodyPartExamined"
                         : strlen(m->content_label) > 16 ? "ContentLabel"
                         : strlen(m->content_description) > 64 ? "ContentDescription" : NULL;
    if (too_long) {
        err_set(e, ERR_INVALID, "metadata: %s is too long for its DICOM attribute", too_long);
        goto fail;
    }
    if (!is_cs(m->content_label) || !is_cs(m->body_part)) {
        err_set(e, ERR_INVALID, "metadata: ContentLabel and BodyPartExamined are DICOM CS values (A-Z, 0-9, "
                                "space, underscore)");
        goto fail;
    }
    json_t *sa = json_object_get(root, "segmentAttributes");
    if (!json_is_array(sa) || json_array_size(sa) == 0) {
        err_set(e, ERR_INVALID, "metadata: segmentAttributes must be a non-empty list (one list per label file)");
        goto fail;
    }
    m->n_files = json_array_size(sa);
    size_t total = 0;
    for (size_t f = 0; f < m->n_files; f++) {
        json_t *list = json_array_get(sa, f);
        if (!json_is_array(list)) {
            err_set(e, ERR_INVALID, "metadata: segmentAttributes[%zu] is not a list", f);
            goto fail;
        }
        total += json_array_size(list);
    }
    if (total == 0 || total > 65535) {
        err_set(e, ERR_INVALID, "metadata: %zu segments (1..65535)", total);
        goto fail;
    }
    m->segs = calloc(total, sizeof *m->segs);
    if (!m->segs) {
        err_set(e, ERR_NOMEM, "no memory");
        goto fail;
    }
    for (size_t f = 0; f < m->n_files; f++) {
        json_t *list = json_array_get(sa, f);
        for (size_t i = 0; i < json_array_size(list); i++) {
            struct meta_segment *s = &m->segs[m->n_segs++]; /* counted first: free covers it */
            if (!segment_from(json_array_get(list, i), f, s, e))
                goto fail;
            for (size_t j = 0; j + 1 < m->n_segs; j++)
                if (m->segs[j].file == f && m->segs[j].label_id == s->label_id) {
                    err_set(e, ERR_INVALID, "metadata: labelID %u appears twice in segmentAttributes[%zu]",
                            s->label_id, f);
                    goto fail;
                }
        }
    }
    return m;
fail:
    writer_meta_free(m);
    return NULL;
}

void writer_meta_free(struct writer_meta *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_segs; i++) {
        free(m->segs[i].type_mods);
        free(m->segs[i].anat_mods);
    }
    free(m->segs);
    json_decref(m->root);
    free(m);
}

size_t writer_meta_files(const struct writer_meta *m)
{
    return m->n_files;
}

/* The index of s among names (ASCII case ignored), or -1. */
static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcasecmp(s, names[i]))
            return i;
    return -1;
}

bool writer_type_parse(const char *s, enum writer_type *out)
{
    static const char *const names[] = {[WRITER_BINARY] = "BINARY", [WRITER_FRACTIONAL] = "FRACTIONAL",
                                        [WRITER_LABELMAP] = "LABELMAP"};
    int i = name_index(s, names, (int)(sizeof names / sizeof *names));
    return i >= 0 && (*out = (enum writer_type)i, true);
}

bool writer_compress_parse(const char *s, enum writer_compress *out)
{
    static const char *const names[] = {[WRITER_COMPRESS_NONE] = "none", [WRITER_COMPRESS_RLE] = "rle",
                                        [WRITER_COMPRESS_DEFLATE] = "deflate"};
    int i = name_index(s, names, (int)(sizeof names / sizeof *names));
    return i >= 0 && (*out = (enum writer_compress)i, true);
}
