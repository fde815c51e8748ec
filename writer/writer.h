/* writer/: DICOM Segmentations written from label volumes + dcmqi metadata JSON.
 * The one header other modules include.
 *
 *   source  = the series the segmentation was drawn on (folder, or file list)
 *   labels  = label volumes (.nii, .nii.gz, .nrrd; from a file or from memory)
 *   meta    = dcmqi's metadata JSON (segmentAttributes, series fields)
 *   writer_seg_create(source, labels, meta, options) -> a new Part 10 file
 *
 * Label voxels are matched to source images by position (within half a slice),
 * never by index. A label volume is read one slice at a time: memory is the
 * packed output frames plus one slice, whatever the volume's size.
 *
 * Ownership: every *_open / *_parse returns a new object the caller frees with
 * the matching *_free (which accepts NULL); on failure NULL with e set.
 * Error codes: ERR_INVALID (bad input: grid mismatch, labels missing from the
 * metadata, several series, a non-image source ...), ERR_PARSE (a label file or
 * JSON that cannot be parsed), ERR_UNSUPPORTED (well-formed but not handled),
 * ERR_LIMIT (a limit in struct writer_limits), ERR_IO, ERR_NOMEM. */
#ifndef SEGWEB_WRITER_WRITER_H
#define SEGWEB_WRITER_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WRITER_SOFTWARE_VERSION "segweb 0.9"

enum writer_type { WRITER_BINARY, WRITER_FRACTIONAL, WRITER_LABELMAP };
enum writer_compress { WRITER_COMPRESS_NONE, WRITER_COMPRESS_RLE, WRITER_COMPRESS_DEFLATE };

/* Warnings (a file in the source folder that is not DICOM, a metadata label
 * the volume does not contain ...): one line each, no trailing newline. */
typedef void (*writer_warn_fn)(void *arg, const char *msg);

struct writer_limits {
    uint64_t max_frames;        /* frames in the object written; 0: 100,000 */
    uint64_t max_pixels;        /* pixels of one label volume; 0: 2^31 */
    uint64_t max_output_bytes;  /* Pixel Data bytes; 0: 2 GiB */
    uint64_t max_label_bytes;   /* inflated bytes of one label file; 0: 4 GiB */
};

/* ---- source series ---- */

struct writer_source;

/* Reads every file of dir (not recursive; names sorted). Files that are not
 * DICOM are skipped with a warning; a folder holding several series, images of
 * different sizes or orientations, or objects without pixels (SR, SEG ...) is
 * ERR_INVALID. Pixel Data is not read. */
struct writer_source *writer_source_open_dir(const char *dir, writer_warn_fn warn, void *warn_arg,
                                             struct err *e);
/* The same from a list of files (paths borrowed for the call only). */
struct writer_source *writer_source_open_files(const char *const *paths, size_t n, writer_warn_fn warn,
                                               void *warn_arg, struct err *e);
void writer_source_free(struct writer_source *src);
/* Series / study of the source (borrowed from src). */
const char *writer_source_series_uid(const struct writer_source *src);
const char *writer_source_study_uid(const struct writer_source *src);
size_t writer_source_count(const struct writer_source *src);
/* SOP Instance UID of image i (borrowed), in the order the images lie along the normal. */
const char *writer_source_instance_uid(const struct writer_source *src, size_t i);

/* ---- label volumes ---- */

struct writer_labels;

/* Opens a label volume: NIfTI-1 (.nii, or gzip'd .nii.gz) or NRRD (raw or gzip
 * encoding, attached data), told apart by content, not by name. Only the header
 * is read here; voxels are read slice by slice while writing. name is used in
 * messages. The _mem form borrows data until writer_labels_free(). */
struct writer_labels *writer_labels_open_file(const char *path, const struct writer_limits *lim,
                                              struct err *e);
struct writer_labels *writer_labels_open_mem(const uint8_t *data, size_t len, const char *name,
                                             const struct writer_limits *lim, struct err *e);
void writer_labels_free(struct writer_labels *l);

/* One greyscale PNG mask per source image, named by the image's SOP Instance
 * UID; pixel values are labelIDs (1-bit masks: 0/1), never scaled. The set is
 * one label source (one segmentAttributes list); each mask goes with the
 * source image of its UID, not with a position. Decoded here (bytes borrowed
 * for the call only); ERR_PARSE for a broken PNG, ERR_INVALID for a colour
 * PNG or masks of different sizes. */
struct writer_mask {
    const char *sop_uid;
    const uint8_t *png;
    size_t len;
};
struct writer_labels *writer_labels_from_masks(const struct writer_mask *masks, size_t n, const char *name,
                                               const struct writer_limits *lim, struct err *e);

/* ---- metadata ---- */

struct writer_meta;

/* Parses dcmqi's segmentation metadata JSON. ERR_PARSE for broken JSON,
 * ERR_INVALID for a missing or ill-typed member (unknown code format, labelID
 * outside 1..65535, duplicated labelID within one file ...). */
struct writer_meta *writer_meta_parse(const char *json, size_t len, struct err *e);
void writer_meta_free(struct writer_meta *m);
/* Number of label-file lists in segmentAttributes. */
size_t writer_meta_files(const struct writer_meta *m);

/* ---- writing ---- */

struct writer_options {
    enum writer_type type;           /* default BINARY */
    bool keep_empty_frames;          /* default false: empty frames are skipped */
    enum writer_compress compress;   /* default none */
    const char *uid_root;            /* NULL: 2.25.<random 128 bit> UIDs */
    struct writer_limits limits;
    writer_warn_fn warn;
    void *warn_arg;
};

struct writer_result {
    char study_uid[65], series_uid[65], sop_uid[65], sop_class_uid[65];
    uint32_t frames, segments;
    uint64_t bytes; /* size of the file written */
};

/* Writes the SEG to out_path (created or truncated; on failure it may hold
 * partial bytes: write to a temporary name and rename, as the CLI does).
 * labels[i] goes with segmentAttributes[i] of meta. */
bool writer_seg_create(const struct writer_source *src, struct writer_labels *const *labels, size_t n_labels,
                       const struct writer_meta *meta, const struct writer_options *opt, const char *out_path,
                       struct writer_result *res, struct err *e);

/* Parses "BINARY"/"FRACTIONAL"/"LABELMAP" and "none"/"rle"/"deflate" (case-insensitive). */
bool writer_type_parse(const char *s, enum writer_type *out);
bool writer_compress_parse(const char *s, enum writer_compress *out);

#ifdef __cplusplus
}
#endif

#endif
