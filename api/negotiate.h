/* Header negotiation: Accept, Accept-Encoding, If-None-Match, and ETags. */
#ifndef SEGWEB_API_NEGOTIATE_H
#define SEGWEB_API_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>

/* The one Accept matcher: true when the Accept value (empty: anything) allows `media`
 * ("image/png", "application/dicom+json"; application/json stands for the latter) or,
 * for multipart, `media` "multipart/related" whose type parameter (if any) is
 * `part_type`. The most specific matching range decides (RFC 9110 12.5.1): exact over
 * type/any over any/any; its q must be > 0. */
bool api_accepts_media(const char *accept, const char *media, const char *part_type);

/* api_accepts_media(accept, "image/png", NULL). */
bool api_accepts_png(const char *accept);

/* True when the Accept value names media type a (q > 0) before it names b: the
 * viewer's "the first one named wins" between image/jpeg and image/png. */
bool api_accept_names_first(const char *accept, const char *a, const char *b);

#define API_TS_EXPLICIT_LE "1.2.840.10008.1.2.1" /* what no transfer-syntax parameter means */

/* The transfer-syntax parameter of an Accept value ("*", a UID), "" when absent. */
void api_accept_transfer_syntax(const char *accept, char *out, size_t sz);

/* True when Accept-Encoding allows gzip (gzip, x-gzip or * with q > 0). */
bool api_accepts_gzip(const char *accept_encoding);

/* True when If-None-Match ("*", or a list of entity tags) matches etag (a quoted
 * tag). Weak comparison, as RFC 9110 asks for If-None-Match. */
bool api_etag_matches(const char *if_none_match, const char *etag);

/* A strong ETag for the given text (a quoted 128-bit hex hash): the service
 * hashes the instance identity and the request variant into it. */
void api_etag_make(const char *text, char out[40]);

#endif
