/* The one table from error codes to HTTP status, and JSON error bodies:
 * {"error": {"status": 404, "message": "..."}}. */
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

/* Standard reason phrase ("Not Found"), or "Error". */
const char *api_status_reason(int status);

/* Replaces r's body with the JSON error document; sets status and content type.
 * Never fails: falls back to a static body if JSON cannot be built. */
void api_response_error(struct api_response *r, int status, const char *message);

/* api_response_error with the status from the table and e's message. */
void api_response_from_err(struct api_response *r, const struct err *e);

#endif
