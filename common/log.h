/* Leveled logging to stderr, one line per call, safe from any thread.
 * Library modules (common, decoder, store, api) log at debug only; server logs
 * each failure once with its request id and writes one access line per request. */
#ifndef SEGWEB_COMMON_LOG_H
#define SEGWEB_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Messages below `level` are dropped. Default LOG_INFO. */
void log_level_set(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns false if unknown. */
int log_level_parse(const char *name, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The access line: method, path (printed escaped, truncated), status, bytes, ms, id. */
void log_access(const char *request_id, const char *method, const char *path, int status,
                size_t bytes, double ms);

#endif
