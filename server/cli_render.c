/* segweb render: one source image frame as PNG (or JPEG) on stdout, windowed
 * like GET R/frames/{f}/rendered, optionally with a SEG file's masks burned in.
 *   segweb render FILE [--frame N] [--window C,W[,FN]] [--jpeg]
 *                      [--seg SEG_FILE [--segments 1,3] [--opacity X] [--outline]]
 * Errors exit 1 with one line on stderr; usage errors exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "decoder/decoder.h"
#include "render/render.h"
#include "server/cli.h"

#define USAGE "usage: segweb render FILE [--frame N] [--window C,W[,FN]] [--jpeg] " \
              "[--seg SEG_FILE [--segments 1,3] [--opacity X] [--outline]]"

int cli_render(int argc, char **argv)
{
    const char *file = NULL, *seg = NULL;
    char query[1400] = "";
    uint32_t frame = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        size_t ql = strlen(query);
        if (!strcmp(a, "--frame") && has) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || v < 1 || v > UINT32_MAX) {
                fprintf(stderr, "segweb: --frame must be a positive number\n");
                return 2;
            }
            frame = (uint32_t)v;
        } else if (!strcmp(a, "--window") && has) {
            snprintf(query + ql, sizeof query - ql, "&window=%s", argv[++i]);
        } else if (!strcmp(a, "--segments") && has) {
            snprintf(query + ql, sizeof query - ql, "&segments=%s", argv[++i]);
        } else if (!strcmp(a, "--opacity") && has) {
            snprintf(query + ql, sizeof query - ql, "&opacity=%s", argv[++i]);
        } else if (!strcmp(a, "--outline")) {
            snprintf(query + ql, sizeof query - ql, "&outline=true");
        } else if (!strcmp(a, "--jpeg")) {
            snprintf(query + ql, sizeof query - ql, "&accept=image/jpeg");
        } else if (!strcmp(a, "--seg") && has) {
            seg = argv[++i];
        } else if (!file && a[0] != '-') {
            file = a;
        } else {
            fprintf(stderr, "segweb: %s\n", USAGE);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "segweb: %s\n", USAGE);
        return 2;
    }
    struct err e = ERR_INIT;
    struct api_rendered_params p;
    struct render_image img = {0};
    struct seg_index *idx = NULL;
    struct api_response r = {0};
    int rc = 1;
    /* The CLI names the SEG by file: a placeholder UID lets segments/outline parse. */
    size_t ql = strlen(query);
    snprintf(query + ql, sizeof query - ql, "&segmentation=1");
    if (!api_rendered_params_parse(query + 1, &p, &e))
        goto out;
    if (!render_source_frame(file, frame, &p.window, NULL, &img, &e))
        goto out;
    if (seg) {
        struct render_source_info info;
        if (!render_source_probe(file, &info, &e) || !(idx = decoder_seg_open(seg, NULL, &e)) ||
            !api_burn_segments(idx, info.sop_instance_uid, info.frames > 1 ? frame : 0, &p, &img, &e))
            goto out;
    }
    if (!api_image_response(&img, p.jpeg, p.quality, &r, &e))
        goto out;
    if (fwrite(r.body.data, 1, r.body.len, stdout) != r.body.len || fflush(stdout) != 0) {
        err_set(&e, ERR_IO, "cannot write the image to stdout");
        goto out;
    }
    if (img.windowed)
        fprintf(stderr, "window %.6g,%.6g (%s)\n", img.center, img.width, img.window_source);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "segweb: %s\n", e.msg);
    buf_free(&r.body);
    render_image_free(&img);
    decoder_seg_free(idx);
    return rc;
}
