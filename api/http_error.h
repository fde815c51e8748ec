/* The one table from error codes (and HTTP-level refusals) to HTTP status and STOW
 * failure reasons, and JSON error bodies: {"error": {"status": 404, "message": "..."}}.
 * Handlers and the server never write a status number for a failure: they fail with a
 * struct err (api_response_from_err, api_response_fail) or a refusal (api_response_refuse). */
#ifndef SEGWEB_API_HTTP_ERROR_H
#define SEGWEB_API_HTTP_ERROR_H

#include "api/request.h"
#include "common/err.h"

/* ERR_INVALID 422 (not a valid SEG), ERR_NOT_FOUND 404, ERR_UNSUPPORTED 415,
 * ERR_PARSE 400, ERR_LIMIT 413, ERR_IO 500, ERR_NOMEM 503, ERR_INTERNAL 500. */
int api_status_from_err(enum err_code code);

/* STOW-RS Failure Reason (0008,1197) for an error code, from the same table:
 * ERR_UNSUPPORTED 0x0122 SOP class not supported; ERR_LIMIT / ERR_IO /
 * ERR_NOMEM 0xA700 out of resources; ERR_INTERNAL 0x0110 processing failure;
 * the others 0xC000 cannot understand. */
unsigned api_stow_reason_from_err(enum err_code code);
#define API_STOW_DUPLICATE 0x0111          /* same SOP Instance UID, other content */
#define API_STOW_MISMATCH 0xA900           /* does not match SOP class / target study */
#define API_STOW_CANNOT_UNDERSTAND 0xC000

/* The status of a Store Instances Response: 200 all stored, 202 some, 409 none;
 * 503 (send Retry-After) when none was stored and `exhausted` of the failures were
 * the process running out of descriptors (ERR_EXHAUSTED): not the objects' fault. */
int api_stow_status(size_t stored, size_t failed, size_t exhausted);

/* Standard reason phrase ("Not Found"), or "Error". */
const char *api_status_reason(int status);

/* Refusals of the HTTP exchange itself, which no module below api/ reports. */
enum api_refusal {
    API_REFUSE_AUTH,            /* 401: no or a wrong bearer token */
    API_REFUSE_METHOD,          /* 405: the route does not allow the method (set Allow) */
    API_REFUSE_REQUEST_TIMEOUT, /* 408: the request did not arrive in --request-timeout */
    API_REFUSE_TARGET,          /* 414: request target too long */
    API_REFUSE_EXPECT,          /* 417: an Expect other than 100-continue */
    API_REFUSE_HEADERS,         /* 431: request header fields too large */
    API_REFUSE_BUSY,            /* 503: the worker queue is full (set Retry-After) */
    API_REFUSE_NOT_READY,       /* 503: starting or draining */
    API_REFUSE_CLIENT_GONE,     /* 499: the client went away before a reply (logs, metrics) */
};

/* The status of a refusal. */
int api_status_of_refusal(enum api_refusal why);

/* The error response for e: status from the table, e's message. */
void api_response_from_err(struct api_response *r, const struct err *e);

/* The error response for code with message. */
void api_response_fail(struct api_response *r, enum err_code code, const char *message);

/* The error response of a refusal, with message. */
void api_response_refuse(struct api_response *r, enum api_refusal why, const char *message);

/* The primitive behind the three above: replaces r's body with the JSON error
 * document, sets status and content type. Never fails (a static body if JSON
 * cannot be built). Only this file's functions and tests call it with a number. */
void api_response_error(struct api_response *r, int status, const char *message);

#endif
