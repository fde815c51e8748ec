/* Volumes from a SEG: the slice grid from its geometry, per-segment volumes and
 * the combined labelmap written as NIfTI-1 (.nii, .nii.gz) or NRRD (gzip, LPS),
 * dcmqi's metadata JSON, segment measurements, and a slide segment's whole total
 * pixel matrix.
 *
 * Memory is one slice plus the grid, whatever the volume: files are produced
 * slice by slice in k order, each slice assembled from the frames at that
 * position. In gzip output a run of zero bytes (whole slices, or rows outside a
 * slice's non-zero rows) is a copy of a block compressed once (the live deflate
 * stream is fully flushed at those boundaries; the gzip CRC is combined with
 * crc32_combine), so the cost follows the non-zero part of a volume.
 *
 * Ownership: functions returning a pointer return a new object the caller frees
 * with the matching _free (NULL is fine there); on failure they return NULL /
 * false with e set. The seg_index is borrowed and must outlive every object made
 * from it. All functions are safe to call from several threads on one index. */
#ifndef SEGWEB_VOLUME_VOLUME_H
#define SEGWEB_VOLUME_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/decoder.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VOLUME_NO_SLICE UINT32_MAX

/* A regular grid of voxels in patient space (LPS, mm). Voxel (i, j, k): i is
 * the column index, j the row index, k the slice; its centre is
 * origin + i*spacing[0]*axes[0] + j*spacing[1]*axes[1] + k*spacing[2]*axes[2]. */
struct volume_grid {
    uint32_t ni, nj, nk;
    double origin[3];
    double axes[3][3];  /* unit vectors: row direction, column direction, normal */
    double spacing[3];
    uint32_t n_frames;       /* the SEG's NumberOfFrames */
    uint32_t *frame_slice;   /* [n_frames]: slice k of frame f+1, VOLUME_NO_SLICE if unplaced */
    uint32_t *slice_start;   /* [nk + 1]: slice k's frames are slice_frames[slice_start[k] ..
                                slice_start[k+1]) */
    uint32_t *slice_frames;  /* 1-based frame numbers; within a slice by segment number, then frame */
};

/* Limits for volumes built from untrusted objects. Zero fields take defaults. */
struct volume_limits {
    uint64_t max_voxels; /* ni*nj*nk, default 2^32 (ERR_LIMIT past it) */
};

/* The SEG's own grid: every frame's Plane Position (Patient), one Plane
 * Orientation, Pixel Measures (per-frame item first, then shared). Slices are
 * ordered along the normal (row x column direction); the spacing is the distance
 * between adjacent distinct positions, and slices missing in between (a SEG that
 * leaves out empty frames) are zero. Fills g (free with volume_grid_free).
 * Errors, each naming the reason ("geometry is not a volume: ..."): ERR_INVALID
 * (HTTP 422) for a slide (TILED) SEG, one without patient geometry, several
 * orientations or pixel spacings, in-plane shifts or an irregular slice spacing
 * (more than 1%); ERR_LIMIT past a limit or a dimension NIfTI-1 cannot hold (32767). */
bool volume_grid_from_seg(const struct seg_index *idx, const struct volume_limits *lim,
                          struct volume_grid *g, struct err *e);

/* The grid of a source series: the images (Part 10 files) in directory `dir`
 * give the slices, spacing and extent; the SEG's frames are placed on the image
 * they derive from (Derivation / Source Image Sequence), else on the slice within
 * half a spacing of their position. A frame that falls on no slice, or a SEG
 * whose rows, columns, pixel spacing or orientation differ from the series',
 * is an error naming the frame (no resampling). */
bool volume_grid_from_source(const struct seg_index *idx, const char *dir,
                             const struct volume_limits *lim, struct volume_grid *g, struct err *e);

void volume_grid_free(struct volume_grid *g);

enum volume_format {
    VOLUME_NII,    /* NIfTI-1, uncompressed */
    VOLUME_NII_GZ, /* NIfTI-1, gzip */
    VOLUME_NRRD,   /* NRRD, gzip encoding, left-posterior-superior */
};

/* The format a file name asks for by its ending (.nii, .nii.gz, .nrrd); false if none. */
bool volume_format_from_name(const char *name, enum volume_format *f);
/* Content type and file ending of a format ("application/gzip", ".nii.gz", ...). */
const char *volume_format_mime(enum volume_format f);
const char *volume_format_suffix(enum volume_format f);

/* What one file holds. */
struct volume_what {
    int32_t segment;  /* segment number; ignored for a labelmap */
    bool labelmap;    /* the combined labelmap: voxel = segment number, higher number wins */
    bool binary;      /* 0/1 instead of the segment number / fractional values */
    enum volume_format format;
};

/* A file being produced piece by piece (for HTTP bodies and files alike). */
struct volume_stream;

/* ERR_NOT_FOUND for an unknown segment. */
struct volume_stream *volume_stream_new(const struct seg_index *idx, const struct volume_grid *g,
                                        const struct volume_what *w, struct err *e);

