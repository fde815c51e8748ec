/* WADO-RS /frames of a stored non-SEG image (see frames_image.c). */
#ifndef SEGWEB_API_FRAMES_IMAGE_H
#define SEGWEB_API_FRAMES_IMAGE_H

#include <stdbool.h>

#include "api/request.h"
#include "common/err.h"

/* Fills r with req->frame_list of the image at path. False with e set (404 for a
 * frame out of range, 406 for compressed pixel data or another transfer syntax). */
bool api_frames_image(const struct api_request *req, const char *path, struct api_response *r, struct err *e);

#endif
