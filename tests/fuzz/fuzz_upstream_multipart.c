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

#include "fuzz_util.h"
#include "upstream/upstream.h"

static bool begin(void *arg, const char *h, size_t n, struct err *e)
{
    if (strlen(h) != n)
        abort();
    char v[256];
    if (upstream_header_find(h, n, "Content-Type", v, sizeof v) && strlen(v) >= sizeof v)
        abort();
    return fuzz_parts_begin(arg, h, n, e);
}

static bool data(void *arg, const void *p, size_t n, struct err *e)
{
    if (!n)
        abort();
    fuzz_parts_data(arg, p, n);
    return true;
}

static bool end(void *arg, struct err *e)
{
    fuzz_parts_end(arg);
    return true;
}

static bool feed(void *m, const uint8_t *p, size_t n, struct err *e)
{
    return upstream_mp_feed(m, p, n, e);
}

/* Chunked (sizes not NULL): pieces of sizes[k % n_sizes] % 64 + 1 bytes, k counting them. */
static bool parse(const char *ct, const uint8_t *body, size_t n, const uint8_t *sizes, size_t n_sizes,
                  struct fuzz_parts *r)
{
    memset(r, 0, sizeof *r);
    struct upstream_mp_callbacks cb = {begin, data, end, r};
    struct err e = ERR_INIT;
    struct upstream_mp *m = upstream_mp_new(ct, &cb, FUZZ_MAX_PARTS, &e);
    if (!m)
        return false;
    bool ok = fuzz_feed(feed, m, body, n, sizes, n_sizes, false, &e) && upstream_mp_finish(m, &e);
    upstream_mp_free(m);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
    char ct[2049];
    const uint8_t *body;
    size_t bn;
    if (!fuzz_split_line(p, n, ct, sizeof ct, &body, &bn) || strlen(ct) != (size_t)(body - 1 - p))
        return 0;
    char v[UPSTREAM_MP_BOUNDARY_MAX + 1];
    if (upstream_header_param(ct, "boundary", v, sizeof v) && strlen(v) > UPSTREAM_MP_BOUNDARY_MAX)
        abort();
    static struct fuzz_parts a, b;
    bool ok1 = parse(ct, body, bn, NULL, 0, &a);
    bool ok2 = parse(ct, body, bn, body, bn < 32 ? bn : 32, &b);
    if (ok1 != ok2)
        abort();
    if (ok1 && !fuzz_parts_same(&a, &b))
        abort();
    return 0;
}
