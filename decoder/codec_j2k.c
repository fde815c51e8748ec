/* JPEG 2000 through OpenJPEG, reading from memory: the one OpenJPEG reader
 * (j2k_read) behind both a SEG frame (codec_j2k_decode, decoder/codec.h) and a
 * whole source image for render/ (decoder_j2k_image_decode, decoder/j2k_image.h).
 * Both a raw codestream (starts with SOC+SIZ, FF 4F FF 51) and the JP2 box format
 * are accepted. The main header is read first and checked by the caller (the
 * frame we expect, or a pixel limit), so a codestream claiming a huge image is
 * refused before OpenJPEG allocates tiles for it. Library code must not print:
 * OpenJPEG's info and warning messages are dropped, and its first error is kept
 * and quoted in ours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openjpeg.h>

#include "decoder/codec.h"
#include "decoder/j2k_image.h"

#define WHY_LEN 200 /* first OpenJPEG error, quoted in ours */

struct memstream {
    const uint8_t *ptr;
    size_t len, pos;
};

static OPJ_SIZE_T mem_read(void *dst, OPJ_SIZE_T n, void *user)
{
    struct memstream *m = user;
    size_t left = m->len - m->pos;
    if (left == 0)
        return (OPJ_SIZE_T)-1; /* OpenJPEG's end-of-stream signal */
    if (n > left)
        n = left;
    memcpy(dst, m->ptr + m->pos, n);
    m->pos += n;
    return n;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    struct memstream *m = user;
    /* Clamp to the buffer; report how far we really moved, -1 if nowhere. */
    OPJ_OFF_T target = (OPJ_OFF_T)m->pos + n;
    if (target < 0)
        target = 0;
    if ((uint64_t)target > m->len)
        target = (OPJ_OFF_T)m->len;
    OPJ_OFF_T moved = target - (OPJ_OFF_T)m->pos;
    if (moved == 0 && n != 0)
        return -1;
    m->pos = (size_t)target;
    return moved;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user)
{
    struct memstream *m = user;
    if (n < 0 || (uint64_t)n > m->len)
        return OPJ_FALSE;
    m->pos = (size_t)n;
    return OPJ_TRUE;
}

static void quiet(const char *msg, void *user)
{
    (void)msg;
    (void)user;
}

/* Keeps the first error: OpenJPEG follows the specific one with generic ones. */
static void keep_error(const char *msg, void *user)
{
    char *why = user;
    if (why[0])
        return;
    snprintf(why, WHY_LEN, "%s", msg);
    size_t n = strlen(why);
    while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == '\r'))
        why[--n] = '\0';
}

static const uint8_t jp2_signature[12] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50,
                                          0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};
static const uint8_t j2k_signature[4] = {0xFF, 0x4F, 0xFF, 0x51};

static OPJ_INT32 clamp(OPJ_INT32 v, OPJ_INT32 max)
{
    return v < 0 ? 0 : v > max ? max : v;
}

/* A decompressor for format whose messages go to why (first error kept). NULL with e set. */
static opj_codec_t *codec_open(OPJ_CODEC_FORMAT format, char *why, struct err *e)
{
    opj_codec_t *codec = opj_create_decompress(format);
    if (!codec) {
        err_set(e, ERR_NOMEM, "jpeg2000: cannot create decoder");
        return NULL;
    }
    opj_set_info_handler(codec, quiet, NULL);
    opj_set_warning_handler(codec, quiet, NULL);
    opj_set_error_handler(codec, keep_error, why);

    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec, &params)) {
        err_set(e, ERR_INTERNAL, "jpeg2000: cannot set up decoder: %s", why);
        opj_destroy_codec(codec);
        return NULL;
    }
    return codec;
}

/* A read stream over mem. NULL with e set. */
static opj_stream_t *stream_open(struct memstream *mem, struct err *e)
{
    opj_stream_t *st = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
    if (!st) {
        err_set(e, ERR_NOMEM, "jpeg2000: cannot create stream");
        return NULL;
    }
    opj_stream_set_read_function(st, mem_read);
    opj_stream_set_skip_function(st, mem_skip);
    opj_stream_set_seek_function(st, mem_seek);
    opj_stream_set_user_data(st, mem, NULL);
    opj_stream_set_user_data_length(st, mem->len);
    return st;
}

