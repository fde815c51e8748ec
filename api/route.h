/* Routes: the row type of the one route table (api/route_table.c) and the matcher
 * that turns a raw request target ("/files/a/b.dcm/frames/2/rendered?style=color")
 * into a row, its instance resource R and its parameters. Pure string work, no file
 * system access; path confinement proper is api/path_confine.h.
 *
 * Patterns (one per row), segments separated by '/':
 *   literal        "segments", "metadata", "volume.nii.gz": the decoded segment, equal
 *   R              the instance resource, first only: "files/<relative path>" (one or
 *                  more safe segments) or "studies/{study}/series/{series}/instances/{sop}"
 *   {study} {series} {sop}   a UID into req->res (and req->level)
 *   {n}            a segment number (0 allowed: LABELMAP background) into req->segment
 *   {f}            a frame number (1-based) into req->frame
 *   {frames}       a frame list "1,3,5" into req->frame_list
 *   {tag}          a DICOM tag, 8 hex digits ("7FE00010"), into req->tag
 *   {n}.png        a parameter followed by a literal suffix in the same segment
 *   ...?source     (at the end) a query parameter the route requires
 *   *              (last, without R) the rest of the path, zero or more segments,
 *                  left to the handler (the page: "/view" then "*")
 *
 * Matching rules (strict on purpose):
 *   - the path is split on '/' before percent-decoding, so %2f never makes a separator;
 *   - every segment is percent-decoded once (%252e stays the literal "%2e");
 *   - a decoded /files segment that is empty, ".", "..", or holds '/', '\\', NUL or a
 *     control character is refused (400), as is a bad %-escape;
 *   - numbers are 1..9 ASCII digits without a leading zero (400 otherwise); a segment
 *     number may also be "0", a frame number may not;
 *   - UIDs are digits and dots, at most 64 characters (400 otherwise);
 *   - a target whose shape matches a row but whose parameters do not parse is 400,
 *     one that matches no row 404;
 *   - several rows may share a pattern with different methods (GET retrieve, DELETE,
 *     POST STOW): the row allowing the method wins; when none does, the request keeps
 *     the row that allows GET (405, Allow: the union over the pattern's rows);
 *   - at most API_QUERY_MAX query parameters; unknown ones are ignored. */
#ifndef SEGWEB_API_ROUTE_H
#define SEGWEB_API_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/ctx.h"
#include "api/request.h"

#define API_QUERY_MAX 16

/* Methods a row allows, a bit set. API_GET means GET and HEAD; OPTIONS (CORS
 * preflight) is answered for every route by the dispatcher. */
#define API_GET ((1u << API_METHOD_GET) | (1u << API_METHOD_HEAD))
#define API_POST (1u << API_METHOD_POST)
#define API_DELETE (1u << API_METHOD_DELETE)

/* Row flags. */
#define API_WORKER 1u    /* runs on a worker thread (decodes, reads files, or waits) */
#define API_STORE 2u     /* needs the instance store: 404 "no instance store" without one */
#define API_RAW_QUERY 4u /* the handler parses the query itself (QIDO-RS search) */

/* The usual handler: fills r (status, body or stream, content type, headers) or an
 * error response (api/http_error.h). Never fails otherwise. */
typedef void (*api_handler_fn)(struct api_ctx *ctx, const struct api_request *req,
                               struct api_response *r);

/* A handler on the opened index of R (R/... routes): the dispatcher has resolved R,
 * answered If-None-Match, and holds the cached index (api/instance.c). Fills the body
 * and content type of r, or returns false with e set (status from the error table). */
struct seg_index;
typedef bool (*api_index_fn)(const struct seg_index *idx, const struct api_request *req,
                             struct api_response *r, struct err *e);

/* What an index route produces, for negotiation: JSON is gzip-able and not checked
 * against Accept; anything else is (406 with `refusal`). */
