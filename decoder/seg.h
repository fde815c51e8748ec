/* The SEG index: everything segweb knows about one Segmentation instance except
 * its pixels. Built once by decoder_seg_open(), then shared read-only (safe to
 * use from many threads at once). Frame pixels are read on demand through
 * decoder/frame.h using the pixel layout recorded here; the index never holds
 * unpacked frames.
 *
 * Ownership: every pointer inside a struct seg_index is owned by the index and
 * lives until decoder_seg_free(). Strings are never NULL (empty when absent)
 * unless documented otherwise. */
#ifndef SEGWEB_DECODER_SEG_H
#define SEGWEB_DECODER_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SEG_SOP_CLASS_SEGMENTATION "1.2.840.10008.5.1.4.1.1.66.4"
#define SEG_SOP_CLASS_LABELMAP "1.2.840.10008.5.1.4.1.1.66.7"

enum seg_type {
    SEG_TYPE_BINARY,     /* 1 bit, 0/1 */
    SEG_TYPE_FRACTIONAL, /* 8 bit, 0..max_fractional_value */
    SEG_TYPE_LABELMAP,   /* 8/16 bit label values (66.7, or legacy LABELED) */
};

/* How Pixel Data is stored; selects the frame reader. */
enum seg_encoding {
    SEG_ENC_NATIVE,        /* byte range in the file (or in memory, see pixels.memory) */
    SEG_ENC_RLE,           /* 1.2.840.10008.1.2.5 */
    SEG_ENC_JPEGLS,        /* 1.2.840.10008.1.2.4.80 / .81 */
    SEG_ENC_J2K,           /* 1.2.840.10008.1.2.4.90 / .91 (and HTJ2K lossless if openjp2 can) */
    SEG_ENC_DEFLATE_FRAME, /* 1.2.840.10008.1.2.8.1: raw deflate per frame */
    SEG_ENC_ENCAPSULATED_NATIVE, /* 1.2.840.10008.1.2.1.98: native frame bytes in fragments */
};

struct seg_code {
    const char *value, *scheme, *meaning;
};

struct seg_codes {
    struct seg_code *items;
    size_t count;
};

struct seg_segment {
    int32_t number;
    const char *label, *description;
    const char *algorithm_type, *algorithm_name;
    struct seg_code category, type; /* empty strings when absent */
    struct seg_codes type_modifiers;
    struct seg_code anatomic_region;
    struct seg_codes anatomic_region_modifiers;
    const char *tracking_id, *tracking_uid;
    bool has_lab;
    uint16_t lab[3];   /* raw RecommendedDisplayCIELabValue */
    uint8_t rgb[3];    /* sRGB from lab (dicomLab2RGB), or a default palette colour */
    bool rgb_from_lab; /* false: rgb is segweb's default colour for this number */
    uint32_t *frames;  /* 1-based frame numbers, ascending */
    size_t n_frames;
};

struct seg_source_ref {
    const char *sop_class_uid;
    const char *sop_instance_uid;
    int32_t frame; /* ReferencedFrameNumber, 0 when absent */
};

enum seg_position_kind { SEG_POS_NONE, SEG_POS_PATIENT, SEG_POS_SLIDE };

struct seg_frame {
    int32_t segment_number; /* 0 when the frame names none (LABELMAP) */
    uint8_t position_kind;  /* enum seg_position_kind */
    double position[3];     /* ImagePositionPatient, or X/Y/Z offset in slide coordinates */
    int32_t matrix_column, matrix_row; /* slide: position in total pixel matrix (1-based), 0 if none */
    uint32_t refs_first, refs_count;   /* slice of index->refs */
    uint32_t dims_first, dims_count;   /* slice of index->dim_values */
};

struct seg_fragment {
    uint64_t offset; /* file offset of the fragment's bytes */
    uint32_t length;
};

struct seg_pixel_layout {
    enum seg_encoding encoding;
    bool big_endian;         /* native data in Explicit VR Big Endian */
    uint64_t offset, length; /* native: file offset and length of the Pixel Data value */
    uint8_t *memory;         /* native: the whole value when it has no file offset
                                (Deflated Explicit VR LE); NULL otherwise */
    struct seg_fragment *fragments; /* encapsulated: every fragment after the offset table */
    size_t n_fragments;
    uint32_t *frame_fragment; /* encapsulated: first fragment index of each frame */
    uint32_t *frame_fragments_count; /* encapsulated: fragments in each frame */
};

struct seg_ref_series {
    const char *series_uid;
    const char **instance_uids; /* ReferencedSOPInstanceUID of each item */
    const char **class_uids;
    size_t n_instances;
};

