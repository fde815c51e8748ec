/* What several fuzz targets share, header-only (each target is one .c file):
 *
 *   fuzz_input_file   the input as a file, for code that reads by path (the decoder);
 *   fuzz_split_line   "first line\nbody" inputs (a Content-Type, then a body);
 *   fuzz_feed         a body handed to a push parser whole or in fuzzer-chosen pieces;
 *   struct fuzz_parts a record of a multipart run (parts, bytes, FNV-1a of each part)
 *                     that two runs over the same body, chunked differently, must agree on.
 *
 * Helpers abort() on what must never happen; libFuzzer reports that as a crash. */
#ifndef SEGWEB_TESTS_FUZZ_UTIL_H
#define SEGWEB_TESTS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

static char fuzz_path[64];

static inline void fuzz_path_remove(void)
{
    if (fuzz_path[0])
        unlink(fuzz_path);
}

/* Writes data to /tmp/segweb-fuzz-<name>-<pid>.dcm (one file per process, reused for
 * every input, removed at exit) and returns that path. Aborts when it cannot. */
static inline const char *fuzz_input_file(const char *name, const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        snprintf(fuzz_path, sizeof fuzz_path, "/tmp/segweb-fuzz-%s-%ld.dcm", name, (long)getpid());
        atexit(fuzz_path_remove);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    return fuzz_path;
}

/* Splits in[0..size) at the first '\n' within its first line_size - 1 bytes: the line
 * goes to line (NUL-terminated), what follows to *body / *body_len. false when there
 * is no such '\n' (the input is then skipped). */
static inline bool fuzz_split_line(const uint8_t *in, size_t size, char *line, size_t line_size,
                                   const uint8_t **body, size_t *body_len)
{
    const uint8_t *nl = memchr(in, '\n', size < line_size - 1 ? size : line_size - 1);
    if (!nl)
        return false;
    size_t n = (size_t)(nl - in);
    memcpy(line, in, n);
    line[n] = 0;
    *body = nl + 1;
    *body_len = size - n - 1;
    return true;
}

/* Feeds body[0..n) to feed(parser, piece, len, e), stopping at its first false: whole
 * when sizes is NULL, else in pieces of sizes[i % n_sizes] % 64 + 1 bytes (the last one
 * cut to what is left), i being the piece's offset in body (by_offset) or its count. */
static inline bool fuzz_feed(bool (*feed)(void *parser, const uint8_t *p, size_t n, struct err *e), void *parser,
                             const uint8_t *body, size_t n, const uint8_t *sizes, size_t n_sizes, bool by_offset,
                             struct err *e)
{
    size_t at = 0, count = 0;
    while (at < n) {
        size_t k = n - at;
        if (sizes && n_sizes) {
            size_t want = (size_t)(sizes[(by_offset ? at : count++) % n_sizes] % 64) + 1;
            k = want < k ? want : k;
        }
        if (!feed(parser, body + at, k, e))
            return false;
        at += k;
    }
    return true;
}

#define FUZZ_MAX_PARTS 64

struct fuzz_parts {
    int open; /* inside a part */
    size_t parts;
    uint64_t hash[FUZZ_MAX_PARTS]; /* FNV-1a of each part's head (headers or content type) and data */
    size_t bytes[FUZZ_MAX_PARTS];
};

static inline uint64_t fuzz_fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* A part begins with head[0..n): callbacks out of order abort; more than
 * FUZZ_MAX_PARTS parts is refused with ERR_LIMIT, as a parser's callback would. */
static inline bool fuzz_parts_begin(struct fuzz_parts *r, const void *head, size_t n, struct err *e)
{
    if (r->open)
        abort();
    if (r->parts >= FUZZ_MAX_PARTS)
        return err_set(e, ERR_LIMIT, "more than %d parts", FUZZ_MAX_PARTS);
    r->open = 1;
    r->hash[r->parts] = fuzz_fnv(1469598103934665603ull, head, n);
    r->parts++;
    return true;
}

static inline void fuzz_parts_data(struct fuzz_parts *r, const void *p, size_t n)
{
    if (!r->open)
        abort();
    r->hash[r->parts - 1] = fuzz_fnv(r->hash[r->parts - 1], p, n);
    r->bytes[r->parts - 1] += n;
}

static inline void fuzz_parts_end(struct fuzz_parts *r)
{
    if (!r->open)
        abort();
    r->open = 0;
}

/* Two runs saw the same parts with the same bytes. */
static inline bool fuzz_parts_same(const struct fuzz_parts *a, const struct fuzz_parts *b)
{
    if (a->parts != b->parts)
        return false;
    for (size_t i = 0; i < a->parts; i++)
        if (a->hash[i] != b->hash[i] || a->bytes[i] != b->bytes[i])
            return false;
    return true;
}

#endif
