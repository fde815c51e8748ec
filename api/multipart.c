/* See multipart.h for the delimiter-matching argument. */
#include "api/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum state { S_PREAMBLE, S_AFTER_DELIM, S_AFTER_DASH, S_PAD, S_HEADERS, S_BODY, S_EPILOGUE, S_DEAD };

#define OUT_CAP 65536

struct api_multipart {
    const struct api_multipart_cb *cb;
    void *arg;
    enum state st;
    char delim[API_MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" + boundary */
    size_t dlen, m;                            /* delimiter length, bytes matched */
    char hdr[API_MULTIPART_HEADERS_MAX + 1];
    size_t hlen;
    size_t parts;
    uint8_t out[OUT_CAP];
    size_t olen;
};

static bool bchar(int c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

bool api_content_type_parse(const char *value, char *media, size_t mediasz, char *type,
                            size_t typesz, char *boundary, size_t boundarysz, struct err *e)
{
    media[0] = type[0] = boundary[0] = 0;
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, "; \t");
    if (!n || n >= mediasz)
        return err_set(e, ERR_PARSE, "bad Content-Type");
    memcpy(media, p, n);
    media[n] = 0;
    lower(media);
    p += n;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        if (!*p)
            break;
        size_t kn = strcspn(p, "=; \t");
        char key[32];
        if (kn >= sizeof key)
            return err_set(e, ERR_PARSE, "bad Content-Type parameter");
        memcpy(key, p, kn);
        key[kn] = 0;
        lower(key);
        p += kn;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=')
            return err_set(e, ERR_PARSE, "Content-Type parameter '%s' without value", key);
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        char val[256];
        size_t vn = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (vn + 1 >= sizeof val)
                    return err_set(e, ERR_PARSE, "Content-Type parameter too long");
                val[vn++] = *p++;
            }
            if (*p != '"')
                return err_set(e, ERR_PARSE, "unterminated quoted string in Content-Type");
            p++;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t') {
                if (vn + 1 >= sizeof val)
                    return err_set(e, ERR_PARSE, "Content-Type parameter too long");
                val[vn++] = *p++;
            }
        }
        val[vn] = 0;
        if (!strcmp(key, "type")) {
            if (vn >= typesz)
                return err_set(e, ERR_PARSE, "type parameter too long");
            memcpy(type, val, vn + 1);
            lower(type);
        } else if (!strcmp(key, "boundary")) {
            if (vn >= boundarysz)
                return err_set(e, ERR_PARSE, "boundary too long");
            memcpy(boundary, val, vn + 1);
        }
    }
    return true;
}

struct api_multipart *api_multipart_new(const char *boundary, const struct api_multipart_cb *cb,
                                        void *arg, struct err *e)
{
    size_t n = strlen(boundary);
    if (n < 1 || n > API_MULTIPART_BOUNDARY_MAX || boundary[n - 1] == ' ') {
        err_set(e, ERR_PARSE, "multipart boundary must be 1..%d characters", API_MULTIPART_BOUNDARY_MAX);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!bchar((unsigned char)boundary[i])) {
            err_set(e, ERR_PARSE, "multipart boundary holds a character RFC 2046 does not allow");
            return NULL;
        }
    struct api_multipart *mp = calloc(1, sizeof *mp);
    if (!mp) {
        err_set(e, ERR_NOMEM, "out of memory");
        return NULL;
    }
    mp->cb = cb;
    mp->arg = arg;
    snprintf(mp->delim, sizeof mp->delim, "\r\n--%s", boundary);
    mp->dlen = n + 4;
    mp->m = 2; /* the body may start with the first delimiter, without CRLF */
    mp->st = S_PREAMBLE;
    return mp;
}

bool api_multipart_part_header(const struct api_multipart *mp, const char *name, char *out, size_t outsz)
{
    /* header_content_type() has cut the block into NUL-terminated lines */
    size_t nl = strlen(name);
    out[0] = 0;
    for (size_t i = 0; i < mp->hlen;) {
        const char *line = mp->hdr + i;
        size_t n = strnlen(line, mp->hlen - i);
        if (n > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, outsz, "%s", v);
            return true;
        }
        i += n + 1;
    }
    return false;
}

size_t api_multipart_parts(const struct api_multipart *mp) { return mp->parts; }

void api_multipart_free(struct api_multipart *mp) { free(mp); }

static bool flush(struct api_multipart *mp, struct err *e)
{
    if (!mp->olen)
        return true;
    bool ok = mp->cb->part_data(mp->arg, mp->out, mp->olen, e);
    mp->olen = 0;
    return ok;
}

static bool emit(struct api_multipart *mp, const uint8_t *p, size_t n, struct err *e)
{
    while (n) {
        if (mp->olen == OUT_CAP && !flush(mp, e))
            return false;
        size_t k = OUT_CAP - mp->olen < n ? OUT_CAP - mp->olen : n;
        memcpy(mp->out + mp->olen, p, k);
        mp->olen += k;
        p += k;
        n -= k;
    }
    return true;
}

/* The Content-Type of the collected header block. A line that is neither a
 * header ("name: value") nor a continuation (leading white space) is refused. */
