/* api/multipart.c: every chunking of a body (each split point, each chunk size)
 * gives the same parts; near-miss delimiters inside data stay data; malformed
 * bodies and over-long headers fail cleanly; Content-Type parameters parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"
#include "tests/unit/check.h"

struct sink {
    char types[8][64];
    char data[8][512];
    size_t len[8];
    size_t n;
    int ended;
};

static bool on_begin(void *arg, const char *ct, struct err *e)
{
    struct sink *s = arg;
    if (s->n >= 8)
        return err_set(e, ERR_LIMIT, "too many");
    snprintf(s->types[s->n], sizeof s->types[0], "%s", ct);
    s->len[s->n] = 0;
    s->n++;
    return true;
}

static bool on_data(void *arg, const uint8_t *p, size_t n, struct err *e)
{
    struct sink *s = arg;
    size_t k = s->n - 1;
    if (s->len[k] + n > sizeof s->data[0])
        return err_set(e, ERR_LIMIT, "part too big");
    memcpy(s->data[k] + s->len[k], p, n);
    s->len[k] += n;
    return true;
}

static bool on_end(void *arg, struct err *e)
{
    ((struct sink *)arg)->ended++;
    return true;
}

static const struct api_multipart_cb CB = {on_begin, on_data, on_end};

/* Feeds body in chunks: the first ends at `split`, the rest are `step` bytes. */
static bool run(const char *boundary, const char *body, size_t len, size_t split, size_t step,
                struct sink *s, struct err *e)
{
    memset(s, 0, sizeof *s);
    struct api_multipart *mp = api_multipart_new(boundary, &CB, s, e);
    if (!mp)
        return false;
    bool ok = api_multipart_feed(mp, (const uint8_t *)body, split, e);
    for (size_t i = split; ok && i < len; i += step)
        ok = api_multipart_feed(mp, (const uint8_t *)body + i, i + step <= len ? step : len - i, e);
    ok = ok && api_multipart_finish(mp, e);
    api_multipart_free(mp);
    return ok;
}

