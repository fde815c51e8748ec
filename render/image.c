/* Display images: the window parameter, blank images, masks burned in, PNG.
 *
 * Blending is done in integer-free double arithmetic per pixel and rounded to
 * nearest once, so a test can compute the same value from the formula in
 * render.h without knowing the order of operations here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decoder/decoder.h"
#include "render/render.h"

bool render_window_parse(const char *s, struct render_window *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return err_set(e, ERR_PARSE, "window: too long");
    snprintf(buf, sizeof buf, "%s", s);
    char *parts[4] = {0};
    size_t n = 0;
    for (char *p = buf, *tok; n < 4 && (tok = strsep(&p, ","));)
        parts[n++] = tok;
    if (n < 2 || n > 3)
        return err_set(e, ERR_PARSE, "window must be center,width[,function]");
    double v[2];
    for (int i = 0; i < 2; i++) {
        char *end;
        v[i] = strtod(parts[i], &end);
        if (end == parts[i] || *end || !isfinite(v[i]))
            return err_set(e, ERR_PARSE, "window: '%s' is not a number", parts[i]);
    }
    out->function = RENDER_VOI_LINEAR;
    if (n == 3) {
        if (!strcasecmp(parts[2], "linear"))
            out->function = RENDER_VOI_LINEAR;
        else if (!strcasecmp(parts[2], "linear-exact") || !strcasecmp(parts[2], "linear_exact"))
            out->function = RENDER_VOI_LINEAR_EXACT;
        else if (!strcasecmp(parts[2], "sigmoid"))
            out->function = RENDER_VOI_SIGMOID;
        else
            return err_set(e, ERR_PARSE, "window function must be linear, linear-exact or sigmoid");
    }
    double min_width = out->function == RENDER_VOI_LINEAR ? 1 : 0;
    if (!(v[1] > 0) || v[1] < min_width)
        return err_set(e, ERR_PARSE, "window width must be %s", min_width ? ">= 1" : "> 0");
    out->set = true;
    out->center = v[0];
    out->width = v[1];
    return true;
}

bool render_image_blank(uint32_t rows, uint32_t columns, struct render_image *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (!rows || !columns)
        return err_set(e, ERR_INVALID, "empty image (%ux%u)", rows, columns);
    out->data = calloc((size_t)rows * columns, 1);
    if (!out->data)
        return err_set(e, ERR_NOMEM, "out of memory for a %ux%u image", rows, columns);
    out->rows = rows;
    out->columns = columns;
    out->channels = 1;
    out->window_source = "none";
    return true;
}

void render_image_free(struct render_image *img)
{
    if (!img)
        return;
    free(img->data);
    img->data = NULL;
}

static bool to_rgb(struct render_image *img, struct err *e)
{
    if (img->channels == 3)
        return true;
    size_t n = (size_t)img->rows * img->columns;
    uint8_t *rgb = malloc(n ? n * 3 : 1);
    if (!rgb)
        return err_set(e, ERR_NOMEM, "out of memory for a %ux%u RGB image", img->rows, img->columns);
    for (size_t i = 0; i < n; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = img->data[i];
    free(img->data);
    img->data = rgb;
    img->channels = 3;
    return true;
}

/* Coverage of pixel i in 0..1. */
static double coverage(const struct render_layer *l, size_t i)
{
    const struct seg_pixels *m = l->mask;
    if (m->bits == 1)
        return (m->data[i >> 3] >> (i & 7)) & 1;
    double max = l->max_value ? l->max_value : 255;
    double c = m->data[i] / max;
    return c > 1 ? 1 : c;
}

static bool covered(const struct render_layer *l, size_t i)
{
    const struct seg_pixels *m = l->mask;
    return m->bits == 1 ? (m->data[i >> 3] >> (i & 7)) & 1 : m->data[i] != 0;
}

static bool is_edge(const struct render_layer *l, uint32_t rows, uint32_t cols, uint32_t r, uint32_t c)
{
    if (r == 0 || c == 0 || r + 1 == rows || c + 1 == cols)
        return true;
    size_t i = (size_t)r * cols + c;
    return !covered(l, i - 1) || !covered(l, i + 1) || !covered(l, i - cols) || !covered(l, i + cols);
}

bool render_overlay(struct render_image *img, const struct render_layer *layers, size_t n,
                    const struct render_overlay_params *p, struct err *e)
{
    double opacity = p ? p->opacity : 0.5;
    if (!(opacity >= 0 && opacity <= 1))
        return err_set(e, ERR_INVALID, "opacity must be between 0 and 1");
    for (size_t k = 0; k < n; k++) {
        const struct seg_pixels *m = layers[k].mask;
        size_t npix = (size_t)img->rows * img->columns;
        size_t need = m && m->bits == 1 ? (npix + 7) / 8 : npix;
        if (!m || m->rows != img->rows || m->columns != img->columns || (m->bits != 1 && m->bits != 8) ||
            !m->data || m->len < need)
            return err_set(e, ERR_INVALID, "mask %zu is %ux%u, the image %ux%u", k, m ? m->rows : 0,
                           m ? m->columns : 0, img->rows, img->columns);
    }
    if (!to_rgb(img, e))
        return false;
    uint32_t rows = img->rows, cols = img->columns;
    for (size_t k = 0; k < n; k++) {
        const struct render_layer *l = &layers[k];
        for (uint32_t r = 0; r < rows; r++) {
            for (uint32_t c = 0; c < cols; c++) {
                size_t i = (size_t)r * cols + c;
                if (!covered(l, i))
                    continue;
                uint8_t *px = img->data + 3 * i;
                if (p && p->outline && is_edge(l, rows, cols, r, c)) {
                    memcpy(px, l->rgb, 3);
                    continue;
                }
                double a = opacity * coverage(l, i);
                for (int ch = 0; ch < 3; ch++)
                    px[ch] = (uint8_t)lround((1 - a) * px[ch] + a * l->rgb[ch]);
            }
        }
    }
    return true;
}

bool render_png(const struct render_image *img, struct buf *out, struct err *e)
{
    if (!img || !img->data)
        return err_set(e, ERR_INVALID, "png: no image");
    if (img->channels == 3)
        return decoder_png_rgb(img->data, img->rows, img->columns, out, e);
    struct seg_pixels px = {.rows = img->rows, .columns = img->columns, .bits = 8,
                            .data = img->data, .len = (size_t)img->rows * img->columns};
    return decoder_png_gray(&px, out, e);
}
