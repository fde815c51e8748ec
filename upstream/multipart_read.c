/* A streaming multipart/related reader for upstream answers (see upstream.h).
 *
 * The body is processed in windows: the bytes held back from the previous
 * feed (at most one delimiter minus one byte, so a delimiter split across two
 * feeds is still found) followed by up to WINDOW new bytes. The delimiter is
 * "\r\n--" + boundary; the reader starts with "\r\n" already held back, so a
 * body that begins with "--boundary" needs no special case. */
#include "upstream/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WINDOW 65536
#define HOLD_MAX (4 + UPSTREAM_MP_BOUNDARY_MAX)
#define PAD_MAX 256

enum state { S_PREAMBLE, S_AFTER_DELIM, S_PAD, S_HEADERS, S_BODY, S_DONE };

struct upstream_mp {
    struct upstream_mp_callbacks cb;
    uint32_t max_parts, parts;
    enum state state;
    char delim[HOLD_MAX + 1]; /* "\r\n--boundary" */
    size_t dlen;
    size_t pad;
    char hdr[UPSTREAM_MP_HEADERS_MAX + 1];
    size_t hlen;
    size_t held;
    unsigned char w[HOLD_MAX + WINDOW];
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool upstream_header_param(const char *value, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    const char *p = value;
    bool in_quotes = false;
    /* parameters follow the first ';' outside quotes */
    while (*p && (in_quotes || *p != ';')) {
        if (*p == '"')
            in_quotes = !in_quotes;
        p++;
    }
    while (*p == ';') {
        p++;
        while (is_blank(*p))
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ';' && !is_blank(*p))
            p++;
        size_t klen = (size_t)(p - k);
        while (is_blank(*p))
            p++;
        bool match = klen == nlen && !strncasecmp(k, name, nlen);
        if (*p != '=') {
            while (*p && *p != ';')
                p++;
            continue;
        }
        p++;
        while (is_blank(*p))
            p++;
        size_t o = 0;
        bool too_long = false;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                char c = *p;
                if (c == '\\' && p[1])
                    c = *++p;
                if (o + 1 < outsz)
                    out[o++] = c;
                else
                    too_long = true;
                p++;
            }
            if (*p != '"')
                return false; /* unterminated quote */
            p++;
            while (*p && *p != ';')
                p++;
        } else {
            const char *v = p;
            while (*p && *p != ';')
                p++;
            const char *end = p;
            while (end > v && is_blank(end[-1]))
                end--;
            for (; v < end; v++) {
                if (o + 1 < outsz)
                    out[o++] = *v;
                else
                    too_long = true;
            }
        }
        if (match) {
            if (too_long || !outsz)
                return false;
            out[o] = 0;
            return true;
        }
    }
    return false;
}

bool upstream_header_find(const char *block, size_t n, const char *name, char *out, size_t outsz)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && block[j] != '\n')
            j++;
        size_t end = j;
        if (end > i && block[end - 1] == '\r')
            end--;
        if (end - i > nlen && !strncasecmp(block + i, name, nlen) && block[i + nlen] == ':') {
            size_t v = i + nlen + 1;
            while (v < end && is_blank(block[v]))
                v++;
            size_t ve = end;
            while (ve > v && is_blank(block[ve - 1]))
                ve--;
            if (ve - v >= outsz)
                return false;
            memcpy(out, block + v, ve - v);
            out[ve - v] = 0;
            return true;
        }
        i = j + 1;
    }
    return false;
}

struct upstream_mp *upstream_mp_new(const char *content_type, const struct upstream_mp_callbacks *cb,
                                    uint32_t max_parts, struct err *e)
{
    while (is_blank(*content_type))
        content_type++;
    if (strncasecmp(content_type, "multipart/", 10)) {
        err_set(e, ERR_PARSE, "not a multipart body (Content-Type '%.100s')", content_type);
        return NULL;
    }
    char boundary[UPSTREAM_MP_BOUNDARY_MAX + 1];
    if (!upstream_header_param(content_type, "boundary", boundary, sizeof boundary)) {
        err_set(e, ERR_PARSE, "multipart Content-Type without a usable boundary (at most %d characters)",
                UPSTREAM_MP_BOUNDARY_MAX);
        return NULL;
    }
    size_t blen = strlen(boundary);
    if (!blen) {
        err_set(e, ERR_PARSE, "empty multipart boundary");
        return NULL;
    }
    for (size_t i = 0; i < blen; i++)
        if ((unsigned char)boundary[i] < 0x20 || (unsigned char)boundary[i] >= 0x7f) {
            err_set(e, ERR_PARSE, "multipart boundary with a control or non-ASCII character");
            return NULL;
        }
    struct upstream_mp *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(e, ERR_NOMEM, "multipart: out of memory");
        return NULL;
    }
    m->cb = *cb;
    m->max_parts = max_parts;
    m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", boundary);
    m->state = S_PREAMBLE;
    m->w[0] = '\r';
    m->w[1] = '\n';
    m->held = 2;
    return m;
}

void upstream_mp_free(struct upstream_mp *m) { free(m); }

uint32_t upstream_mp_parts(const struct upstream_mp *m) { return m->parts; }

