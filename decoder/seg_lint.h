/* The SEG doctor: what in a Segmentation makes viewers and archives fail on it.
 * Pure checks over an opened index (and, for the references, what the caller
 * can tell about the source images); no HTTP, no store: the caller passes a
 * lookup function. Findings are plain structs; api/lint.c makes JSON of them.
 *
 * Codes (stable; the severity says how likely a consumer breaks):
 *   REFERENCED_SERIES_MISSING  error    no Referenced Series Sequence
 *   SOURCE_NOT_FOUND           warning  referenced images segweb cannot find (store / files root)
 *   SOURCE_OTHER_SERIES        error    a referenced image belongs to another series than the one named
 *   FRAME_WITHOUT_SOURCE       warning  frames with no source image reference (Derivation Image Sequence)
 *   SEGMENT_NUMBERS            warning  segment numbers are not 1..n (LABELMAP: 0 may be the background)
 *   OFF_GRID                   warning  frame positions not on one regularly spaced stack
 *   GRID_UNLIKE_SOURCE         error    orientation, pixel spacing or rows x columns unlike the source's
 *   EMPTY_SEGMENT              warning  a segment with no frames, or only empty ones
 *   SPACING_BETWEEN_SLICES_MISSING warning  several planes but no Spacing Between Slices
 *   BITS_NOT_BYTE_ALIGNED      info     BINARY frames whose pixel count is not a multiple of 8
 *   PIXEL_DATA_LENGTH          error    native Pixel Data length unlike what the frames need
 *   CODE_WITHOUT_SCHEME        warning  a coded concept without a coding scheme designator */
#ifndef SEGWEB_DECODER_SEG_LINT_H
#define SEGWEB_DECODER_SEG_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "decoder/seg.h"

enum seg_lint_severity { SEG_LINT_INFO, SEG_LINT_WARNING, SEG_LINT_ERROR };

struct seg_lint_finding {
    enum seg_lint_severity severity;
    const char *code; /* static string */
    char message[300];
};

/* What the caller knows about a referenced image. */
struct seg_lint_source {
    bool found;
    char series_uid[65];
    uint32_t rows, columns;
    bool has_orientation, has_spacing;
    double orientation[6], spacing[2];
};

/* Fills *out for the image with that SOP Instance UID; return false when
 * unknown (then it counts as not found). */
typedef bool (*seg_lint_lookup_fn)(void *arg, const char *sop_uid, struct seg_lint_source *out);

#define SEG_LINT_MAX 64

struct seg_lint_report {
    struct seg_lint_finding items[SEG_LINT_MAX];
    size_t n;
    size_t sources_checked, sources_found;
};

/* Runs every check. lookup may be NULL (reference checks are then skipped).
 * Reads frame pixels only to find empty segments, and only for objects of at
 * most max_frames_read frames (0: 4096). Never fails. */
void decoder_seg_lint(const struct seg_index *idx, seg_lint_lookup_fn lookup, void *arg,
                      size_t max_frames_read, struct seg_lint_report *out);

const char *decoder_seg_lint_severity_name(enum seg_lint_severity s);

#endif
