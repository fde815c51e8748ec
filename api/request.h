/* The request and response of one HTTP exchange, as plain data: server/http.c
 * fills a struct api_request from libmicrohttpd, api_handle() (api/api.h)
 * fills the struct api_response, and server/http.c sends it. No socket here,
 * so every handler is testable with a stack-allocated pair.
 *
 * Every field is fixed-size or a bounded struct buf: a request never allocates
 * beyond its struct, and over-long inputs are refused, never truncated silently. */
#ifndef SEGWEB_API_REQUEST_H
#define SEGWEB_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define API_TARGET_MAX 4096 /* request target (path + query), raw */
#define API_UID_MAX 64      /* DICOM UI value */
#define API_HEADER_MAX 1024 /* each header value we keep */
#define API_RELPATH_MAX 1024

enum api_method {
    API_METHOD_GET,
    API_METHOD_HEAD,
    API_METHOD_OPTIONS,
    API_METHOD_POST,   /* STOW-RS */
    API_METHOD_DELETE, /* store deletion (extension) */
    API_METHOD_OTHER
};

/* The instance resource R of a route. */
enum api_resource_kind { API_RES_NONE, API_RES_STORE, API_RES_FILE };

/* DICOMweb level of a store route: which of res.study/series/sop are set. */
enum api_level { API_LEVEL_NONE, API_LEVEL_STUDY, API_LEVEL_SERIES, API_LEVEL_INSTANCE };

#define API_FRAME_LIST_MAX 512 /* frame numbers in one /frames/{list} request */

struct api_route;     /* a row of the route table (api/route.h) */
struct api_body_sink; /* a request body consumer (api/route.h) */

/* A request body being received: the sink of the route's row and its state. */
struct api_body {
    const struct api_body_sink *sink;
    void *state; /* e.g. struct api_stow (api/stow.h) */
};

struct api_resource {
    enum api_resource_kind kind;
    char study[API_UID_MAX + 1], series[API_UID_MAX + 1], sop[API_UID_MAX + 1]; /* store */
    char file[API_RELPATH_MAX + 1]; /* files: decoded, checked relative path ("a/b.dcm") */
};

struct api_request {
    enum api_method method;
    char method_name[16];
    char target[API_TARGET_MAX + 1]; /* raw path + query, for logs */
    char request_id[40];

    /* Set by api_request_route() (api/route.h). */
    const struct api_route *route; /* the row of api/route_table.c, or NULL */
    struct api_resource res;
    uint32_t segment; /* {n} */
    uint32_t frame;   /* {f} */
    uint32_t tag;     /* {tag}: (group << 16) | element, from 8 hex digits */
    bool style_color; /* ?style=color */
    bool values_binary; /* ?values=binary (volume routes: 0/1 masks) */
    bool grid_source;   /* ?grid=source (volume routes: the source series' grid) */
    char source_uid[API_UID_MAX + 1]; /* ?source= */
    uint32_t source_frame;            /* ?frame=, 0 when absent */
    enum api_level level;             /* DICOMweb routes */
    uint32_t frame_list[API_FRAME_LIST_MAX]; /* /frames/{list}, 1-based */
    uint32_t n_frame_list;
    /* A target that does not parse (bad encoding, '..', bad number): the
     * error api_handle() answers with instead of running a handler. */
    struct err route_err;

    /* Headers that matter; empty when absent. */
    char accept[API_HEADER_MAX + 1];
    char if_none_match[API_HEADER_MAX + 1];
    char accept_encoding[API_HEADER_MAX + 1];
    char origin[API_HEADER_MAX + 1];
    char acr_method[64];   /* Access-Control-Request-Method */
    char acr_headers[API_HEADER_MAX + 1];
    char content_type[API_HEADER_MAX + 1];

    /* The request body, when the route takes one (STOW: the parts received, as
     * temp files): opened, fed and freed by the server through api_body_begin(),
     * api_body_feed(), api_body_end(), api_body_free() (api/api.h). */
    struct api_body body;
};

#define API_RESPONSE_HEADERS 12

struct api_stream;

struct api_header {
    char name[40];
    char value[API_HEADER_MAX + 1];
};

struct api_response {
    int status;
    char content_type[512]; /* a proxied multipart's boundary can be long */
    struct buf body; /* owned; freed by api_response_free() */
    /* Instead of body: a body streamed from memory pieces and files (large
     * retrieves), owned; freed by api_response_free() unless taken. */
    struct api_stream *stream;
    struct api_header headers[API_RESPONSE_HEADERS];
    size_t n_headers;
    /* For logs: the error message of an error response. */
    char error[256];
};

/* The one JSON body helper: serialises doc (compact | flags, e.g. JSON_REAL_PRECISION;
 * the reference is stolen, decref'd even on failure) into r's body, sets status 200 and
 * content_type ("application/json", "application/dicom+json"). A NULL doc is a bug, not
 * a full heap: ERR_INTERNAL "cannot build the JSON document" (500). false with e set. */
struct json_t;
bool api_response_json(struct api_response *r, struct json_t *doc, const char *content_type, size_t flags,
                       struct err *e);

/* The serialising half of api_response_json: doc (stolen; NULL: ERR_INTERNAL) appended
 * to out, compact | flags. */
bool api_json_append(struct buf *out, struct json_t *doc, size_t flags, struct err *e);

/* --max-json-bytes (limit, 0: none) for answers written piece by piece into r->body:
 * _begin makes the buffer refuse to grow past it (nothing bigger is ever built);
 * _fail turns e into r's error answer, the buffer's ERR_LIMIT into the 413 that names
 * the limit, as for R/... answers. */
void api_json_limit_begin(struct api_response *r, size_t limit);
void api_json_limit_fail(struct api_response *r, size_t limit, const struct err *e);

/* A multipart boundary for one response: "segweb-" + a hash of the request id + a
 * random part, into out (at least 32 bytes). */
void api_boundary_make(const char *request_id, char *out, size_t sz);

/* Adds (or replaces) a header. false when the table is full or the value too long. */
bool api_response_header_set(struct api_response *r, const char *name, const char *value);
/* The value of a header set on r, or NULL. */
const char *api_response_header_get(const struct api_response *r, const char *name);
/* JSON answers end with a newline (for terminals): appends one to a JSON body
 * (content type with "json", not yet Content-Encoded) that lacks it. */
void api_response_json_newline(struct api_response *r);
void api_response_free(struct api_response *r);

/* Appends ", token" (or "token") to a Vary value being built in vary[0..sz). */
void api_vary_add(char *vary, size_t sz, const char *token);

/* Case-insensitive method name to enum. */
enum api_method api_method_parse(const char *name);

#endif
