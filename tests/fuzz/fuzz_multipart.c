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
#include "fuzz_util.h"

static bool begin(void *arg, const char *ct, struct err *e)
{
    if (!ct)
        abort();
    return fuzz_parts_begin(arg, ct, strlen(ct), e);
}

static bool data(void *arg, const uint8_t *p, size_t n, struct err *e)
{
    fuzz_parts_data(arg, p, n);
    return true;
}

static bool end(void *arg, struct err *e)
{
    fuzz_parts_end(arg);
    return true;
}

static const struct api_multipart_cb CB = {begin, data, end};

static bool feed(void *mp, const uint8_t *p, size_t n, struct err *e)
{
    return api_multipart_feed(mp, p, n, e);
}

/* 0: parser refused the boundary; 1: body failed; 2: body ok. Chunked: pieces of
 * body[at] % 64 + 1 bytes. */
static int parse(const char *boundary, const uint8_t *body, size_t n, bool chunked, struct fuzz_parts *r)
{
    memset(r, 0, sizeof *r);
    struct err e = ERR_INIT;
    struct api_multipart *mp = api_multipart_new(boundary, &CB, r, &e);
    if (!mp)
        return 0;
    bool ok = fuzz_feed(feed, mp, body, n, chunked ? body : NULL, n, true, &e) && api_multipart_finish(mp, &e);
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
    char ct[1025];
    const uint8_t *body;
    size_t n;
    if (!fuzz_split_line(in, size, ct, sizeof ct, &body, &n))
        return 0;

    char media[128], type[128], boundary[API_MULTIPART_BOUNDARY_MAX + 8];
    struct err e = ERR_INIT;
    if (!api_content_type_parse(ct, media, sizeof media, type, sizeof type, boundary, sizeof boundary, &e)) {
        if (e.code == ERR_OK)
            abort();
        return 0;
    }
    if (!boundary[0])
        snprintf(boundary, sizeof boundary, "b");
    static struct fuzz_parts whole, pieces;
    int a = parse(boundary, body, n, false, &whole);
    int b = parse(boundary, body, n, true, &pieces);
    if (a != b || (a == 2 && !fuzz_parts_same(&whole, &pieces)))
        abort();
    return 0;
}
