/* The viewer's route handlers (issue 14), each of the plain route signature
 * (ctx, request, response): they resolve R themselves (api_viewer_resolve) because
 * they need the context (the store and files root, to find source images by UID)
 * or serve objects that are not SEGs (source images).
 *
 *   R/rendered, R/frames/{f}/rendered   api/rendered.h (a SEG's own frames keep
 *                                       their meaning: api_frame_rendered_get)
 *   R/slices                            api/slices.h
 *   R/lint                              api/lint.h
 *   /view, /view/...                    api/view.h
 *   /studies/{s}/series/{se}/thumbnail  api/thumbnail.h */
#ifndef SEGWEB_API_VIEWER_H
#define SEGWEB_API_VIEWER_H

#include <limits.h>
#include <stdbool.h>

#include "api/request.h"

struct api_ctx;

/* R of req (files root or store) to a file path; *immutable: a stored object. */
bool api_viewer_resolve(struct api_ctx *ctx, const struct api_request *req, char *path,
                        size_t pathsz, bool *immutable, struct err *e);

/* The handlers themselves are declared in api/handlers.h (the route table's list). */

#endif
