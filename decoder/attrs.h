/* The identifying and searchable attributes of any DICOM object (CT, MR, SM,
 * SR, SEG, ...), for the store's index. Reads the header only: Pixel Data and
 * other large values stay on disk. */
#ifndef SEGWEB_DECODER_ATTRS_H
#define SEGWEB_DECODER_ATTRS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Strings are "" when absent; values longer than a field are cut. */
struct decoder_attrs {
    char study_uid[65], series_uid[65], sop_uid[65], sop_class_uid[65], transfer_syntax_uid[65];
    char patient_id[256], patient_name[256], patient_birth_date[16], patient_sex[16];
    char study_date[16], study_time[32], accession_number[256], study_description[256], study_id[256];
    char referring_physician[256];
    char modality[32], series_number[32], series_description[256], instance_number[32];
    uint32_t rows, columns, frames; /* 0 when absent (frames: 1 for an image without NumberOfFrames) */
};

/* Fills out from the file at path. False with e set: ERR_NOT_FOUND (no file),
 * ERR_INVALID (not DICOM, or a Study, Series or SOP Instance UID missing). */
bool decoder_attrs_read(const char *path, struct decoder_attrs *out, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
