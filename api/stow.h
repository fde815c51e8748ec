/* STOW-RS: POST /studies[/{study}].
 *
 *   HTTP thread:  api_stow_begin() when the headers are in, api_stow_feed() for
 *                 each body chunk (parts go to temp files in the store's tmp/,
 *                 nothing is decoded), api_stow_end() at the end of the body.
 *   worker:       api_stow_store() (api/handlers.h) validates each part with the decoder, moves
 *                 it into the store (store_instance_put) and writes the Store
 *                 Instances Response (DICOM JSON).
 *   completion:   api_stow_free() removes the temp files that are left.
 *
 * Accepted bodies: multipart/related; type="application/dicom"; boundary=...
 * (quoted or not), and as an extension a single application/dicom object. */
#ifndef SEGWEB_API_STOW_H
#define SEGWEB_API_STOW_H

#include <stdbool.h>
#include <stddef.h>

#include "api/ctx.h"
#include "api/request.h"

struct store;

/* The route table reaches these through api_stow_sink (api/handlers.h).
 * Starts an upload. ERR_UNSUPPORTED (415) for another media type, ERR_PARSE
 * (400) for a multipart type without boundary. max_parts bounds the parts. */
struct api_stow *api_stow_begin(struct store *store, const char *content_type, size_t max_parts,
                                struct err *e);
/* A body chunk. false with e set (ERR_PARSE 400, ERR_LIMIT 413, ERR_IO). */
bool api_stow_feed(struct api_stow *st, const void *p, size_t n, struct err *e);
/* The body is complete. ERR_PARSE when it is not a whole multipart body. */
bool api_stow_end(struct api_stow *st, struct err *e);
/* Closes and removes what is left; NULL is fine. */
void api_stow_free(struct api_stow *st);

#endif
