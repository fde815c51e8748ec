/* See store_glue.h. */
#include "api/store_glue.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "store/seg_index.h"

bool api_store_lookup_none(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                           struct err *e)
{
    (void)arg;
    (void)path;
    (void)pathsz;
    return err_set(e, ERR_NOT_FOUND, "instance not in store: %s", res->sop);
}
/* The index's fixed-size fields: cut at a character boundary, never inside one
 * (a cut UTF-8 sequence would be invalid JSON in every QIDO answer). */
static void cp(char *dst, size_t sz, const char *src) { utf8_copy(dst, sz, src); }

void api_store_attrs_from_index(const struct seg_index *idx, struct store_attrs *a)
{
    memset(a, 0, sizeof *a);
#define C(field, value) cp(a->field, sizeof a->field, value)
    C(study_uid, idx->study_uid);
    C(series_uid, idx->series_uid);
    C(sop_uid, idx->sop_instance_uid);
    C(sop_class_uid, idx->sop_class_uid);
    C(transfer_syntax_uid, idx->transfer_syntax_uid);
    C(patient_id, idx->patient_id);
    C(patient_name, idx->patient_name);
    C(patient_birth_date, idx->patient_birth_date);
    C(patient_sex, idx->patient_sex);
    C(study_date, idx->study_date);
    C(study_time, idx->study_time);
    C(accession_number, idx->accession_number);
    C(study_description, idx->study_description);
    C(study_id, idx->study_id);
    C(referring_physician, idx->referring_physician);
    C(modality, idx->modality);
    C(series_number, idx->series_number);
    C(series_description, idx->series_description);
    C(instance_number, idx->instance_number);
#undef C
    a->rows = idx->rows;
    a->columns = idx->columns;
    a->frames = idx->number_of_frames;
}

static bool is_seg_class(const char *cls)
{
    return !strcmp(cls, SEG_SOP_CLASS_SEGMENTATION) || !strcmp(cls, SEG_SOP_CLASS_LABELMAP);
}

bool api_store_attrs_any(const char *path, const struct seg_limits *limits, struct store_attrs *a,
                         char *sop_class, size_t sop_class_size, struct seg_index **keep, struct err *e)
{
    if (keep)
        *keep = NULL;
    char sop[API_UID_MAX + 1];
    decoder_file_uids(path, sop_class, sop_class_size, sop, sizeof sop);
    if (is_seg_class(sop_class)) { /* a SEG must decode: it is validated here, at STOW */
        struct seg_index *idx = decoder_seg_open(path, limits, e);
        if (!idx)
            return false;
        api_store_attrs_from_index(idx, a);
        if (keep)
            *keep = idx;
        else
            decoder_seg_free(idx);
        return true;
    }
    struct decoder_attrs d;
    if (!decoder_attrs_read(path, &d, e))
        return false;
    memset(a, 0, sizeof *a);
#define C(field) cp(a->field, sizeof a->field, d.field)
    C(study_uid);
    C(series_uid);
    C(sop_uid);
    C(sop_class_uid);
    C(transfer_syntax_uid);
    C(patient_id);
    C(patient_name);
    C(patient_birth_date);
    C(patient_sex);
    C(study_date);
    C(study_time);
    C(accession_number);
    C(study_description);
    C(study_id);
    C(referring_physician);
    C(modality);
    C(series_number);
    C(series_description);
    C(instance_number);
#undef C
    a->rows = d.rows;
    a->columns = d.columns;
    a->frames = d.frames;
    return true;
}

bool api_store_attrs_file(void *arg, const char *path, struct store_attrs *a, struct err *e)
{
    (void)arg;
    char cls[API_UID_MAX + 1];
    return api_store_attrs_any(path, NULL, a, cls, sizeof cls, NULL, e);
}

void api_store_index_persist(struct store *s, const struct store_attrs *a, const struct seg_index *idx)
{
    char path[PATH_MAX];
    struct err e = ERR_INIT;
    if (idx && store_instance_path(s, a->study_uid, a->series_uid, a->sop_uid, path, sizeof path, &e))
        store_seg_index_save(s, NULL, path, idx, &e); /* best effort: a first open persists it too */
}

bool api_store_lookup_store(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                            struct err *e)
{
    if (!arg)
        return api_store_lookup_none(arg, res, path, pathsz, e);
    return store_instance_path(arg, res->study, res->series, res->sop, path, pathsz, e);
}


void api_store_url(const char *base, const struct store_attrs *a, enum api_level level, char *out, size_t sz)
{
    if (!base)
        base = "";
    if (level == API_LEVEL_STUDY)
        snprintf(out, sz, "%s/studies/%s", base, a->study_uid);
    else if (level == API_LEVEL_SERIES)
        snprintf(out, sz, "%s/studies/%s/series/%s", base, a->study_uid, a->series_uid);
    else
        snprintf(out, sz, "%s/studies/%s/series/%s/instances/%s", base, a->study_uid, a->series_uid,
                 a->sop_uid);
}