static bool header_content_type(struct api_multipart *mp, char *out, size_t outsz, struct err *e)
{
    out[0] = 0;
    mp->hdr[mp->hlen] = 0;
    char *line = mp->hdr;
    while (line && *line) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = 0;
        if (n && line[0] != ' ' && line[0] != '\t' && !strchr(line, ':'))
            return err_set(e, ERR_PARSE, "part header line without ':'");
        if (!strncasecmp(line, "content-type:", 13)) {
            const char *v = line + 13;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, outsz, "%s", v);
        }
        line = next;
    }
    return true;
}

/* The steps of the state machine over p[*i..n): each returns 1 to go on, 0 when
 * this chunk needs nothing more (the epilogue), -1 on failure (e set). */

/* S_PREAMBLE / S_BODY: data up to a possible delimiter; body data goes to the part. */
static int step_data(struct api_multipart *mp, const uint8_t *p, size_t n, size_t *i, struct err *e)
{
    bool body = mp->st == S_BODY;
    if (mp->m == 0) {
        const uint8_t *cr = memchr(p + *i, '\r', n - *i);
        size_t run = cr ? (size_t)(cr - (p + *i)) : n - *i;
        if (body && run && !emit(mp, p + *i, run, e))
            return -1;
        *i += run;
        if (cr) {
            mp->m = 1;
            (*i)++;
        }
        return 1;
    }
    if (p[*i] == (uint8_t)mp->delim[mp->m]) {
        mp->m++;
        (*i)++;
        if (mp->m == mp->dlen) {
            mp->m = 0;
            if (body && (!flush(mp, e) || !mp->cb->part_end(mp->arg, e)))
                return -1;
            mp->st = S_AFTER_DELIM;
        }
        return 1;
    }
    /* The matched prefix was data; the current byte is looked at again. */
    if (body && !emit(mp, (const uint8_t *)mp->delim, mp->m, e))
        return -1;
    mp->m = 0;
    return 1;
}

/* S_AFTER_DELIM / S_AFTER_DASH / S_PAD: "--" (the close) or padding to the line end. */
static int step_delimiter_line(struct api_multipart *mp, const uint8_t *p, size_t *i, struct err *e)
{
    uint8_t c = p[*i];
    if (mp->st == S_AFTER_DELIM) {
        if (c == '-') {
            mp->st = S_AFTER_DASH;
            (*i)++;
        } else {
            mp->st = S_PAD;
        }
        return 1;
    }
    if (mp->st == S_AFTER_DASH) {
        if (c != '-') {
            err_set(e, ERR_PARSE, "malformed multipart delimiter");
            return -1;
        }
        mp->st = S_EPILOGUE;
        return 0;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
        (*i)++;
    } else if (c == '\n') {
        (*i)++;
        mp->st = S_HEADERS;
        mp->hlen = 0;
    } else {
        err_set(e, ERR_PARSE, "malformed multipart delimiter line");
        return -1;
    }
    return 1;
}

/* S_HEADERS: one byte of the part headers; at the empty line, the part begins. */
static int step_headers(struct api_multipart *mp, const uint8_t *p, size_t *i, struct err *e)
{
    if (mp->hlen >= API_MULTIPART_HEADERS_MAX) {
        err_set(e, ERR_LIMIT, "part headers longer than %d bytes", API_MULTIPART_HEADERS_MAX);
        return -1;
    }
    char c = (char)p[(*i)++];
    mp->hdr[mp->hlen++] = c;
    if (c != '\n')
        return 1;
    /* End of headers: an empty line ("\n" or "\r\n" right after a "\n" or at the start). */
    size_t h = mp->hlen;
    bool empty = h == 1 || (h == 2 && mp->hdr[0] == '\r') || (h >= 2 && mp->hdr[h - 2] == '\n') ||
                 (h >= 3 && mp->hdr[h - 2] == '\r' && mp->hdr[h - 3] == '\n');
    if (!empty)
        return 1;
    char ct[256];
    if (!header_content_type(mp, ct, sizeof ct, e))
        return -1;
    mp->parts++;
    if (!mp->cb->part_begin(mp->arg, ct, e))
        return -1;
    mp->st = S_BODY;
    mp->m = 0;
    return 1;
}

bool api_multipart_feed(struct api_multipart *mp, const uint8_t *p, size_t n, struct err *e)
{
    size_t i = 0;
    while (i < n) {
        int r = 1;
        switch (mp->st) {
        case S_DEAD:
            return err_set(e, ERR_PARSE, "multipart parser already failed");
        case S_EPILOGUE:
            return true;
        case S_PREAMBLE:
        case S_BODY:
            r = step_data(mp, p, n, &i, e);
            break;
        case S_AFTER_DELIM:
        case S_AFTER_DASH:
        case S_PAD:
            r = step_delimiter_line(mp, p, &i, e);
            break;
        case S_HEADERS:
            r = step_headers(mp, p, &i, e);
            break;
        }
        if (r < 0) {
            mp->st = S_DEAD;
            return false;
        }
        if (r == 0)
            return true;
    }
    return true;
}

bool api_multipart_finish(struct api_multipart *mp, struct err *e)
{
    if (mp->st == S_EPILOGUE)
        return true;
    if (mp->st == S_PREAMBLE)
        return err_set(e, ERR_PARSE, "multipart body without the boundary of its Content-Type");
    return err_set(e, ERR_PARSE, "multipart body ends before its closing delimiter");
}
