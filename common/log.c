/* Each line is formatted into a local buffer and written with one write(2), so
 * lines from concurrent threads do not interleave. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int g_level = LOG_INFO;

void log_level_set(enum log_level level) { g_level = level; }

int log_level_parse(const char *name, enum log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) {
            *out = (enum log_level)i;
            return 1;
        }
    return 0;
}

static size_t stamp(char *s, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(s, n, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(s + k, n - k, ".%03ldZ ", ts.tv_nsec / 1000000);
    return k + (m > 0 ? (size_t)m : 0);
}

static void emit(char *line, size_t len, size_t cap)
{
    if (len >= cap - 1)
        len = cap - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    if ((int)level < g_level)
        return;
    char line[2048];
    size_t k = stamp(line, sizeof line);
    int m = snprintf(line + k, sizeof line - k, "%s ", tags[level]);
    k += m > 0 ? (size_t)m : 0;
    va_list ap;
    va_start(ap, fmt);
    m = vsnprintf(line + k, sizeof line - k, fmt, ap);
    va_end(ap);
    k += m > 0 ? (size_t)m : 0;
    emit(line, k > sizeof line ? sizeof line : k, sizeof line);
}

void log_access(const char *request_id, const char *method, const char *path, int status,
                size_t bytes, double ms)
{
    if (LOG_INFO < g_level)
        return;
    char safe[512];
    size_t j = 0;
    for (const char *p = path ? path : ""; *p && j + 4 < sizeof safe; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f || c == '"') {
            j += (size_t)snprintf(safe + j, sizeof safe - j, "\\x%02x", c);
        } else {
            safe[j++] = (char)c;
        }
    }
    safe[j] = 0;
    char line[1024];
    size_t k = stamp(line, sizeof line);
    int m = snprintf(line + k, sizeof line - k,
                     "access id=%s method=%s path=\"%s\" status=%d bytes=%zu ms=%.2f",
                     request_id ? request_id : "-", method ? method : "-", safe, status, bytes, ms);
    k += m > 0 ? (size_t)m : 0;
    emit(line, k > sizeof line ? sizeof line : k, sizeof line);
}
