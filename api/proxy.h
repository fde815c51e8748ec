/* Answers from the upstream archive, passed on (--upstream):
 *
 *   api_proxy_stream()  a GET streamed through: a thread of its own runs the
 *                       upstream transfer into an api/pipe.h pipe that the HTTP
 *                       thread drains, so a retrieve of a whole study is never
 *                       held in memory. The handler returns as soon as the
 *                       upstream's status and headers are known.
 *   api_proxy_json_rewrite()  the URLs in a DICOM JSON answer of the upstream
 *                       (RetrieveURL 00081190, BulkDataURI) rebased onto ours:
 *                       everything before "/studies/" becomes `base`.
 *
 * Failures before the first byte become JSON errors (404 when the upstream has
 * no such object, 502 / 504 otherwise); a failure mid-body ends the body with
 * an error (the client sees a short or aborted transfer, never a wrong one). */
#ifndef SEGWEB_API_PROXY_H
#define SEGWEB_API_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

struct api_pull;
struct api_response;

/* GET path_query from the upstream with accept (NULL: none) into r: the
 * upstream's 2xx status, Content-Type and (when known) length, and the body as
 * r->stream. False with e set (nothing in r) when the upstream failed or
 * answered non-2xx before the body. */
bool api_proxy_stream(struct api_pull *p, const char *path_query, const char *accept, struct api_response *r,
                      struct err *e);

/* Rewrites the JSON text in[0..n) (an array or object of DICOM JSON) into out.
 * base: our URL prefix ("http://host/dicom-web" or "/dicom-web" or ""). */
bool api_proxy_json_rewrite(const void *in, size_t n, const char *base, struct buf *out, struct err *e);

#endif