/* The main header against the frame we expect: its size, one unsigned
 * component, not subsampled, at most the allocated bits. */
static bool header_matches(const opj_image_t *img, const void *arg, struct err *e)
{
    const struct codec_frame *f = arg;
    uint64_t npix = (uint64_t)f->rows * f->columns;
    uint64_t w = (uint64_t)img->x1 - img->x0, h = (uint64_t)img->y1 - img->y0;
    if (img->x1 < img->x0 || img->y1 < img->y0 || w != f->columns || h != f->rows) {
        /* More pixels than expected is a limit (possible bomb); anything else is a bad frame. */
        bool larger = img->x1 >= img->x0 && img->y1 >= img->y0 && w * h > npix;
        return err_set(e, larger ? ERR_LIMIT : ERR_INVALID,
                       "jpeg2000: stream is %llux%llu, frame is %ux%u (columns x rows)",
                       (unsigned long long)w, (unsigned long long)h, f->columns, f->rows);
    }
    if (img->numcomps != 1)
        return err_set(e, ERR_INVALID, "jpeg2000: stream has %u components, expected 1", img->numcomps);
    const opj_image_comp_t *c = &img->comps[0];
    if (c->dx != 1 || c->dy != 1)
        return err_set(e, ERR_INVALID, "jpeg2000: component is subsampled %ux%u", c->dx, c->dy);
    if (c->sgnd)
        return err_set(e, ERR_UNSUPPORTED, "jpeg2000: signed samples not supported");
    unsigned max_prec = f->bits_allocated == 16 ? 16 : 8;
    if (c->prec < 1 || c->prec > max_prec)
        return err_set(e, ERR_INVALID, "jpeg2000: stream has %u-bit samples, frame has %u allocated",
                       c->prec, (unsigned)f->bits_allocated);
    return true;
}

/* Decoded samples to native frame bytes (bit-packed, 8 or 16 bits, clamped). */
static void unpack(const OPJ_INT32 *s, const struct codec_frame *f, uint8_t *out, size_t out_len)
{
    uint64_t npix = (uint64_t)f->rows * f->columns;
    if (f->bits_allocated == 1) {
        memset(out, 0, out_len);
        for (uint64_t i = 0; i < npix; i++)
            if (s[i] != 0)
                out[i >> 3] |= (uint8_t)(1u << (i & 7));
    } else if (f->bits_allocated == 8) {
        for (uint64_t i = 0; i < npix; i++)
            out[i] = (uint8_t)clamp(s[i], 0xFF);
    } else {
        for (uint64_t i = 0; i < npix; i++) {
            uint16_t v = (uint16_t)clamp(s[i], 0xFFFF);
            memcpy(out + 2 * i, &v, 2);
        }
    }
}

/* in[0..n) read by OpenJPEG: the main header first, passed to check (with arg),
 * then the whole image. New image (opj_image_destroy) or NULL with e set. */
static opj_image_t *j2k_read(const uint8_t *in, size_t n,
                             bool (*check)(const opj_image_t *, const void *, struct err *),
                             const void *arg, struct err *e)
{
    OPJ_CODEC_FORMAT format;
    if (n >= sizeof j2k_signature && memcmp(in, j2k_signature, sizeof j2k_signature) == 0)
        format = OPJ_CODEC_J2K;
    else if (n >= sizeof jp2_signature && memcmp(in, jp2_signature, sizeof jp2_signature) == 0)
        format = OPJ_CODEC_JP2;
    else {
        err_set(e, ERR_INVALID, "jpeg2000: neither a J2K codestream nor a JP2 file");
        return NULL;
    }

    bool ok = false;
    char why[WHY_LEN] = "";
    struct memstream mem = {in, n, 0};
    opj_image_t *img = NULL;
    opj_stream_t *st = NULL;
    opj_codec_t *codec = codec_open(format, why, e);
    if (!codec || !(st = stream_open(&mem, e)))
        goto out;
    if (!opj_read_header(st, codec, &img) || !img) {
        err_set(e, ERR_INVALID, "jpeg2000: bad header: %s", why[0] ? why : "unreadable");
        goto out;
    }
    if (!check(img, arg, e))
        goto out;
    if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st)) {
        err_set(e, ERR_INVALID, "jpeg2000: decode failed: %s", why[0] ? why : "corrupt data");
        goto out;
    }
    ok = true;