/* The next piece of the file: *data (borrowed, valid until the next call) and
 * *len; *len == 0 at the end. false with e set when a frame cannot be read. */
bool volume_stream_next(struct volume_stream *s, const uint8_t **data, size_t *len, struct err *e);

/* Every remaining piece, in order, to put(arg, data, len, e) (data borrowed for the
 * call). false with e set when a piece cannot be made or put returns false (put sets e). */
bool volume_stream_each(struct volume_stream *s,
                        bool (*put)(void *arg, const uint8_t *data, size_t len, struct err *e), void *arg,
                        struct err *e);

/* Every remaining piece appended to out (an HTTP body). false with e set. */
bool volume_stream_read_all(struct volume_stream *s, struct buf *out, struct err *e);

/* Labelmap: voxels where more than one segment was present, counted so far
 * (all of them once volume_stream_next has returned the end). */
uint64_t volume_stream_overlap_voxels(const struct volume_stream *s);

void volume_stream_free(struct volume_stream *s);

/* The whole file into `path` (written to a temporary name, then renamed). */
bool volume_write_file(const struct seg_index *idx, const struct volume_grid *g,
                       const struct volume_what *w, const char *path, uint64_t *overlap_voxels,
                       struct err *e);

/* Every segment as DIR/<number><suffix>, the labelmap as DIR/labelmap<suffix> and
 * DIR/meta.json, on `threads` threads (common/threadpool). DIR is created if
 * missing. */
bool volume_write_dir(const struct seg_index *idx, const struct volume_grid *g, const char *dir,
                      enum volume_format format, bool binary, unsigned threads,
                      uint64_t *overlap_voxels, struct err *e);

/* Counts the labelmap's overlapping voxels without writing anything (what the
 * X-Segweb-Overlap-Voxels header needs before the body). */
bool volume_labelmap_overlap(const struct seg_index *idx, const struct volume_grid *g,
                             uint64_t *overlap_voxels, struct err *e);

/* dcmqi's metadata JSON for the object (segimage2itkimage's meta.json: series
 * attributes and segmentAttributes, one list per segment file), appended to out. */
bool volume_meta_json(const struct seg_index *idx, struct buf *out, struct err *e);

/* Per-segment measurements. With patient geometry (grid non-NULL): voxels,
 * volume_ml (FRACTIONAL: sum of values / maximum), bounding box in voxel indices
 * and LPS mm (voxel centres), centroid (LPS mm), slices spanned. Slide SEGs
 * (grid NULL): pixels and area_mm2 from the pixel spacing. */
struct volume_measure {
    int32_t number;
    uint64_t voxels;     /* non-zero voxels (pixels for slides) */
    double weighted;     /* sum of values / maximum (== voxels unless FRACTIONAL) */
    double volume_ml;    /* patient; 0 for slides */
    double area_mm2;     /* slides; 0 for patient geometry */
    uint32_t bbox_min[3], bbox_max[3]; /* voxel indices (slides: column, row, 0) */
    double bbox_mm_min[3], bbox_mm_max[3];
    double centroid_mm[3];
    uint32_t slices;     /* bbox_max[2] - bbox_min[2] + 1, 0 when empty */
};

/* New array of idx->n_segments measurements (in segment order), free(). grid NULL:
 * slide / position-less (pixels and area only). only >= 0: measure that segment
 * alone (the others stay zero); -1: all. */
struct volume_measure *volume_measure_segments(const struct seg_index *idx,
                                               const struct volume_grid *grid, int32_t only,
                                               struct err *e);

/* One segment's whole total pixel matrix (slide SEGs) as one PNG appended to out:
 * tiles from TILED_FULL implicit order or TILED_SPARSE positions, missing tiles
 * zero, all focal planes merged. BINARY: a 1-bit 0/1 PNG; FRACTIONAL: 8-bit
 * values; LABELMAP: 1-bit, 1 where the value is the segment's number.
 * ERR_INVALID without a total pixel matrix, ERR_NOT_FOUND for an unknown
 * segment, ERR_LIMIT past max_pixels (0: 100 million). */
bool volume_total_png(const struct seg_index *idx, int32_t segment, uint64_t max_pixels,
                      struct buf *out, struct err *e);

/* All segments on one source image as a 2-D PNG appended to out: value =
 * segment number (8-bit, 16-bit above 255), the labelmap's rules (ascending
 * number, the higher wins; FRACTIONAL where 2 * value >= maximum); color: RGBA
 * with each segment's colour, background transparent. Frames match the source
 * by Derivation/Source Image references (source_frame 0: any frame of it).
 * ERR_NOT_FOUND when the object does not reference that source. *overlap_pixels
 * (may be NULL) gets the pixels covered by more than one segment. */
bool volume_labelmap_png(const struct seg_index *idx, const char *source_uid, uint32_t source_frame,
                         bool color, struct buf *out, uint64_t *overlap_pixels, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