struct api_media {
    const char *type;      /* "image/png", "multipart/related", "application/json" */
    const char *part_type; /* multipart: the type= parameter; else NULL */
    const char *refusal;   /* the 406 message */
    bool json;             /* gzip when asked for, no Accept check */
    bool limited;          /* bodies over --max-json-bytes are refused (413) */
};
extern const struct api_media API_MEDIA_JSON, API_MEDIA_PNG, API_MEDIA_FRAMES;

/* A request body consumer (STOW). The server feeds it on the HTTP thread while the
 * body arrives, without knowing which route it belongs to (api_body_* below). */
struct api_body_sink {
    /* New state for one body, or NULL with e set (refused: the body is drained and
     * the error is the answer). */
    void *(*begin)(struct api_ctx *ctx, const struct api_request *req, struct err *e);
    bool (*feed)(void *state, const void *p, size_t n, struct err *e);
    bool (*end)(void *state, struct err *e); /* the body is complete */
    void (*free)(void *state);               /* NULL is fine */
};

/* One row of the route table. */
struct api_route {
    const char *pattern;  /* see above */
    const char *name;     /* logs and metrics label; rows of one endpoint share it */
    unsigned methods;     /* API_GET | API_POST | API_DELETE */
    unsigned flags;       /* API_WORKER | API_STORE | API_RAW_QUERY */
    api_handler_fn handle;               /* or: */
    api_index_fn on_index;               /* R routes, with media: */
    const struct api_media *media;
    const struct api_body_sink *body;    /* takes a request body (POST) */
};

/* The table (api/route_table.c) and its length. */
extern const struct api_route api_routes[];
extern const size_t api_routes_count;

/* Parses req->target (already copied in by the caller) into req->route and its
 * parameters (req->method must be set: it picks among rows of one pattern). On
 * failure returns false and sets req->route_err too (ERR_PARSE: malformed,
 * ERR_NOT_FOUND: no such route); req->route is then NULL. */
bool api_request_route(struct api_request *req, struct err *e);

/* True when the request runs on a worker; false for cheap answers on the HTTP
 * thread (health, readiness, metrics, preflight, errors). */
bool api_route_needs_worker(const struct api_request *req);

/* Whether the route allows req->method. */
bool api_route_allows(const struct api_request *req);

/* The Allow header of the request's path: "GET, HEAD, OPTIONS" and the like, the
 * union over the rows of its pattern ("GET, HEAD, OPTIONS" without a route).
 * Written to out (at least 48 bytes). */
void api_route_allow(const struct api_request *req, char *out, size_t outsz);

/* Metrics labels: route names, distinct, in table order; label 0 is "none" (no
 * route). api_route_label_index maps a row (or NULL) to its label. */
size_t api_route_label_count(void);
const char *api_route_label(size_t i);
size_t api_route_label_index(const struct api_route *route);
#define API_ROUTE_LABELS_MAX 64

/* Short stable name for logs and metrics ("segments", "frame_rendered", ...); "none"
 * for NULL. */
const char *api_route_name(const struct api_route *route);

/* Percent-decodes src[0..n) into dst (capacity dstsz, NUL-terminated).
 * plus_is_space: '+' becomes ' ' (query strings). Fails on a bad escape, on a
 * decoded NUL, or when dst is too small. Returns the decoded length via *len. */
bool api_url_decode(const char *src, size_t n, bool plus_is_space, char *dst, size_t dstsz,
                    size_t *len, struct err *e);

/* Strict 1-based number: 1..9 digits, no sign, no leading zero. */
bool api_number_parse(const char *s, uint32_t *out);

/* A frame number (api_number_parse), with the one message for a bad one that
 * both HTTP (R/frames/{f}, frame lists) and the CLI (`segweb frame`) give:
 * "frame number '0': frame numbers start at 1", or "... is not a number". */
bool api_frame_number_parse(const char *s, uint32_t *out, struct err *e);

/* A DICOM UID: 1..64 characters of digits and dots. */
bool api_uid_valid(const char *s);

#endif