static bool headers_complete(const char *h, size_t n)
{
    if ((n == 2 && h[0] == '\r' && h[1] == '\n') || (n == 1 && h[0] == '\n'))
        return true;
    if (n >= 4 && !memcmp(h + n - 4, "\r\n\r\n", 4))
        return true;
    return n >= 2 && h[n - 2] == '\n' && h[n - 1] == '\n';
}

/* Consumes what it can of w[0..len); returns the count consumed, or (size_t)-1 on error. */
static size_t process(struct upstream_mp *m, const unsigned char *w, size_t len, struct err *e)
{
    size_t i = 0;
    for (;;) {
        switch (m->state) {
        case S_PREAMBLE:
        case S_BODY: {
            const unsigned char *hit = memmem(w + i, len - i, m->delim, m->dlen);
            if (hit) {
                size_t p = (size_t)(hit - w);
                if (m->state == S_BODY) {
                    if (p > i && m->cb.on_part_data && !m->cb.on_part_data(m->cb.arg, w + i, p - i, e))
                        return (size_t)-1;
                    if (m->cb.on_part_end && !m->cb.on_part_end(m->cb.arg, e))
                        return (size_t)-1;
                }
                i = p + m->dlen;
                m->state = S_AFTER_DELIM;
                continue;
            }
            size_t keep = m->dlen - 1;
            if (len - i > keep) {
                size_t upto = len - keep;
                if (m->state == S_BODY && m->cb.on_part_data &&
                    !m->cb.on_part_data(m->cb.arg, w + i, upto - i, e))
                    return (size_t)-1;
                i = upto;
            }
            return i;
        }
        case S_AFTER_DELIM:
            if (len - i < 2)
                return i;
            if (w[i] == '-' && w[i + 1] == '-') {
                i += 2;
                m->state = S_DONE;
                continue;
            }
            m->state = S_PAD;
            m->pad = 0;
            continue;
        case S_PAD:
            while (i < len && is_blank((char)w[i])) {
                i++;
                if (++m->pad > PAD_MAX) {
                    err_set(e, ERR_PARSE, "multipart: blanks after a boundary go on");
                    return (size_t)-1;
                }
            }
            if (i == len)
                return i;
            if (w[i] == '\r') {
                if (len - i < 2)
                    return i;
                if (w[i + 1] != '\n') {
                    err_set(e, ERR_PARSE, "multipart: garbage after a boundary delimiter");
                    return (size_t)-1;
                }
                i += 2;
            } else if (w[i] == '\n') {
                i++;
            } else {
                err_set(e, ERR_PARSE, "multipart: garbage after a boundary delimiter");
                return (size_t)-1;
            }
            if (m->max_parts && m->parts >= m->max_parts) {
                err_set(e, ERR_LIMIT, "multipart: more than %u parts", m->max_parts);
                return (size_t)-1;
            }
            m->parts++;
            m->hlen = 0;
            m->state = S_HEADERS;
            continue;
        case S_HEADERS:
            while (i < len) {
                if (m->hlen >= UPSTREAM_MP_HEADERS_MAX) {
                    err_set(e, ERR_LIMIT, "multipart: part headers longer than %d bytes",
                            UPSTREAM_MP_HEADERS_MAX);
                    return (size_t)-1;
                }
                if (!w[i]) {
                    err_set(e, ERR_PARSE, "multipart: NUL byte in part headers");
                    return (size_t)-1;
                }
                m->hdr[m->hlen++] = (char)w[i++];
                if (w[i - 1] == '\n' && headers_complete(m->hdr, m->hlen)) {
                    size_t n = m->hlen;
                    while (n && (m->hdr[n - 1] == '\r' || m->hdr[n - 1] == '\n'))
                        n--;
                    m->hdr[n] = 0;
                    if (m->cb.on_part_begin && !m->cb.on_part_begin(m->cb.arg, m->hdr, n, e))
                        return (size_t)-1;
                    /* the part's body starts here: a delimiter right away needs its CRLF,
                     * which the body search finds as usual */
                    m->state = S_BODY;
                    break;
                }
            }
            if (m->state == S_HEADERS)
                return i;
            continue;
        case S_DONE:
            return len; /* the epilogue is ignored */
        }
    }
}

bool upstream_mp_feed(struct upstream_mp *m, const void *p, size_t n, struct err *e)
{
    const unsigned char *in = p;
    do {
        size_t take = n < WINDOW ? n : WINDOW;
        memcpy(m->w + m->held, in, take);
        size_t len = m->held + take;
        in += take;
        n -= take;
        size_t used = process(m, m->w, len, e);
        if (used == (size_t)-1)
            return false;
        size_t rest = len - used;
        if (rest > HOLD_MAX) {
            err_set(e, ERR_INTERNAL, "multipart: reader held back too much");
            return false;
        }
        memmove(m->w, m->w + used, rest);
        m->held = rest;
    } while (n);
    return true;
}

bool upstream_mp_finish(struct upstream_mp *m, struct err *e)
{
    if (m->state != S_DONE) {
        if (m->parts == 0)
            return err_set(e, ERR_PARSE, "multipart: no part (no boundary delimiter in the body)");
        return err_set(e, ERR_PARSE, "multipart: truncated (no close delimiter)");
    }
    return true;
}
