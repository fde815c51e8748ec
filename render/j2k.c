/* JPEG 2000 frames of source images with OpenJPEG (render/j2k.h). */
#include "render/j2k.h"

#include <openjpeg.h>
#include <stdlib.h>
#include <string.h>

struct mem {
    const uint8_t *p;
    size_t n, off;
};

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T len, void *user)
{
    struct mem *m = user;
    if (m->off >= m->n)
        return (OPJ_SIZE_T)-1;
    size_t k = m->n - m->off < len ? m->n - m->off : len;
    memcpy(buf, m->p + m->off, k);
    m->off += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T k, void *user)
{
    struct mem *m = user;
    if (k < 0 || (size_t)k > m->n - m->off)
        k = (OPJ_OFF_T)(m->n - m->off);
    m->off += (size_t)k;
    return k;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T k, void *user)
{
    struct mem *m = user;
    if (k < 0 || (size_t)k > m->n)
        return OPJ_FALSE;
    m->off = (size_t)k;
    return OPJ_TRUE;
}

static void quiet(const char *msg, void *user) { (void)msg, (void)user; }

bool render_j2k_decode(const uint8_t *in, size_t n, uint64_t max_pixels, struct render_j2k *out,
                       struct err *e)
{
    memset(out, 0, sizeof *out);
    if (n < 12)
        return err_set(e, ERR_INVALID, "JPEG 2000 frame of %zu bytes", n);
    static const uint8_t jp2_sig[] = {0, 0, 0, 12, 'j', 'P', ' ', ' '};
    OPJ_CODEC_FORMAT fmt = !memcmp(in, jp2_sig, sizeof jp2_sig) ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K;
    opj_codec_t *codec = opj_create_decompress(fmt);
    opj_stream_t *st = opj_stream_default_create(OPJ_TRUE);
    opj_image_t *img = NULL;
    struct mem m = {in, n, 0};
    bool ok = false;
    if (!codec || !st) {
        err_set(e, ERR_NOMEM, "out of memory for the JPEG 2000 decoder");
        goto out;
    }
    opj_set_info_handler(codec, quiet, NULL);
    opj_set_warning_handler(codec, quiet, NULL);
    opj_set_error_handler(codec, quiet, NULL);
    opj_stream_set_user_data(st, &m, NULL);
    opj_stream_set_user_data_length(st, n);
    opj_stream_set_read_function(st, mem_read);
    opj_stream_set_skip_function(st, mem_skip);
    opj_stream_set_seek_function(st, mem_seek);
    opj_dparameters_t par;
    opj_set_default_decoder_parameters(&par);
    if (!opj_setup_decoder(codec, &par) || !opj_read_header(st, codec, &img) || !img) {
        err_set(e, ERR_INVALID, "JPEG 2000: unreadable header");
        goto out;
    }
    uint32_t w = img->x1 - img->x0, h = img->y1 - img->y0;
    if (!w || !h || (uint64_t)w * h > max_pixels) {
        err_set(e, ERR_LIMIT, "JPEG 2000 image of %ux%u", w, h);
        goto out;
    }
    if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st)) {
        err_set(e, ERR_INVALID, "JPEG 2000: corrupt codestream");
        goto out;
    }
    if (img->numcomps != 1 && img->numcomps != 3) {
        err_set(e, ERR_UNSUPPORTED, "JPEG 2000 with %u components", img->numcomps);
        goto out;
    }
    uint32_t prec = 0;
    for (uint32_t c = 0; c < img->numcomps; c++) {
        opj_image_comp_t *cp = &img->comps[c];
        if (cp->w != w || cp->h != h || !cp->data) {
            err_set(e, ERR_UNSUPPORTED, "JPEG 2000 with sub-sampled components");
            goto out;
        }
        if (cp->prec > prec)
            prec = cp->prec;
    }
    if (prec < 1 || prec > 16 || (img->numcomps == 3 && prec > 8)) {
        err_set(e, ERR_UNSUPPORTED, "JPEG 2000 with %u-bit samples", prec);
        goto out;
    }
    out->width = w;
    out->height = h;
    out->comps = img->numcomps;
    out->bytes = prec > 8 ? 2 : 1;
    out->len = (size_t)w * h * out->comps * out->bytes;
    out->data = malloc(out->len);
    if (!out->data) {
        err_set(e, ERR_NOMEM, "out of memory for a %ux%u image", w, h);
        goto out;
    }
    size_t npix = (size_t)w * h;
    for (uint32_t c = 0; c < out->comps; c++) {
        const OPJ_INT32 *s = img->comps[c].data;
        if (out->bytes == 1) {
            uint8_t *d = (uint8_t *)out->data + c;
            for (size_t i = 0; i < npix; i++)
                d[i * out->comps] = (uint8_t)s[i];
        } else {
            uint16_t *d = (uint16_t *)out->data + c; /* signed values keep their bit pattern */
            for (size_t i = 0; i < npix; i++)
                d[i * out->comps] = (uint16_t)s[i];
        }
    }
    ok = true;
out:
    if (img)
        opj_image_destroy(img);
    if (st)
        opj_stream_destroy(st);
    if (codec)
        opj_destroy_codec(codec);
    if (!ok) {
        free(out->data);
        out->data = NULL;
    }
    return ok;
}
