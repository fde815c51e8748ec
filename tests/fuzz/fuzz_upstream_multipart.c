/* libFuzzer target: the upstream's multipart/related reader (upstream/upstream.h)
 * and the header parameter / header block helpers. Input: a Content-Type value,
 * '\n', then the body. The body is read twice, in one chunk and in chunks of
 * fuzzer-chosen sizes (1..64 bytes, from the body's own bytes); both runs must
 * agree on success, the number of parts and every part's headers and bytes, and
 * callbacks must come in begin / data / end order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/upstream.h"

#define MAX_PARTS 64

struct run {
    int open;
    size_t parts;
    uint64_t hash[MAX_PARTS];
    size_t bytes[MAX_PARTS];
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static bool begin(void *arg, const char *h, size_t n, struct err *e)
{
    struct run *r = arg;
    if (r->open || strlen(h) != n)
        abort();
    if (r->parts >= MAX_PARTS)
        return err_set(e, ERR_LIMIT, "more than %d parts", MAX_PARTS);
    char v[256];
    if (upstream_header_find(h, n, "Content-Type", v, sizeof v) && strlen(v) >= sizeof v)
        abort();
    r->open = 1;
    r->hash[r->parts] = fnv(1469598103934665603ull, (const uint8_t *)h, n);
    r->parts++;
    return true;
}

static bool data(void *arg, const void *p, size_t n, struct err *e)
{
    struct run *r = arg;
    if (!r->open || !n)
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

static bool parse(const char *ct, const uint8_t *body, size_t n, const uint8_t *sizes, size_t n_sizes,
                  struct run *r)
{
    memset(r, 0, sizeof *r);
    struct upstream_mp_callbacks cb = {begin, data, end, r};
    struct err e = ERR_INIT;
    struct upstream_mp *m = upstream_mp_new(ct, &cb, MAX_PARTS, &e);
    if (!m)
        return false;
    bool ok = true;
    size_t i = 0, k = 0;
    while (ok && i < n) {
        size_t step = n_sizes ? (size_t)(sizes[k++ % n_sizes] % 64) + 1 : n - i;
        if (step > n - i)
            step = n - i;
        ok = upstream_mp_feed(m, body + i, step, &e);
        i += step;
    }
    if (ok)
        ok = upstream_mp_finish(m, &e);
    upstream_mp_free(m);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
    const uint8_t *nl = memchr(p, '\n', n < 2048 ? n : 2048);
    if (!nl)
        return 0;
    size_t ctn = (size_t)(nl - p);
    char ct[2049];
    memcpy(ct, p, ctn);
    ct[ctn] = 0;
    if (strlen(ct) != ctn)
        return 0;
    char v[UPSTREAM_MP_BOUNDARY_MAX + 1];
    if (upstream_header_param(ct, "boundary", v, sizeof v) && strlen(v) > UPSTREAM_MP_BOUNDARY_MAX)
        abort();
    const uint8_t *body = nl + 1;
    size_t bn = n - ctn - 1;
    static struct run a, b;
    bool ok1 = parse(ct, body, bn, NULL, 0, &a);
    bool ok2 = parse(ct, body, bn, body, bn < 32 ? bn : 32, &b);
    if (ok1 != ok2)
        abort();
    if (ok1 && (a.parts != b.parts || memcmp(a.hash, b.hash, sizeof a.hash) || memcmp(a.bytes, b.bytes, sizeof a.bytes)))
        abort();
    return 0;
}
