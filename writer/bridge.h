/* Plain C in front of the writer's DCMTK bridge (source_dcmtk.cc reads source
 * images, seg_dcmtk.cc writes the SEG data set). No C++ type crosses; every
 * entry point catches exceptions and turns OFCondition into struct err. */
#ifndef SEGWEB_WRITER_BRIDGE_H
#define SEGWEB_WRITER_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reading one source image (source_dcmtk.cc) ---- */

#define SRC_ATTR_MAX 32

struct src_file {
    char sop_uid[65], class_uid[65], study_uid[65], series_uid[65], for_uid[65];
    bool has_pixels, has_ipp, has_iop, has_spacing, has_thickness;
    uint32_t rows, cols, frames;
    double ipp[3], iop[6], spacing[2], thickness;
    /* patient / study / frame-of-reference attributes to copy: malloc'd values */
    uint32_t attr_tags[SRC_ATTR_MAX];
    char *attr_values[SRC_ATTR_MAX];
    size_t n_attrs;
};

/* Reads the header of path (Pixel Data is not loaded). *not_dicom is set (and
 * false returned) when the file is not DICOM at all. Free with src_file_clear. */
bool bridge_source_read(const char *path, struct src_file *out, bool *not_dicom, struct err *e);
void src_file_clear(struct src_file *f);

/* ---- writing the SEG (seg_dcmtk.cc) ---- */

struct segout_code {
    const char *value, *scheme, *meaning;
};

struct segout_segment {
    uint16_t number;
    const char *label, *description, *algo_type, *algo_name, *tracking_id, *tracking_uid;
    struct segout_code category, type, anatomic;
    bool has_anatomic;
    const struct segout_code *type_mods, *anat_mods;
    size_t n_type_mods, n_anat_mods;
    bool has_lab;
    uint16_t lab[3];
};

struct segout_frame {
    uint16_t segment;    /* 0 for LABELMAP */
    uint32_t pos_index;  /* 1-based rank of the position along the normal */
    double ipp[3];
    const char *src_class, *src_uid;
};

struct segout_attr {
    uint32_t tag;
    const char *value; /* written as is (the VR comes from the dictionary) */
};

/* SEGOUT_APPENDED: Explicit VR Little Endian without Pixel Data; the caller
 * appends the Pixel Data element (the last element of the data set) itself. */
enum segout_pixels { SEGOUT_APPENDED, SEGOUT_RLE, SEGOUT_DEFLATE };

struct segout {
    const char *sop_class, *sop_uid, *series_uid, *study_uid, *for_uid, *dim_org_uid;
    const char *segmentation_type; /* BINARY, FRACTIONAL, LABELMAP */
    const char *segments_overlap;  /* YES, NO, UNDEFINED */
    uint16_t bits_allocated;
    uint32_t rows, cols;
    const struct segout_attr *attrs; /* copied from the source and from the metadata */
    size_t n_attrs;
    double iop[6], spacing[2], thickness, spacing_between;
    const struct segout_segment *segs;
    size_t n_segs;
    const struct segout_frame *frames;
    size_t n_frames;
    const char *ref_series_uid;
    const char *const *ref_classes, *const *ref_uids;
    size_t n_refs;
    enum segout_pixels encoding;
    /* DEFLATE: the value is pixels_len bytes (even), written by fill straight
     * into the element's own (zeroed) buffer */
    void (*fill)(void *arg, uint8_t *dst, size_t len);
    void *fill_arg;
    size_t pixels_len;
    const uint8_t *const *fragments; /* RLE: one fragment per frame */
    const size_t *fragment_lens;
};

/* Writes s as a Part 10 file at path; *bytes receives its size. */
bool bridge_seg_write(const struct segout *s, const char *path, uint64_t *bytes, struct err *e);

/* DICOM CIELab for an sRGB colour such that the decoder's conversion
 * (DCMTK dicomLab2RGB, rounded to bytes) gives the same RGB back. */
void bridge_rgb_to_lab(const uint8_t rgb[3], uint16_t lab[3]);

#ifdef __cplusplus
}
#endif

#endif
