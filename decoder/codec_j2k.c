/* JPEG 2000 through OpenJPEG, reading from memory. Both a raw codestream
 * (starts with SOC+SIZ, FF 4F FF 51) and the JP2 box format are accepted.
 * The main header is read first and compared to the frame we expect, so a
 * codestream claiming a huge image is refused before OpenJPEG allocates tiles
 * for it. Library code must not print: OpenJPEG's info and warning messages
 * are dropped, and its first error is kept and quoted in ours. */
#include <stdio.h>
#include <string.h>

#include <openjpeg.h>

#include "decoder/codec.h"

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
static bool header_matches(const opj_image_t *img, const struct codec_frame *f, struct err *e)
{
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

bool codec_j2k_decode(const uint8_t *in, size_t in_len, const struct codec_frame *f,
                      uint8_t *out, size_t out_len, struct err *e)
{
    if (!codec_check_output(f, out_len, "jpeg2000", e))
        return false;

    OPJ_CODEC_FORMAT format;
    if (in_len >= sizeof j2k_signature && memcmp(in, j2k_signature, sizeof j2k_signature) == 0)
        format = OPJ_CODEC_J2K;
    else if (in_len >= sizeof jp2_signature && memcmp(in, jp2_signature, sizeof jp2_signature) == 0)
        format = OPJ_CODEC_JP2;
    else
        return err_set(e, ERR_INVALID, "jpeg2000: neither a J2K codestream nor a JP2 file");

    bool ok = false;
    char why[WHY_LEN] = "";
    struct memstream mem = {in, in_len, 0};
    opj_image_t *img = NULL;
    opj_stream_t *st = NULL;
    opj_codec_t *codec = codec_open(format, why, e);
    if (!codec || !(st = stream_open(&mem, e)))
        goto out;
    if (!opj_read_header(st, codec, &img) || !img) {
        err_set(e, ERR_INVALID, "jpeg2000: bad header: %s", why[0] ? why : "unreadable");
        goto out;
    }
    if (!header_matches(img, f, e))
        goto out;
    if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st)) {
        err_set(e, ERR_INVALID, "jpeg2000: decode failed: %s", why[0] ? why : "corrupt data");
        goto out;
    }
    const opj_image_comp_t *c = &img->comps[0];
    if (!c->data || c->w != f->columns || c->h != f->rows) {
        err_set(e, ERR_INVALID, "jpeg2000: decoded component is %ux%u, frame is %ux%u", c->w, c->h,
                f->columns, f->rows);
        goto out;
    }
    unpack(c->data, f, out, out_len);
    ok = true;
out:
    if (img)
        opj_image_destroy(img);
    if (st)
        opj_stream_destroy(st);
    if (codec)
        opj_destroy_codec(codec);
    return ok;
}