int main(void)
{
    static const char body[] =
        "preamble to ignore\r\n"
        "--BOUND\r\n"
        "Content-Type: application/dicom\r\n"
        "X-Other: 1\r\n"
        "\r\n"
        "first\r\n--BOUN\r\r\n-\r\n--BOUNX-not\0binary\xff\r\n"
        "\r\n--BOUND  \r\n"
        "content-type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
        "\r\n"
        "\r\n--BOUND\r\n"
        "\r\n"
        "third\r\n"
        "--BOUND--\r\nepilogue --BOUND\r\n";
    size_t len = sizeof body - 1;
    static const char first[] = "first\r\n--BOUN\r\r\n-\r\n--BOUNX-not\0binary\xff\r\n";
    size_t combos = 0, good = 0;
    for (size_t split = 0; split <= len; split++)
        for (size_t step = 1; step <= 13; step += 3) {
            struct sink s;
            struct err e = ERR_INIT;
            combos++;
            bool ok = run("BOUND", body, len, split, step, &s, &e);
            if (ok && s.n == 3 && s.ended == 3 && s.len[0] == sizeof first - 1 &&
                !memcmp(s.data[0], first, sizeof first - 1) && s.len[1] == 0 && s.len[2] == 5 &&
                !memcmp(s.data[2], "third", 5) && !strcmp(s.types[0], "application/dicom") &&
                !strncmp(s.types[1], "application/dicom;", 18) && s.types[2][0] == 0)
                good++;
            else if (combos - good < 3)
                printf("split %zu step %zu: ok=%d n=%zu len0=%zu (%s)\n", split, step, ok, s.n,
                       s.len[0], e.msg);
        }
    CHECK(good == combos, "%zu of %zu chunkings gave the right parts", good, combos);

    /* a body starting directly with the delimiter, no preamble */
    static const char direct[] = "--b\r\nContent-Type: application/dicom\r\n\r\nX\r\n--b--";
    struct sink s;
    struct err e = ERR_INIT;
    CHECK(run("b", direct, sizeof direct - 1, 0, 1, &s, &e) && s.n == 1 && s.len[0] == 1,
          "no preamble: %s", e.msg);

    /* truncated: no closing delimiter */
    e = (struct err)ERR_INIT;
    CHECK(!run("b", direct, sizeof direct - 6, 3, 4, &s, &e) && e.code == ERR_PARSE, "truncated");
    /* no boundary at all */
    e = (struct err)ERR_INIT;
    CHECK(!run("b", "just bytes", 10, 5, 5, &s, &e) && e.code == ERR_PARSE, "no delimiter");
    /* garbage after the delimiter */
    e = (struct err)ERR_INIT;
    CHECK(!run("b", "--bX\r\n\r\n", 8, 8, 1, &s, &e) && e.code == ERR_PARSE, "bad delimiter line");
    /* header block over the limit */
    size_t big = API_MULTIPART_HEADERS_MAX + 100;
    char *hb = malloc(big + 16);
    memcpy(hb, "--b\r\nX: ", 8);
    memset(hb + 8, 'a', big);
    e = (struct err)ERR_INIT;
    CHECK(!run("b", hb, big + 8, 100, 1000, &s, &e) && e.code == ERR_LIMIT, "long headers: %s", e.msg);
    free(hb);
    /* bad boundaries */
    e = (struct err)ERR_INIT;
    CHECK(!api_multipart_new("", &CB, &s, &e), "empty boundary");
    e = (struct err)ERR_INIT;
    CHECK(!api_multipart_new("a\rb", &CB, &s, &e), "CR in boundary");
    e = (struct err)ERR_INIT;
    char longb[API_MULTIPART_BOUNDARY_MAX + 2];
    memset(longb, 'x', sizeof longb - 1);
    longb[sizeof longb - 1] = 0;
    CHECK(!api_multipart_new(longb, &CB, &s, &e), "boundary over API_MULTIPART_BOUNDARY_MAX");
    /* Orthanc's DICOMweb client sends 73 characters (two UUIDs); a few hundred pass */
    longb[73] = 0;
    e = (struct err)ERR_INIT;
    struct api_multipart *m73 = api_multipart_new(longb, &CB, &s, &e);
    CHECK(m73 != NULL, "73-char boundary: %s", e.msg);
    api_multipart_free(m73);
    longb[300] = 'x';
    longb[API_MULTIPART_BOUNDARY_MAX] = 0;
    e = (struct err)ERR_INIT;
    m73 = api_multipart_new(longb, &CB, &s, &e);
    CHECK(m73 != NULL, "%d-char boundary: %s", API_MULTIPART_BOUNDARY_MAX, e.msg);
    api_multipart_free(m73);

    /* Content-Type parameters */
    char media[64], type[64], bnd[128];
    e = (struct err)ERR_INIT;
    CHECK(api_content_type_parse("Multipart/Related; type=\"application/dicom\"; boundary=\"a b;c\"",
                                 media, sizeof media, type, sizeof type, bnd, sizeof bnd, &e) &&
              !strcmp(media, "multipart/related") && !strcmp(type, "application/dicom") &&
              !strcmp(bnd, "a b;c"),
          "quoted: %s|%s|%s", media, type, bnd);
    CHECK(api_content_type_parse("multipart/related;boundary=xyz ; type=application/dicom", media,
                                 sizeof media, type, sizeof type, bnd, sizeof bnd, &e) &&
              !strcmp(bnd, "xyz") && !strcmp(type, "application/dicom"),
          "unquoted: %s|%s", type, bnd);
    e = (struct err)ERR_INIT;
    CHECK(!api_content_type_parse("multipart/related; boundary=\"open", media, sizeof media, type,
                                  sizeof type, bnd, sizeof bnd, &e),
          "unterminated quote");
    return check_done();
}
