/* Private to writer/: the structs behind the opaque handles of writer.h and the
 * helpers the writer's files share. Nothing outside writer/ includes this. */
#ifndef SEGWEB_WRITER_INTERNAL_H
#define SEGWEB_WRITER_INTERNAL_H

#include <stdio.h>
#include <zlib.h>

#include "writer/writer.h"

/* ---- label volumes (labels.c) ---- */

enum label_dtype { LD_U8, LD_I8, LD_U16, LD_I16, LD_U32, LD_I32, LD_U64, LD_I64, LD_F32, LD_F64 };

struct writer_labels {
    char name[256];
    uint32_t dim[3];
    double origin[3];  /* LPS of voxel (0,0,0) */
    double axis[3][3]; /* LPS step of one voxel along index i, j, k */
    enum label_dtype dtype;
    unsigned bpv;
    bool swap;         /* data is big-endian */
    bool scaled;       /* NIfTI scl_slope / scl_inter apply */
    double slope, inter;
    uint32_t next_slice;
    /* input: a memory block, or a file read through rbuf */
    const uint8_t *mem;
    size_t mem_len;
    FILE *fp;
    uint8_t *rbuf;     /* file input buffer (owned) */
    const uint8_t *rp; /* unread raw bytes: rp[0 .. rn) */
    size_t rn;
    bool gz;           /* data is a gzip stream from the current raw position */
    bool zinit;
    bool zend;
    z_stream zs;
    uint64_t inflated, max_inflated;
    uint8_t *slice;    /* raw bytes of one slice (owned) */
    /* a mask set (mask_png.c) instead of a volume: slice k is mask k, matched to
     * the source image mask_uids[k]; values dim[0] * dim[1] uint16 */
    size_t n_masks;
    char **mask_uids;
    uint16_t **mask_vals;
};

/* Reads the next slice (k = 0, 1, ...) as floats, scaling applied: out holds
 * dim[0] * dim[1] values, i fastest. row_nz (dim[1] entries, or NULL): 0 for
 * a row j that is all zero, 1 for one that may not be. */
bool labels_read_slice(struct writer_labels *l, float *out, uint8_t *row_nz, struct err *e);
bool labels_is_float(const struct writer_labels *l);

/* ---- metadata (meta.c) ---- */

struct meta_code {
    const char *value, *scheme, *meaning; /* borrowed from the JSON */
};

struct meta_segment {
    size_t file;
    uint32_t label_id;
    const char *label, *description, *algo_type, *algo_name, *tracking_id, *tracking_uid;
    struct meta_code category, type, anatomic;
    bool has_anatomic, has_rgb;
    struct meta_code *type_mods, *anat_mods;
    size_t n_type_mods, n_anat_mods;
    uint8_t rgb[3];
};

struct writer_meta {
    void *root; /* json_t *, keeps every borrowed string alive */
    const char *content_creator, *ct_series_id, *ct_timepoint_id, *ct_center;
    const char *series_description, *body_part, *content_label, *content_description;
    char series_number[16], instance_number[16];
    struct meta_segment *segs;
    size_t n_segs, n_files;
};

/* ---- source series (source.c + source_dcmtk.cc) ---- */

struct src_attr {
    uint32_t tag;
    char *value; /* raw bytes of the value, owned */
};

struct src_image {
    char *sop_uid, *class_uid;
    double ipp[3];
    double dist; /* along the normal */
};

struct writer_source {
    char *study_uid, *series_uid, *for_uid;
    uint32_t rows, cols;
    double iop[6], spacing[2], normal[3];
    bool has_thickness;
    double thickness;
    double gap; /* smallest distance between neighbouring images; 0 with one image */
    struct src_image *images; /* sorted by dist */
    size_t n;
    struct src_attr *attrs; /* patient / study attributes of the first image */
    size_t n_attrs;
};

#endif
