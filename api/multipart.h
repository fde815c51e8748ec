/* A push parser for multipart bodies (RFC 2046, as STOW-RS sends them):
 * bytes arrive in chunks of any size, parts come out through callbacks, and
 * the state is bounded (the delimiter being matched, one part's headers, a
 * 64 KiB output buffer). The boundary may straddle chunk edges.
 *
 * Design note: the delimiter is "\r\n--" + boundary, and a boundary cannot
 * hold CR, so a partial match can only restart at a CR: after a mismatch the
 * bytes matched so far are data, exactly the delimiter's prefix. No look-back
 * buffer is needed. */
#ifndef SEGWEB_API_MULTIPART_H
#define SEGWEB_API_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define API_MULTIPART_BOUNDARY_MAX 512  /* RFC 2046 says 70; Orthanc sends 73: liberal in what we accept */
#define API_MULTIPART_HEADERS_MAX 8192  /* header bytes of one part */

struct api_multipart_cb {
    /* A part starts; content_type is its Content-Type ("" when absent). */
    bool (*part_begin)(void *arg, const char *content_type, struct err *e);
    bool (*part_data)(void *arg, const uint8_t *p, size_t n, struct err *e);
    bool (*part_end)(void *arg, struct err *e);
};

struct api_multipart;

/* From a Content-Type value: the media type (lower case, no parameters), and
 * the "type" and "boundary" parameters (quoted or not; "" when absent).
 * ERR_PARSE when the value is malformed or a parameter too long. */
bool api_content_type_parse(const char *value, char *media, size_t mediasz, char *type,
                            size_t typesz, char *boundary, size_t boundarysz, struct err *e);

/* A parser for one body; cb and arg are borrowed. ERR_PARSE for a bad boundary. */
struct api_multipart *api_multipart_new(const char *boundary, const struct api_multipart_cb *cb,
                                        void *arg, struct err *e);
/* Feeds the next chunk. false with e set (ERR_PARSE, or the callback's error);
 * the parser is then dead. */
bool api_multipart_feed(struct api_multipart *mp, const uint8_t *p, size_t n, struct err *e);
/* End of body: ERR_PARSE unless the closing delimiter was seen. */
bool api_multipart_finish(struct api_multipart *mp, struct err *e);
/* Inside part_begin only: the value of header `name` (case-insensitive, e.g.
 * "Content-Location") of the part being begun, into out; false ("" in out) when
 * the part has no such header. */
bool api_multipart_part_header(const struct api_multipart *mp, const char *name, char *out, size_t outsz);
/* Parts started so far. */
size_t api_multipart_parts(const struct api_multipart *mp);
void api_multipart_free(struct api_multipart *mp);

#endif
