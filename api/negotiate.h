/* Header negotiation: Accept, Accept-Encoding, If-None-Match, and ETags. */
#ifndef SEGWEB_API_NEGOTIATE_H
#define SEGWEB_API_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>

/* True when the Accept value allows image/png (the ranges image/png, image/any or any/any
 * q > 0), or is empty (no header). */
bool api_accepts_png(const char *accept);

/* True when Accept-Encoding allows gzip (gzip, x-gzip or * with q > 0). */
bool api_accepts_gzip(const char *accept_encoding);

/* True when If-None-Match ("*", or a list of entity tags) matches etag (a quoted
 * tag). Weak comparison, as RFC 9110 asks for If-None-Match. */
bool api_etag_matches(const char *if_none_match, const char *etag);

/* A strong ETag for the given text (a quoted 128-bit hex hash): the service
 * hashes the instance identity and the request variant into it. */
void api_etag_make(const char *text, char out[40]);

#endif