struct seg_index {
    char *path;
    const char *transfer_syntax_uid, *sop_class_uid;
    const char *study_uid, *series_uid, *sop_instance_uid, *frame_of_reference_uid;
    const char *patient_id, *patient_name, *study_date, *modality, *series_number, *instance_number;
    /* For search (QIDO-RS); "" when absent. */
    const char *study_time, *accession_number, *study_description, *study_id;
    const char *referring_physician, *patient_birth_date, *patient_sex;
    uint32_t rows, columns, number_of_frames;
    bool number_of_frames_absent;
    uint16_t bits_allocated, bits_stored;
    enum seg_type type;
    const char *segmentation_type;  /* as written: BINARY, FRACTIONAL, LABELMAP, LABELED */
    const char *fractional_type;    /* PROBABILITY, OCCUPANCY or "" */
    uint32_t max_fractional_value;  /* 0 unless FRACTIONAL */
    const char *photometric;        /* MONOCHROME2, PALETTE COLOR */
    const char *segments_overlap;   /* YES, NO, UNDEFINED or "" */
    const char *dimension_organization_type; /* "", 3D, TILED_FULL, TILED_SPARSE ... */
    bool tiled_full_implicit;       /* TILED_FULL without per-frame items */
    uint32_t total_matrix_rows, total_matrix_columns, total_matrix_focal_planes; /* 0 if absent */

    bool concatenation;             /* part of a Concatenation */
    const char *concatenation_uid;
    uint32_t concatenation_frame_offset, in_concatenation_number, in_concatenation_total;

    bool has_pixel_spacing, has_orientation, has_slice_thickness, has_spacing_between_slices;
    double pixel_spacing[2], orientation[6], slice_thickness, spacing_between_slices;
    /* First frame (1-based) whose own Plane Orientation / Pixel Spacing differs
     * from orientation / pixel_spacing above (those come from the first frame or
     * the shared groups); 0 when every frame agrees. For volume/. */
    uint32_t orientation_differs_frame, pixel_spacing_differs_frame;

    const char *content_label, *content_description, *content_creator, *content_date, *content_time;
    const char *series_description, *manufacturer, *software_versions;

    struct seg_ref_series *ref_series;
    size_t n_ref_series;

    uint32_t *dim_index_pointers; /* DimensionIndexPointer tags, (group << 16) | element */
    uint32_t *dim_functional_group_pointers;
    const char **dim_descriptions; /* DimensionDescriptionLabel or "" */
    size_t n_dims;

    struct seg_segment *segments; /* ascending by number; numbers may have gaps */
    size_t n_segments;
    struct seg_frame *frames;     /* number_of_frames entries */
    struct seg_source_ref *refs;
    size_t n_refs;
    uint32_t *dim_values;
    size_t n_dim_values;

    struct seg_pixel_layout pixels;

    size_t memory_bytes; /* what this index holds in memory, for cache budgets */
    uint64_t max_frame_bytes; /* seg_limits.max_frame_bytes in effect: decoded bytes of one frame */
    int fd;              /* private: the file, open for pread by frame readers */
    void *arena;         /* private: string and array storage */
};

/* Limits applied while indexing untrusted objects. Zero fields take defaults. */
struct seg_limits {
    uint64_t max_pixels_per_frame; /* Rows*Columns, default 2^26 */
    uint32_t max_frames;           /* default 1,000,000 */
    uint64_t max_frame_bytes;      /* decoded bytes of one frame, default 256 MiB */
    uint64_t max_inflated_bytes;   /* Deflated Explicit VR LE: the inflated data set, default 256 MiB */
};

/* Reads the file's header and builds the index. Pixel Data is not read (only
 * located). Returns a new index (free with decoder_seg_free) or NULL with e set:
 * ERR_NOT_FOUND (no file), ERR_INVALID (not DICOM, truncated, inconsistent),
 * ERR_UNSUPPORTED (other SOP class or transfer syntax; the message names it). */
struct seg_index *decoder_seg_open(const char *path, const struct seg_limits *limits, struct err *e);

void decoder_seg_free(struct seg_index *idx);

/* The index's descriptor, for a cache that bounds open files (common/file_cache.h):
 * close it (frame reads fail with ERR_IO until it has one again), or hand it fd
 * (owned from then on; the caller checked it is the same file). Not while the
 * index is in use by another thread. */
void decoder_seg_file_close(struct seg_index *idx);
void decoder_seg_file_adopt(struct seg_index *idx, int fd);

/* The segment with that number, or NULL (borrowed from idx). */
const struct seg_segment *decoder_seg_segment(const struct seg_index *idx, int32_t number);

/* Name of the type for JSON: "BINARY", "FRACTIONAL", "LABELMAP". */
const char *decoder_seg_type_name(enum seg_type t);

/* Whether frame (1-based) of idx derives from the source image sop_instance_uid:
 * one of the frame's source references names it, and, when source_frame is not 0,
 * that frame of it (a reference without ReferencedFrameNumber is the whole image, so
 * it matches frame 1). false for a frame out of range. */
bool decoder_frame_derives_from(const struct seg_index *idx, uint32_t frame, const char *sop_instance_uid,
                                uint32_t source_frame);

/* Whether the Referenced Series Sequence lists the image sop_instance_uid. */
bool decoder_seg_references(const struct seg_index *idx, const char *sop_instance_uid);

#endif
