#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
    if (!e || e->code != ERR_OK)
        return false;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
    if (!e || e->code == ERR_OK)
        return;
    char head[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* A message longer than e->msg keeps its head; the return value is checked
     * so the compiler knows the truncation is meant. */
    if (snprintf(e->msg, sizeof e->msg, "%s: %s", head, old) < 0)
        memcpy(e->msg, old, sizeof old);
}

const char *err_code_name(enum err_code code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_INVALID: return "invalid";
    case ERR_NOT_FOUND: return "not_found";
    case ERR_UNSUPPORTED: return "unsupported";
    case ERR_PARSE: return "parse";
    case ERR_LIMIT: return "limit";
    case ERR_IO: return "io";
    case ERR_NOMEM: return "no_memory";
    case ERR_INTERNAL: return "internal";
    case ERR_NO_SPACE: return "no_space";
    case ERR_UPSTREAM: return "upstream";
    case ERR_TIMEOUT: return "timeout";
    case ERR_NOT_ACCEPTABLE: return "not_acceptable";
    case ERR_EXHAUSTED: return "exhausted";
    }
    return "unknown";
}

enum err_code err_code_from_errno(int errnum)
{
    switch (errnum) {
    case ENOENT:
    case ENOTDIR: return ERR_NOT_FOUND;
    case EMFILE:
    case ENFILE: return ERR_EXHAUSTED;
    case ENOSPC:
    case EDQUOT: return ERR_NO_SPACE;
    case ENOMEM: return ERR_NOMEM;
    default: return ERR_IO;
    }
}
