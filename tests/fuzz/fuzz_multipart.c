/* libFuzzer target: the multipart/related push parser (api/multipart.h) and the
 * Content-Type parser. Input: a Content-Type value, '\n', then the body.
 * The body is parsed twice, in one chunk and in chunks of fuzzer-chosen sizes
 * (1..64 bytes, from the body's own bytes); both runs must agree on success,
 * the number of parts and every part's bytes and Content-Type (a chunking bug
 * shows up as a difference), and callbacks must come in begin / data / end order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"

#define MAX_PARTS 64

struct run {
    int open;                /* inside a part */
    size_t parts;
    uint64_t hash[MAX_PARTS]; /* FNV-1a of each part's data and content type */
    size_t bytes[MAX_PARTS];
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static bool begin(void *arg, const char *ct, struct err *e)
{
    struct run *r = arg;
    if (r->open || !ct)
        abort();
    if (r->parts >= MAX_PARTS)
        return err_set(e, ERR_LIMIT, "more than %d parts", MAX_PARTS);
    r->open = 1;
    r->hash[r->parts] = fnv(1469598103934665603ull, (const uint8_t *)ct, strlen(ct));
    r->parts++;
    return true;
}

static bool data(void *arg, const uint8_t *p, size_t n, struct err *e)
{
    struct run *r = arg;
    if (!r->open)
        abort();
    r->hash[r->parts - 1] = fnv(r->hash[r->parts - 1], p, n);
    r->bytes[r->parts - 1] += n;
    return true;
}

static bool end(void *arg, struct err *e)
{
    struct run *r = arg;
    if (!r->open)
        abort();
    r->open = 0;
    return true;
}

static const struct api_multipart_cb CB = {begin, data, end};

/* 0: parser refused the boundary; 1: body failed; 2: body ok. */
static int parse(const char *boundary, const uint8_t *body, size_t n, bool chunked, struct run *r)
{
    memset(r, 0, sizeof *r);
    struct err e = ERR_INIT;
    struct api_multipart *mp = api_multipart_new(boundary, &CB, r, &e);
    if (!mp)
        return 0;
    bool ok = true;
    size_t at = 0;
    while (ok && at < n) {
        size_t k = chunked ? (size_t)(body[at] % 64) + 1 : n - at;
        if (k > n - at)
            k = n - at;
        ok = api_multipart_feed(mp, body + at, k, &e);
        at += k;
    }
    if (ok)
        ok = api_multipart_finish(mp, &e);
    if (!ok && e.code == ERR_OK)
        abort(); /* a failure must say why */
    size_t parts = api_multipart_parts(mp);
    api_multipart_free(mp);
    if (ok && (r->open || parts != r->parts))
        abort();
    return ok ? 2 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    const uint8_t *nl = memchr(in, '\n', size < 1024 ? size : 1024);
    if (!nl)
        return 0;
    char ct[1024];
    size_t ctn = (size_t)(nl - in);
    memcpy(ct, in, ctn);
    ct[ctn] = 0;
    const uint8_t *body = nl + 1;
    size_t n = size - ctn - 1;

    char media[128], type[128], boundary[API_MULTIPART_BOUNDARY_MAX + 8];
    struct err e = ERR_INIT;
    if (!api_content_type_parse(ct, media, sizeof media, type, sizeof type, boundary, sizeof boundary, &e)) {
        if (e.code == ERR_OK)
            abort();
        return 0;
    }
    if (!boundary[0])
        snprintf(boundary, sizeof boundary, "b");
    static struct run whole, pieces;
    int a = parse(boundary, body, n, false, &whole);
    int b = parse(boundary, body, n, true, &pieces);
    if (a != b)
        abort();
    if (a == 2) {
        if (whole.parts != pieces.parts)
            abort();
        for (size_t i = 0; i < whole.parts; i++)
            if (whole.hash[i] != pieces.hash[i] || whole.bytes[i] != pieces.bytes[i])
                abort();
    }
    return 0;
}
