/* Attributes of any DICOM object (see attrs.h), through the plain C view of the
 * DCMTK bridge (dataset.h). */
#include "decoder/attrs.h"

#include <stdio.h>
#include <string.h>

#include "decoder/dataset.h"

static void copy(char *dst, size_t sz, const char *src)
{
    snprintf(dst, sz, "%s", src ? src : "");
}

bool decoder_attrs_read(const char *path, struct decoder_attrs *a, struct err *e)
{
    memset(a, 0, sizeof *a);
    struct dataset_file *f = dataset_open(path, e);
    if (!f)
        return false;
    const struct dataset_item *r = dataset_root(f), *m = dataset_meta(f);
#define S(field, g, el) copy(a->field, sizeof a->field, dataset_string(f, r, TAG(g, el), 0))
    S(study_uid, 0x0020, 0x000D);
    S(series_uid, 0x0020, 0x000E);
    S(sop_uid, 0x0008, 0x0018);
    S(sop_class_uid, 0x0008, 0x0016);
    S(patient_id, 0x0010, 0x0020);
    S(patient_name, 0x0010, 0x0010);
    S(patient_birth_date, 0x0010, 0x0030);
    S(patient_sex, 0x0010, 0x0040);
    S(study_date, 0x0008, 0x0020);
    S(study_time, 0x0008, 0x0030);
    S(accession_number, 0x0008, 0x0050);
    S(study_description, 0x0008, 0x1030);
    S(study_id, 0x0020, 0x0010);
    S(referring_physician, 0x0008, 0x0090);
    S(modality, 0x0008, 0x0060);
    S(series_number, 0x0020, 0x0011);
    S(series_description, 0x0008, 0x103E);
    S(instance_number, 0x0020, 0x0013);
#undef S
    if (!a->sop_class_uid[0] && m)
        copy(a->sop_class_uid, sizeof a->sop_class_uid, dataset_string(f, m, TAG(0x0002, 0x0002), 0));
    if (!a->sop_uid[0] && m)
        copy(a->sop_uid, sizeof a->sop_uid, dataset_string(f, m, TAG(0x0002, 0x0003), 0));
    copy(a->transfer_syntax_uid, sizeof a->transfer_syntax_uid, dataset_transfer_syntax(f));
    uint32_t u;
    if (dataset_uint(r, TAG(0x0028, 0x0010), 0, &u))
        a->rows = u;
    if (dataset_uint(r, TAG(0x0028, 0x0011), 0, &u))
        a->columns = u;
    if (dataset_uint(r, TAG(0x0028, 0x0008), 0, &u))
        a->frames = u;
    else if (a->rows && a->columns)
        a->frames = 1;
    dataset_close(f);
    if (!a->study_uid[0] || !a->series_uid[0] || !a->sop_uid[0])
        return err_set(e, ERR_INVALID, "not a usable DICOM instance: %s missing",
                       !a->study_uid[0] ? "Study Instance UID" : !a->series_uid[0] ? "Series Instance UID"
                                                                   : "SOP Instance UID");
    return true;
}
