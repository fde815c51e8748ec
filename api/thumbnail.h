/* GET /studies/{s}/series/{se}/thumbnail (PS3.18 thumbnail resource) for a SEG
 * series: the middle slice of its first SEG instance with every segment burned
 * in (opacity 0.5, outline), over the source image when segweb has it, on
 * black otherwise. PNG, or JPEG when the Accept header asks for it. */
#ifndef SEGWEB_API_THUMBNAIL_H
#define SEGWEB_API_THUMBNAIL_H

#include "api/request.h"
#include "decoder/decoder.h"
#include "render/render.h"

struct api_ctx;

void api_thumbnail_get(struct api_ctx *ctx, const struct api_request *req, struct api_response *r);

/* The thumbnail picture of one SEG (its middle slice); img is new on success. */
bool api_seg_thumbnail(struct api_ctx *ctx, const struct seg_index *idx, struct render_image *img,
                       struct err *e);

#endif
