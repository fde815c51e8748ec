/* segweb lint FILE [--sources DIR]: the SEG doctor on the command line (the
 * same JSON as GET R/lint). Referenced images are looked for under DIR (default:
 * the folder of FILE and everything below it). Exit 0 with no error finding,
 * 1 when a finding is an error or the file cannot be read, 2 on usage errors. */
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "decoder/decoder.h"
#include "server/cli.h"

int cli_lint(int argc, char **argv)
{
    const char *file = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sources") && i + 1 < argc)
            dir = argv[++i];
        else if (!file && argv[i][0] != '-')
            file = argv[i];
        else {
            fprintf(stderr, "segweb: usage: segweb lint FILE [--sources DIR]\n");
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "segweb: usage: segweb lint FILE [--sources DIR]\n");
        return 2;
    }
    struct err e = ERR_INIT;
    struct seg_index *idx = decoder_seg_open(file, NULL, &e);
    if (!idx) {
        fprintf(stderr, "segweb: %s\n", e.msg);
        return 1;
    }
    char copy[PATH_MAX], root[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", file);
    if (!realpath(dir ? dir : dirname(copy), root)) {
        fprintf(stderr, "segweb: cannot resolve %s\n", dir ? dir : copy);
        decoder_seg_free(idx);
        return 1;
    }
    static struct api_ctx ctx; /* no store: the files root only */
    ctx.files_root = root;
    json_t *doc = api_lint_json(&ctx, idx);
    int rc = 0;
    if (!doc || json_dumpf(doc, stdout, JSON_INDENT(1)) != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "segweb: cannot write JSON to stdout\n");
        rc = 1;
    } else if (json_integer_value(json_object_get(json_object_get(doc, "counts"), "error")) > 0) {
        rc = 1;
    }
    json_decref(doc);
    decoder_seg_free(idx);
    return rc;
}
