/* WADO-RS Rendered for source images, with segments burned in (issue 14):
 *
 *   GET R/rendered, R/frames/{f}/rendered   R a stored image or a /files path
 *     ?window=center,width[,linear|linear-exact|sigmoid]   PS3.18 8.3.5.1.4
 *     ?segmentation={SEG SOP Instance UID}   burn that SEG's masks on this frame
 *     &segments=1,3      only these segments (default: all)
 *     &opacity=0.5       fill opacity 0..1 (default 0.5)
 *     &outline=true      draw each mask's boundary opaque
 *     &quality=90        JPEG quality
 *     &accept=image/jpeg or Accept: image/jpeg   JPEG instead of PNG
 *
 * When R is itself a SEG, R/frames/{f}/rendered keeps its meaning (the SEG's
 * own frame, api/frames.c): the caller decides with api_is_segmentation(). */
#ifndef SEGWEB_API_RENDERED_H
#define SEGWEB_API_RENDERED_H

#include <stdbool.h>
#include <stdint.h>

#include "api/request.h"
#include "decoder/decoder.h"
#include "render/render.h"

struct api_ctx;

#define API_RENDER_SEGMENTS_MAX 256

struct api_rendered_params {
    struct render_window window;
    char segmentation[API_UID_MAX + 1]; /* "" : no burn-in */
    int32_t segments[API_RENDER_SEGMENTS_MAX];
    size_t n_segments;                  /* 0: all segments */
    double opacity;
    bool outline;
    bool jpeg;                          /* ?accept=image/jpeg (the Accept header is the caller's) */
    int quality;
};

/* Parses the query string (without '?'; NULL or "" for none). Unknown
 * parameters are ignored; a bad value is ERR_PARSE with a sentence. */
bool api_rendered_params_parse(const char *query, struct api_rendered_params *p, struct err *e);

/* True when the Accept header asks for JPEG rather than PNG. */
bool api_rendered_wants_jpeg(const char *accept);

/* True when the file is a Segmentation (SEG .66.4 or Label Map .66.7). */
bool api_is_segmentation(const char *path);

/* Renders frame `frame` of the source image at path, burns in the SEG named by
 * p->segmentation when set, and fills r (200, image/png or image/jpeg). */
bool api_source_rendered_get(struct api_ctx *ctx, const char *path, uint32_t frame,
                             const struct api_rendered_params *p, struct api_response *r,
                             struct err *e);

/* Burns the masks of idx's segments (p->segments, or every segment) that lie on
 * source (source_uid, source_frame) into img. ERR_NOT_FOUND for an unknown
 * segment number or a SEG that does not reference the source; ERR_INVALID when
 * the SEG's grid differs from the image's. */
bool api_burn_segments(const struct seg_index *idx, const char *source_uid, uint32_t source_frame,
                       const struct api_rendered_params *p, struct render_image *img,
                       struct err *e);

/* Encodes img as PNG or JPEG into r (200). */
bool api_image_response(const struct render_image *img, bool jpeg, int quality,
                        struct api_response *r, struct err *e);

#endif
