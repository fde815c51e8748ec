#include "api/http_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/* HTTP status, and STOW-RS failure reason for a part that fails with it. */
static const struct {
    enum err_code code;
    int status;
    unsigned stow_reason;
} TABLE[] = {
    {ERR_INVALID, 422, 0xC000},     /* not a (valid) DICOM SEG: the reason is in the message */
    {ERR_NOT_FOUND, 404, 0xC000},
    {ERR_UNSUPPORTED, 415, 0x0122}, /* other SOP class or transfer syntax */
    {ERR_PARSE, 400, 0xC000},       /* malformed request */
    {ERR_LIMIT, 413, 0xA700},
    {ERR_IO, 500, 0xA700},
    {ERR_NOMEM, 503, 0xA700},
    {ERR_INTERNAL, 500, 0x0110},
    {ERR_NO_SPACE, 507, 0xA700},    /* disk full: nothing half-written is kept */
    {ERR_UPSTREAM, 502, 0xA700},    /* the upstream archive failed: nothing cached */
    {ERR_TIMEOUT, 504, 0xA700},
    {ERR_NOT_ACCEPTABLE, 406, 0xC000},
    {ERR_EXHAUSTED, 503, 0xA700},   /* out of descriptors: retry, the file is not to blame */
};

/* HTTP status of each refusal (enum api_refusal order). */
static const int REFUSALS[] = {
    [API_REFUSE_AUTH] = 401,
    [API_REFUSE_METHOD] = 405,
    [API_REFUSE_REQUEST_TIMEOUT] = 408,
    [API_REFUSE_TARGET] = 414,
    [API_REFUSE_EXPECT] = 417,
    [API_REFUSE_HEADERS] = 431,
    [API_REFUSE_BUSY] = 503,
    [API_REFUSE_NOT_READY] = 503,
    [API_REFUSE_CLIENT_GONE] = 499,
};

unsigned api_stow_reason_from_err(enum err_code code)
{
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
        if (TABLE[i].code == code)
            return TABLE[i].stow_reason;
    return 0x0110;
}

int api_stow_status(size_t stored, size_t failed, size_t exhausted)
{
    return failed == 0 ? 200 : stored ? 202 : exhausted ? 503 : 409;
}

int api_status_of_refusal(enum api_refusal why)
{
    unsigned i = (unsigned)why;
    return i < sizeof REFUSALS / sizeof REFUSALS[0] && REFUSALS[i] ? REFUSALS[i] : 500;
}

int api_status_from_err(enum err_code code)
{
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
        if (TABLE[i].code == code)
            return TABLE[i].status;
    return 500;
}

const char *api_status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 202: return "Accepted";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    }
    return "Error";
}

void api_response_error(struct api_response *r, int status, const char *message)
{
    buf_free(&r->body);
    r->status = status;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    /* A message may quote bytes from the request or the object (a path, a UID):
     * JSON and the log get them as UTF-8, invalid bytes as U+FFFD. */
    const char *m = message && *message ? message : api_status_reason(status);
    utf8_copy(r->error, sizeof r->error, message ? message : "");
    char *text_msg = utf8_repair(m, strlen(m), NULL);
    json_t *doc = text_msg ? json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", text_msg) : NULL;
    free(text_msg);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    struct err e = ERR_INIT;
    if (!text || !buf_append(&r->body, text, strlen(text), &e)) {
        /* Only an allocation can fail here now. */
        static const char fallback[] = "{\"error\":{\"status\":503,\"message\":\"out of memory\"}}";
        buf_free(&r->body);
        r->status = 503;
        buf_append(&r->body, fallback, sizeof fallback - 1, &e);
    }
    free(text);
}

void api_response_from_err(struct api_response *r, const struct err *e)
{
    api_response_fail(r, e->code, e->msg);
}

void api_response_fail(struct api_response *r, enum err_code code, const char *message)
{
    int status = api_status_from_err(code);
    api_response_error(r, status, message);
    if (status == 503)
        api_response_header_set(r, "Retry-After", "1"); /* a passing shortage (memory, descriptors) */
}

void api_response_refuse(struct api_response *r, enum api_refusal why, const char *message)
{
    api_response_error(r, api_status_of_refusal(why), message);
}
