/* Error reporting: functions return bool (or a pointer / NULL) and fill a
 * caller-owned struct err, passed last. The first error set wins; callers may
 * prefix context with err_prefix(). The HTTP mapping lives in api/. */
#ifndef SEGWEB_COMMON_ERR_H
#define SEGWEB_COMMON_ERR_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum err_code {
    ERR_OK = 0,
    ERR_INVALID,     /* bad input: malformed DICOM, bad argument */
    ERR_NOT_FOUND,   /* no such file, frame, segment */
    ERR_UNSUPPORTED, /* well-formed but not handled: SOP class, transfer syntax */
    ERR_PARSE,       /* request or body that cannot be parsed */
    ERR_LIMIT,       /* a configured limit was exceeded */
    ERR_IO,          /* read/write failure */
    ERR_NOMEM,
    ERR_INTERNAL,
    ERR_NO_SPACE,    /* the disk (or quota) is full: 507 / STOW 0xA700 */
    ERR_UPSTREAM,    /* the upstream archive failed or answered garbage: 502 */
    ERR_TIMEOUT,     /* the upstream archive did not answer in time: 504 */
    ERR_NOT_ACCEPTABLE, /* the representation asked for cannot be produced: 406 */
    ERR_EXHAUSTED,   /* the process ran out of descriptors (EMFILE, ENFILE): 503 + Retry-After,
                        never an error blamed on the request or the file */
};

struct err {
    enum err_code code;
    char msg[512];
};

#define ERR_INIT {ERR_OK, {0}}

/* Sets code and message unless an error is already set. Always returns false,
 * so `return err_set(e, ERR_INVALID, "...")` reads naturally. e may be NULL. */
bool err_set(struct err *e, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "context: " in front of an existing message. */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The code for a failed system call's errno: ENOENT/ENOTDIR not found, EMFILE/ENFILE
 * exhausted, ENOSPC/EDQUOT no space, ENOMEM no memory, anything else I/O. */
enum err_code err_code_from_errno(int errnum);

/* Short stable name of a code ("invalid", "not_found", ...). */
const char *err_code_name(enum err_code code);

#ifdef __cplusplus
}
#endif

#endif
