/* Header negotiation (negotiate.h): every comma-separated header list goes through
 * one walker, each_item(); Accept through one matcher, the most specific range decides. */
#include "api/negotiate.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the one header-list walker (Accept, Accept-Encoding, If-None-Match) ---- */

/* One element of a comma-separated list: the token before ';', its parameters
 * [params, end) (params NULL when it has none) and its q value (1.0 when absent). */
struct item {
    const char *tok;
    size_t n;
    const char *params, *end;
    double q;
};

static bool tok_is(const char *tok, size_t n, const char *want)
{
    return strlen(want) == n && !strncasecmp(tok, want, n);
}

/* Value of parameter `name` in "; k=v; k2="v2"" (quotes removed) into out, or false. */
static bool param_get(const char *p, const char *end, const char *name, char *out, size_t outsz)
{
    while (p && p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        const char *k = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        size_t kn = (size_t)(p - k);
        while (kn && (k[kn - 1] == ' ' || k[kn - 1] == '\t'))
            kn--;
        if (p >= end || *p != '=')
            continue;
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        size_t vn = 0;
        bool quoted = p < end && *p == '"';
        if (quoted)
            p++;
        while (p < end && (quoted ? *p != '"' : (*p != ';' && *p != ' ' && *p != '\t'))) {
            if (vn + 1 < outsz)
                out[vn++] = *p;
            p++;
        }
        if (quoted && p < end)
            p++;
        out[vn] = 0;
        if (tok_is(k, kn, name))
            return true;
    }
    return false;
}

/* Walks a comma-separated header list (commas inside quotes do not split) and calls
 * fn for each element. Stops when fn returns true; returns whether it did. */
static bool each_item(const char *list, bool (*fn)(const struct item *it, void *arg), void *arg)
{
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        struct item it = {.tok = p, .q = 1.0};
        it.end = p;
        for (bool quoted = false; *it.end && (quoted || *it.end != ','); it.end++)
            if (*it.end == '"')
                quoted = !quoted;
        it.params = memchr(p, ';', (size_t)(it.end - p));
        const char *tend = it.params ? it.params : it.end;
        while (tend > p && (tend[-1] == ' ' || tend[-1] == '\t'))
            tend--;
        it.n = (size_t)(tend - p);
        char qv[16];
        if (param_get(it.params, it.end, "q", qv, sizeof qv))
            it.q = strtod(qv, NULL);
        if (fn(&it, arg))
            return true;
        p = it.end;
    }
    return false;
}

/* ---- Accept ---- */

struct media_state {
    const char *media, *part_type;
    int best; /* how specific the best matching range is: 0 none, 1 any, 2 type/any, 3 exact */
    double q;
};

/* How specifically it names media: 3 exact (for multipart: and its type= parameter,
 * if any, names part_type), 2 type/any, 1 any/any, 0 not at all. application/json
 * counts as an exact name of application/dicom+json. */
static int range_match(const struct item *it, const char *media, const char *part_type)
{
    int level = 0;
    size_t slash = strcspn(media, "/");
    if (tok_is(it->tok, it->n, "*/*") || tok_is(it->tok, it->n, "*"))
        return 1;
    if (it->n == slash + 2 && !strncasecmp(it->tok, media, slash + 1) && it->tok[slash + 1] == '*')
        level = 2;
    else if (tok_is(it->tok, it->n, media) ||
             (!strcmp(media, "application/dicom+json") && tok_is(it->tok, it->n, "application/json")))
        level = 3;
    char t[128];
    if (!level || !part_type || !param_get(it->params, it->end, "type", t, sizeof t))
        return level;
    bool type_ok = !strcasecmp(t, part_type) || !strcmp(t, "*/*") ||
                   (!strcasecmp(part_type, "application/octet-stream") && !strcmp(t, "*"));
    return type_ok ? level : 0;
}

static bool media_fn(const struct item *it, void *arg)
{
    struct media_state *s = arg;
    int m = range_match(it, s->media, s->part_type);
    if (m > s->best) { /* the most specific range decides (RFC 9110 12.5.1) */
        s->best = m;
        s->q = it->q;
    }
    return false;
}

bool api_accepts_media(const char *accept, const char *media, const char *part_type)
{
    if (!accept || !*accept)
        return true;
    struct media_state s = {media, part_type, 0, 0};
    each_item(accept, media_fn, &s);
    return s.best && s.q > 0;
}

bool api_accepts_png(const char *accept)
{
    return api_accepts_media(accept, "image/png", NULL);
}

struct first_state {
    const char *a, *b;
    const char *found;
};

static bool first_fn(const struct item *it, void *arg)
{
    struct first_state *s = arg;
    if (it->q > 0 && tok_is(it->tok, it->n, s->a))
        s->found = s->a;
    else if (it->q > 0 && tok_is(it->tok, it->n, s->b))
        s->found = s->b;
    return s->found != NULL;
}

bool api_accept_names_first(const char *accept, const char *a, const char *b)
{
    struct first_state s = {a, b, NULL};
    if (accept)
        each_item(accept, first_fn, &s);
    return s.found == a;
}

struct param_state {
    const char *name;
    char *out;
    size_t sz;
};

static bool param_fn(const struct item *it, void *arg)
{
    struct param_state *s = arg;
    return param_get(it->params, it->end, s->name, s->out, s->sz);
}

void api_accept_transfer_syntax(const char *accept, char *out, size_t sz)
{
    out[0] = 0;
    struct param_state s = {"transfer-syntax", out, sz};
    if (accept && !each_item(accept, param_fn, &s))
        out[0] = 0;
}

/* ---- Accept-Encoding ---- */

struct gz_state {
    double gzip, star;
};

static bool gz_fn(const struct item *it, void *arg)
{
    struct gz_state *s = arg;
    if (tok_is(it->tok, it->n, "gzip") || tok_is(it->tok, it->n, "x-gzip"))
        s->gzip = it->q;
    else if (tok_is(it->tok, it->n, "*"))
        s->star = it->q;
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

/* ---- If-None-Match ---- */

struct etag_state {
    const char *etag;
    bool match;
};

static bool etag_fn(const struct item *it, void *arg)
{
    struct etag_state *s = arg;
    const char *tok = it->tok;
    size_t n = it->n;
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
