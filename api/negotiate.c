#include "api/negotiate.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Walks a comma-separated header list; for each element calls fn with the token
 * (before ';') and its q value (1.0 when absent). Stops when fn returns true. */
static bool each_item(const char *list, bool (*fn)(const char *tok, size_t n, double q, void *arg),
                      void *arg)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *tend = semi ? semi : end;
        while (tend > p && (tend[-1] == ' ' || tend[-1] == '\t'))
            tend--;
        double q = 1.0;
        for (const char *s = semi; s && s < end;) {
            const char *v = s + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            if (end - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                char num[8] = {0};
                size_t k = 0;
                for (const char *d = v + 2;
                     d < end && k < sizeof num - 1 && (isdigit((unsigned char)*d) || *d == '.'); d++)
                    num[k++] = *d;
                q = strtod(num, NULL);
            }
            s = v < end ? memchr(v, ';', (size_t)(end - v)) : NULL;
        }
        if (fn(p, (size_t)(tend - p), q, arg))
            return true;
        p = end;
    }
    return false;
}

static bool tok_is(const char *tok, size_t n, const char *want)
{
    return strlen(want) == n && !strncasecmp(tok, want, n);
}

struct png_state {
    double exact, image, any;
};

static bool png_fn(const char *tok, size_t n, double q, void *arg)
{
    struct png_state *s = arg;
    if (tok_is(tok, n, "image/png"))
        s->exact = q;
    else if (tok_is(tok, n, "image/*"))
        s->image = q;
    else if (tok_is(tok, n, "*/*") || tok_is(tok, n, "*"))
        s->any = q;
    return false;
}

bool api_accepts_png(const char *accept)
{
    if (!accept || !*accept)
        return true;
    struct png_state s = {-1, -1, -1};
    each_item(accept, png_fn, &s);
    /* The most specific range decides (RFC 9110 12.5.1). */
    if (s.exact >= 0)
        return s.exact > 0;
    if (s.image >= 0)
        return s.image > 0;
    return s.any > 0;
}

struct gz_state {
    double gzip, star;
};

static bool gz_fn(const char *tok, size_t n, double q, void *arg)
{
    struct gz_state *s = arg;
    if (tok_is(tok, n, "gzip") || tok_is(tok, n, "x-gzip"))
        s->gzip = q;
    else if (tok_is(tok, n, "*"))
        s->star = q;
    return false;
}

bool api_accepts_gzip(const char *accept_encoding)
{
    if (!accept_encoding || !*accept_encoding)
        return false;
    struct gz_state s = {-1, -1};
    each_item(accept_encoding, gz_fn, &s);
    if (s.gzip >= 0)
        return s.gzip > 0;
    return s.star > 0;
}

struct etag_state {
    const char *etag;
    bool match;
};

static bool etag_fn(const char *tok, size_t n, double q, void *arg)
{
    struct etag_state *s = arg;
    (void)q;
    if (n >= 2 && !strncmp(tok, "W/", 2)) {
        tok += 2;
        n -= 2;
    }
    const char *et = s->etag;
    if (!strncmp(et, "W/", 2))
        et += 2;
    if (tok_is(tok, n, "*") || (strlen(et) == n && !memcmp(tok, et, n)))
        s->match = true;
    return s->match;
}

bool api_etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match || !*if_none_match || !etag || !*etag)
        return false;
    struct etag_state s = {etag, false};
    each_item(if_none_match, etag_fn, &s);
    return s.match;
}

void api_etag_make(const char *text, char out[40])
{
    uint64_t a = 1469598103934665603ULL, b = 0x9e3779b97f4a7c15ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        a = (a ^ *p) * 1099511628211ULL;
        b = (b ^ *p) * 0x100000001b3ULL + 0x632be59bd9b4e019ULL;
        b ^= b >> 29;
    }
    snprintf(out, 40, "\"%016llx%016llx\"", (unsigned long long)a, (unsigned long long)b);
}
