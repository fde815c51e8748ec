/* Private to volume/: the pieces the public functions are built from. */
#ifndef SEGWEB_VOLUME_INTERNAL_H
#define SEGWEB_VOLUME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/decoder.h"
#include "volume/volume.h"

/* grid.c, shared with grid_source.c */
bool grid_no_patient_geometry(const struct seg_index *idx, struct err *e);
bool grid_axes(const struct seg_index *idx, struct volume_grid *g, struct err *e);
bool grid_check_limits(const struct volume_grid *g, const struct volume_limits *lim, struct err *e);
/* Builds slice_start / slice_frames from frame_slice. */
bool grid_index_slices(const struct seg_index *idx, struct volume_grid *g, struct err *e);

/* slice.c: one slice of one file at a time. */
struct slicer {
    const struct seg_index *idx;
    const struct volume_grid *g;
    const struct seg_segment *seg; /* NULL for the labelmap */
    bool labelmap, binary;
    uint8_t bpv;        /* bytes per voxel: 1 or 2 */
    uint16_t value;     /* what a segment's voxel holds (number, or 1 with binary) */
    uint8_t *buf;       /* ni*nj*bpv, little-endian voxels */
    uint8_t *overlap_flags; /* labelmap: ni*nj, voxels already counted */
    uint32_t r0, r1;    /* rows of buf that may be non-zero (r0 >= r1: none) */
    uint64_t overlap;
    uint64_t max_label; /* largest value written so far */
};

/* The voxel type a file needs: 1 or 2 bytes. */
uint8_t slicer_bytes_per_voxel(const struct seg_index *idx, const struct volume_what *w);

bool slicer_init(struct slicer *s, const struct seg_index *idx, const struct volume_grid *g,
                 const struct volume_what *w, struct err *e);
/* Clears the previous slice and assembles slice k into s->buf. */
bool slicer_fill(struct slicer *s, uint32_t k, struct err *e);
void slicer_free(struct slicer *s);

/* gz.c: raw deflate into gzip framing, with zero runs copied from blocks
 * compressed once. */
struct gz_zero_block {
    uint64_t len;      /* uncompressed zero bytes */
    uint32_t crc;
    uint8_t *data;     /* deflate blocks ending in a full flush, no final bit */
    size_t size;
};

struct gz_zeros {
    struct gz_zero_block blocks[48]; /* descending len */
    int n;
};

/* Blocks for every row_bytes * 2^m up to slice_bytes, plus slice_bytes. */
bool gz_zeros_init(struct gz_zeros *z, uint64_t row_bytes, uint64_t slice_bytes, struct err *e);
void gz_zeros_free(struct gz_zeros *z);

struct gz {
    z_stream z;
    bool open, pending;
    uint32_t crc;
    uint64_t total;
    const struct gz_zeros *zeros;
    struct buf *out;
};

bool gz_begin(struct gz *g, const struct gz_zeros *zeros, struct buf *out, struct err *e);
bool gz_data(struct gz *g, const void *p, size_t n, struct err *e);
bool gz_zero(struct gz *g, uint64_t n, struct err *e);
bool gz_finish(struct gz *g, struct err *e);
void gz_end(struct gz *g);

/* format.c */
#define NIFTI_HEADER_BYTES 352 /* 348-byte header + 4-byte extension flag */
void format_nifti_header(const struct volume_grid *g, uint8_t bpv, double scl_slope,
                         uint8_t out[NIFTI_HEADER_BYTES]);
bool format_nrrd_header(const struct volume_grid *g, uint8_t bpv, double scale, struct buf *out,
                        struct err *e);
/* The affine (RAS, 4x4 row-major) NIfTI gets, for tests and measurements. */
void format_ras_affine(const struct volume_grid *g, double m[4][4]);

#endif
