/* render/: source images (CT, MR, CR, SM, ...) as display pixels, and masks
 * burned into them. The one public header of the module.
 *
 *   render_source_probe()  header of any DICOM image file: UIDs, geometry, window presets
 *   render_source_frame()  one frame through DCMTK's dcmimgle/dcmimage pipeline:
 *                          modality LUT (Rescale Slope/Intercept), VOI (the window
 *                          asked for, else the object's first window / VOI LUT, else
 *                          min-max), MONOCHROME1 inverted; colour images pass
 *                          through as RGB. JPEG baseline/extended/lossless, JPEG-LS
 *                          and RLE are decoded by DCMTK's registered codecs, JPEG 2000
 *                          by OpenJPEG (decoder_j2k_image_decode, decoder/).
 *   render_overlay()       masks drawn over the image in their colours (fill with an
 *                          opacity, optional outline). Masks are plain struct
 *                          seg_pixels from decoder/ (1-bit or 8-bit); render/ does
 *                          not know what a segment is: the caller (api/) picks the
 *                          masks and colours of a SEG.
 *   render_png(), render_jpeg()  encoders.
 *
 * DCMTK lives only in render/source_dcmtk.cc (the bridge rule); every function
 * here is plain C, thread-safe, and reports failure through struct err. */
#ifndef SEGWEB_RENDER_RENDER_H
#define SEGWEB_RENDER_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "decoder/decoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PS3.3 C.11.2.1.2 VOI LUT Function (PS3.18 rendered "window" parameter). */
enum render_voi_function { RENDER_VOI_LINEAR, RENDER_VOI_LINEAR_EXACT, RENDER_VOI_SIGMOID };

struct render_window {
    bool set; /* false: use the object's window, else min-max */
    double center, width;
    enum render_voi_function function;
};

/* Parses PS3.18 "center,width[,function]" (function: linear, linear-exact,
 * sigmoid; default linear). Width must be > 0 (>= 1 for linear). ERR_PARSE. */
bool render_window_parse(const char *s, struct render_window *out, struct err *e);

#define RENDER_UID_MAX 64
#define RENDER_MAX_WINDOWS 8

struct render_window_preset {
    double center, width;
    char explanation[65];
};

/* What the page and the SEG doctor need to know about a source image. Strings
 * are "" when absent. */
struct render_source_info {
    char sop_class_uid[RENDER_UID_MAX + 1], sop_instance_uid[RENDER_UID_MAX + 1];
    char study_uid[RENDER_UID_MAX + 1], series_uid[RENDER_UID_MAX + 1];
    char frame_of_reference_uid[RENDER_UID_MAX + 1];
    char modality[17], photometric[17], voi_function[17];
    uint32_t rows, columns, frames, samples_per_pixel;
    bool has_pixels;     /* Pixel Data (or Float/Double Float Pixel Data) present */
    bool has_position;   /* ImagePositionPatient (top level or shared/first per-frame group) */
    double position[3];
    bool has_orientation;
    double orientation[6];
    bool has_spacing;    /* PixelSpacing */
    double spacing[2];
    double slice_thickness; /* 0 when absent */
    double rescale_slope, rescale_intercept; /* 1 / 0 when absent */
    struct render_window_preset windows[RENDER_MAX_WINDOWS];
    size_t n_windows;
};

/* Reads the header of the DICOM file at path (stops before Pixel Data).
 * ERR_NOT_FOUND: no file; ERR_INVALID: not DICOM. */
bool render_source_probe(const char *path, struct render_source_info *out, struct err *e);

/* Display pixels: 8 bits per sample, row-major, channels interleaved. */
struct render_image {
    uint32_t rows, columns;
    uint8_t channels; /* 1 grey, 3 RGB */
    uint8_t *data;    /* rows * columns * channels bytes, owned (malloc) */
    /* What the VOI stage did (grey images). */
    bool windowed;
    double center, width;
    const char *window_source; /* "query", "object", "voi-lut", "min-max" or "none" (colour) */
};

/* Limits for render_source_frame (0: default). */
struct render_limits {
    uint64_t max_pixels; /* rows*columns of one frame, default 2^26 */
};

/* Renders frame `frame` (1-based) of the image at path. win may be NULL.
 * ERR_NOT_FOUND: no file or frame out of range; ERR_UNSUPPORTED: no pixel data,
 * a transfer syntax DCMTK cannot decode here, or a SEG (use decoder/);
 * ERR_INVALID: DCMTK could not build the image. out->data is new on success. */
bool render_source_frame(const char *path, uint32_t frame, const struct render_window *win,
                         const struct render_limits *limits, struct render_image *out,
                         struct err *e);

/* A black grey image (masks alone when the source is missing). */
bool render_image_blank(uint32_t rows, uint32_t columns, struct render_image *out, struct err *e);

void render_image_free(struct render_image *img); /* accepts NULL and zeroed images */

/* One mask to burn in. mask: bits 1 (packed LSB first, bit 0 = pixel 0) or 8
 * (coverage 0..max_value, e.g. FRACTIONAL); it must have the image's rows and
 * columns. Borrowed. */
struct render_layer {
    const struct seg_pixels *mask;
    uint8_t rgb[3];
    uint32_t max_value; /* 8-bit masks: the value meaning full coverage (0: 255) */
};

struct render_overlay_params {
    double opacity; /* 0..1, fill alpha at full coverage */
    bool outline;   /* draw the mask's boundary (4-neighbourhood) opaque */
};

/* Draws the layers in order over img: each covered pixel becomes
 * (1 - a) * pixel + a * colour with a = opacity * coverage, rounded to nearest;
 * outline pixels (covered, with an uncovered 4-neighbour or on the image edge)
 * take the colour itself. A grey image becomes RGB. ERR_INVALID when a mask's
 * size differs from the image's. */
bool render_overlay(struct render_image *img, const struct render_layer *layers, size_t n,
                    const struct render_overlay_params *p, struct err *e);

/* Appends a PNG (8-bit grey or RGB) of img to out. */
bool render_png(const struct render_image *img, struct buf *out, struct err *e);

/* Appends a baseline JPEG (quality 1..100) of img to out. */
bool render_jpeg(const struct render_image *img, int quality, struct buf *out, struct err *e);

#ifdef __cplusplus
}
#endif

#endif