out:
    if (!ok && img) {
        opj_image_destroy(img);
        img = NULL;
    }
    if (st)
        opj_stream_destroy(st);
    if (codec)
        opj_destroy_codec(codec);
    return img;
}

bool codec_j2k_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                      uint8_t *out, size_t out_len, struct err *e)
{
    if (!codec_check_output(f, out_len, "jpeg2000", e))
        return false;
    opj_image_t *img = j2k_read(in, in_len, header_matches, f, e);
    if (!img)
        return false;
    bool ok = false;
    const opj_image_comp_t *c = &img->comps[0];
    if (!c->data || c->w != f->columns || c->h != f->rows) {
        err_set(e, ERR_INVALID, "jpeg2000: decoded component is %ux%u, frame is %ux%u", c->w, c->h,
                f->columns, f->rows);
        goto out;
    }
    unpack(c->data, f, out, out_len);
    ok = true;
out:
    opj_image_destroy(img);
    return ok;
}

/* ---- a whole source image (decoder/j2k_image.h) ---- */

/* The image's size against the caller's pixel limit (*arg, uint64_t). */
static bool header_within(const opj_image_t *img, const void *arg, struct err *e)
{
    uint64_t max_pixels = *(const uint64_t *)arg;
    uint32_t w = img->x1 - img->x0, h = img->y1 - img->y0;
    if (img->x1 < img->x0 || img->y1 < img->y0 || !w || !h || (uint64_t)w * h > max_pixels)
        return err_set(e, ERR_LIMIT, "jpeg2000: image of %ux%u", w, h);
    return true;
}

/* The decoded components' precision (the largest), or 0 with e set when they
 * cannot be interleaved (count, sub-sampling, depth). */
static uint32_t image_precision(const opj_image_t *img, struct err *e)
{
    uint32_t w = img->x1 - img->x0, h = img->y1 - img->y0;
    if (img->numcomps != 1 && img->numcomps != 3) {
        err_set(e, ERR_UNSUPPORTED, "jpeg2000: image with %u components", img->numcomps);
        return 0;
    }
    uint32_t prec = 0;
    for (uint32_t c = 0; c < img->numcomps; c++) {
        const opj_image_comp_t *cp = &img->comps[c];
        if (cp->w != w || cp->h != h || !cp->data) {
            err_set(e, ERR_UNSUPPORTED, "jpeg2000: image with sub-sampled components");
            return 0;
        }
        if (cp->prec > prec)
            prec = cp->prec;
    }
    if (prec < 1 || prec > 16 || (img->numcomps == 3 && prec > 8)) {
        err_set(e, ERR_UNSUPPORTED, "jpeg2000: image with %u-bit samples", prec);
        return 0;
    }
    return prec;
}

bool decoder_j2k_image_decode(const uint8_t *in, size_t n, uint64_t max_pixels,
                              struct decoder_j2k_image *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    opj_image_t *img = j2k_read(in, n, header_within, &max_pixels, e);
    if (!img)
        return false;
    bool ok = false;
    uint32_t prec = image_precision(img, e);
    if (!prec)
        goto out;
    out->width = img->x1 - img->x0;
    out->height = img->y1 - img->y0;
    out->comps = img->numcomps;
    out->bytes = prec > 8 ? 2 : 1;
    out->len = (size_t)out->width * out->height * out->comps * out->bytes;
    out->data = malloc(out->len);
    if (!out->data) {
        err_set(e, ERR_NOMEM, "jpeg2000: out of memory for a %ux%u image", out->width, out->height);
        goto out;
    }
    size_t npix = (size_t)out->width * out->height;
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
    opj_image_destroy(img);
    return ok;
}
