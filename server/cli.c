/* segweb info / frame / frames: the decoder on the command line. Errors exit 1
 * with one line on stderr; usage errors exit 2. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "common/buf.h"
#include "decoder/decoder.h"
#include "server/cli.h"

int cli_fail(const struct err *e)
{
    fprintf(stderr, "segweb: %s\n", e->msg);
    return 1;
}

int cli_usage(const char *msg)
{
    fprintf(stderr, "segweb: %s\n", msg);
    return 2;
}

static bool write_all(FILE *f, const struct buf *b)
{
    return fwrite(b->data, 1, b->len, f) == b->len;
}

int cli_info(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage("usage: segweb info FILE");
    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(argv[1], NULL, &e);
    if (!idx)
        return cli_fail(&e);
    json_t *doc = api_index_json(idx);
    int rc = 0;
    if (!doc || json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) != 0 ||
        fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        err_set(&e, ERR_IO, "cannot write JSON to stdout");
        rc = cli_fail(&e);
    }
    json_decref(doc);
    decoder_seg_free(idx);
    return rc;
}

int cli_frame(int argc, char **argv)
{
    bool color = false;
    const char *pos[2] = {NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--color"))
            color = true;
        else if (n < 2)
            pos[n++] = argv[i];
        else
            return cli_usage("usage: segweb frame FILE N [--color]");
    }
    if (n != 2)
        return cli_usage("usage: segweb frame FILE N [--color]");
    struct err e = ERR_INIT;
    uint32_t frame;
    if (!api_frame_number_parse(pos[1], &frame, &e))
        return cli_fail(&e);
    struct seg_index *idx = decoder_seg_open(pos[0], NULL, &e);
    if (!idx)
        return cli_fail(&e);
    struct buf png = {0};
    int rc = 0;
    if (!api_frame_png(idx, frame, color, &png, &e))
        rc = cli_fail(&e);
    else if (!write_all(stdout, &png) || fflush(stdout) != 0)
        rc = (err_set(&e, ERR_IO, "cannot write PNG to stdout"), cli_fail(&e));
    buf_free(&png);
    decoder_seg_free(idx);
    return rc;
}

int cli_frames(int argc, char **argv)
{
    bool color = false;
    const char *file = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--color"))
            color = true;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            dir = argv[++i];
        else if (!file)
            file = argv[i];
        else
            return cli_usage("usage: segweb frames FILE --out DIR [--color]");
    }
    if (!file || !dir)
        return cli_usage("usage: segweb frames FILE --out DIR [--color]");
    struct err e = ERR_INIT;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        err_set(&e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
        return cli_fail(&e);
    }
    struct seg_index *idx = decoder_seg_open(file, NULL, &e);
    if (!idx)
        return cli_fail(&e);
    int rc = 0;
    size_t plen = strlen(dir) + 32;
    char *path = malloc(plen);
    struct buf png = {0};
    for (uint32_t f = 1; rc == 0 && f <= idx->number_of_frames; f++) {
        png.len = 0;
        if (!path) {
            err_set(&e, ERR_NOMEM, "out of memory");
            rc = cli_fail(&e);
            break;
        }
        snprintf(path, plen, "%s/frame-%05u.png", dir, f);
        if (!api_frame_png(idx, f, color, &png, &e)) {
            rc = cli_fail(&e);
            break;
        }
        FILE *out = fopen(path, "wb");
        bool ok = out && write_all(out, &png);
        if (out && fclose(out) != 0)
            ok = false;
        if (!ok) {
            err_set(&e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
            rc = cli_fail(&e);
        }
    }
    buf_free(&png);
    free(path);
    decoder_seg_free(idx);
    return rc;
}
