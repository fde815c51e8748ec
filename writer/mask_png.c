/* PNG masks (POST .../segmentations): one greyscale PNG per source image, named
 * by the image's SOP Instance UID; pixel values are labelIDs (1-bit PNGs: 0/1,
 * values kept as stored, never scaled). The masks form a label source like a
 * volume whose slices are matched to images by UID instead of position.
 *
 * libpng reports errors by longjmp: everything is acquired before setjmp() and
 * the error path reads only what was set before it (the setjmp stays in this
 * file, as DESIGN.md asks). Sizes are checked against the limits before the
 * pixel buffer is allocated (fuzz: tests/fuzz/fuzz_writer_inputs.c). */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "writer/internal.h"

/* Heap-allocated, so what the longjmp path frees is not an automatic variable
 * modified after setjmp(). */
struct reader {
    const uint8_t *p;
    size_t n, off;
    char msg[200];
    uint16_t *vals;
    png_bytep row;
};

static void on_error(png_structp png, png_const_charp msg)
{
    struct reader *r = png_get_error_ptr(png);
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

static void on_read(png_structp png, png_bytep out, png_size_t n)
{
    struct reader *r = png_get_io_ptr(png);
    if (n > r->n - r->off)
        png_error(png, "truncated PNG");
    memcpy(out, r->p + r->off, n);
    r->off += n;
}

/* Decodes one PNG into *out (rows * cols uint16 values, malloc'd). */
static bool decode(const uint8_t *data, size_t len, const char *name, uint64_t max_pixels, uint16_t **out,
                   uint32_t *rows, uint32_t *cols, struct err *e)
{
    if (len < 8 || png_sig_cmp(data, 0, 8))
        return err_set(e, ERR_PARSE, "mask %s: not a PNG", name);
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_NOMEM, "no memory");
    r->p = data, r->n = len;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        free(r);
        return err_set(e, ERR_NOMEM, "no memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(r->vals);
        free(r->row);
        *out = NULL;
        err_set(e, ERR_PARSE, "mask %s: %s", name, r->msg[0] ? r->msg : "bad PNG");
        free(r);
        return false;
    }
    png_set_read_fn(png, r, on_read);
    png_set_user_limits(png, 65535, 65535);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    if (ctype != PNG_COLOR_TYPE_GRAY)
        png_error(png, "not a greyscale PNG (colour type must be 0)");
    if ((uint64_t)w * h > max_pixels)
        png_error(png, "too many pixels");
    if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE)
        png_error(png, "interlaced PNGs are not read");
    if (depth < 8)
        png_set_packing(png); /* 1/2/4-bit values into bytes, unscaled */
    if (depth == 16)
        png_set_swap(png);    /* little-endian 16-bit */
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    size_t bpp = depth == 16 ? 2 : 1;
    if (rowbytes != (size_t)w * bpp)
        png_error(png, "unexpected row size");
    /* every allocation below is freed by the longjmp path through the pointers above */
    r->vals = malloc((size_t)w * h * sizeof *r->vals);
    r->row = malloc(rowbytes);
    if (!r->vals || !r->row)
        png_error(png, "no memory");
    for (png_uint_32 y = 0; y < h; y++) {
        png_read_row(png, r->row, NULL);
        for (png_uint_32 x = 0; x < w; x++)
            r->vals[(size_t)y * w + x] = bpp == 2 ? (uint16_t)(r->row[2 * x] | r->row[2 * x + 1] << 8) : r->row[x];
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    *out = r->vals;
    free(r->row);
    free(r);
    *rows = h;
    *cols = w;
    return true;
}

struct writer_labels *writer_labels_from_masks(const struct writer_mask *masks, size_t n, const char *name,
                                               const struct writer_limits *lim, struct err *e)
{
    uint64_t max_px = lim && lim->max_pixels ? lim->max_pixels : (1ull << 31);
    if (n == 0 || n > 65535) {
        err_set(e, ERR_INVALID, "%s: %zu masks", name, n);
        return NULL;
    }
    struct writer_labels *l = calloc(1, sizeof *l);
    if (!l || !(l->mask_uids = calloc(n, sizeof *l->mask_uids)) || !(l->mask_vals = calloc(n, sizeof *l->mask_vals))) {
        writer_labels_free(l);
        err_set(e, ERR_NOMEM, "no memory");
        return NULL;
    }
    snprintf(l->name, sizeof l->name, "%s", name);
    l->n_masks = n;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t rows, cols;
        if (!masks[i].sop_uid || !*masks[i].sop_uid || strlen(masks[i].sop_uid) > 64) {
            err_set(e, ERR_INVALID, "%s: mask %zu is not named by a SOP Instance UID", name, i + 1);
            goto fail;
        }
        if (!(l->mask_uids[i] = strdup(masks[i].sop_uid))) {
            err_set(e, ERR_NOMEM, "no memory");
            goto fail;
        }
        if (!decode(masks[i].png, masks[i].len, masks[i].sop_uid, max_px - total, &l->mask_vals[i], &rows, &cols, e))
            goto fail;
        total += (uint64_t)rows * cols;
        if (i == 0) {
            l->dim[0] = cols;
            l->dim[1] = rows;
        } else if (rows != l->dim[1] || cols != l->dim[0]) {
            err_set(e, ERR_INVALID, "%s: mask %s is %u x %u, the first %u x %u", name, masks[i].sop_uid, rows, cols,
                    l->dim[1], l->dim[0]);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(l->mask_uids[j], l->mask_uids[i])) {
                err_set(e, ERR_INVALID, "%s: two masks for %s", name, l->mask_uids[i]);
                goto fail;
            }
    }
    l->dim[2] = (uint32_t)n;
    l->dtype = LD_U16;
    l->bpv = 2;
    return l;
fail:
    writer_labels_free(l);
    return NULL;
}
