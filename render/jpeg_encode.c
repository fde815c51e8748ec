/* In-memory baseline JPEG with libjpeg(-turbo). libjpeg reports errors by
 * longjmp from its error_exit callback; setjmp stays in this file. Everything
 * the error path touches is acquired before setjmp and not modified after it
 * except through pointers, so no local needs to be volatile. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "render/render.h"

struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
};

static void error_exit(j_common_ptr cinfo)
{
    struct jerr *je = (struct jerr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, je->msg);
    longjmp(je->jump, 1);
}

static void output_message(j_common_ptr cinfo) { (void)cinfo; }

static bool compress(const struct render_image *img, int q, struct buf *out, struct err *e);

bool render_jpeg(const struct render_image *img, int quality, struct buf *out, struct err *e)
{
    return compress(img, quality < 1 || quality > 100 ? 90 : quality, out, e);
}

static bool compress(const struct render_image *img, const int q, struct buf *out, struct err *e)
{
    if (!img || !img->data || !img->rows || !img->columns)
        return err_set(e, ERR_INVALID, "jpeg: no image");
    if (img->rows > JPEG_MAX_DIMENSION || img->columns > JPEG_MAX_DIMENSION)
        return err_set(e, ERR_LIMIT, "jpeg: %ux%u is too large", img->rows, img->columns);
    struct jpeg_compress_struct cinfo;
    struct jerr je;
    memset(&je, 0, sizeof je);
    unsigned char *mem = NULL;
    unsigned long mem_len = 0;
    bool ok = false;
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = error_exit;
    je.mgr.output_message = output_message;
    jpeg_create_compress(&cinfo);
    if (setjmp(je.jump)) {
        err_set(e, ERR_INTERNAL, "jpeg: %s", je.msg);
        goto out;
    }
    jpeg_mem_dest(&cinfo, &mem, &mem_len);
    cinfo.image_width = img->columns;
    cinfo.image_height = img->rows;
    cinfo.input_components = img->channels;
    cinfo.in_color_space = img->channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, q, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)img->columns * img->channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(img->data + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    ok = buf_append(out, mem, mem_len, e);
out:
    jpeg_destroy_compress(&cinfo);
    free(mem);
    return ok;
}
