/* The route table: a raw request target ("/files/a/b.dcm/frames/2/rendered?style=color")
 * to a route id, its instance resource R and its parameters. Pure string work,
 * no file system access; path confinement proper is api/path_confine.h.
 *
 * Rules (strict on purpose):
 *   - the path is split on '/' before percent-decoding, so %2f never makes a separator;
 *   - every segment is percent-decoded once (%252e stays the literal "%2e");
 *   - a decoded /files segment that is empty, ".", "..", or holds '/', '\\', NUL or a
 *     control character is refused (400), as is a bad %-escape;
 *   - numbers are 1..9 ASCII digits without a leading zero (400 otherwise); a segment
 *     number may also be "0" (LABELMAP background), a frame number may not;
 *   - UIDs are digits and dots, at most 64 characters;
 *   - at most API_QUERY_MAX query parameters; unknown ones are ignored. */
#ifndef SEGWEB_API_ROUTE_H
#define SEGWEB_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/request.h"

#define API_QUERY_MAX 16

/* Parses req->target (already copied in by the caller) into req->route and its
 * parameters. On failure returns false and sets req->route_err too (ERR_PARSE:
 * malformed, ERR_NOT_FOUND: no such route); req->route is then API_ROUTE_NONE. */
bool api_request_route(struct api_request *req, struct err *e);

/* True when the route only needs a decoded index (runs on a worker); false for
 * cheap routes answered on the HTTP thread (health, readiness, metrics, errors). */
bool api_route_needs_worker(const struct api_request *req);

/* Percent-decodes src[0..n) into dst (capacity dstsz, NUL-terminated).
 * plus_is_space: '+' becomes ' ' (query strings). Fails on a bad escape, on a
 * decoded NUL, or when dst is too small. Returns the decoded length via *len. */
bool api_url_decode(const char *src, size_t n, bool plus_is_space, char *dst, size_t dstsz,
                    size_t *len, struct err *e);

/* Strict 1-based number: 1..9 digits, no sign, no leading zero. */
bool api_number_parse(const char *s, uint32_t *out);

/* A DICOM UID: 1..64 characters of digits and dots. */
bool api_uid_valid(const char *s);

#endif
