/* See store_glue.h. */
#include "api/store_glue.h"

#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

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

bool api_store_attrs_file(void *arg, const char *path, struct store_attrs *a, struct err *e)
{
    (void)arg;
    struct seg_index *idx = decoder_seg_open(path, NULL, e);
    if (!idx)
        return false;
    api_store_attrs_from_index(idx, a);
    decoder_seg_free(idx);
    return true;
}

bool api_store_lookup_store(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                            struct err *e)
{
    if (!arg)
        return api_store_lookup_none(arg, res, path, pathsz, e);
    return store_instance_path(arg, res->study, res->series, res->sop, path, pathsz, e);
}

