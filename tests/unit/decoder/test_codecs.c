/* Round trips for the frame codecs: synthetic frames are encoded with the real
 * libraries (zlib raw deflate, CharLS, OpenJPEG; RLE with a small PackBits
 * encoder below), decoded with decoder/codec_*.c and compared byte for byte.
 * Then broken inputs, each of which must fail with e.code set (and, under
 * ASan, without touching memory outside the exact-size buffers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <charls/charls.h>
#include <openjpeg.h>
#include <zlib.h>

#include "decoder/codec.h"
#include "decoder/j2k_image.h"
#include "tests/unit/check.h"

typedef bool (*decode_fn)(const uint8_t *, size_t, const struct codec_frame *, uint8_t *, size_t,
                          struct err *);

/* ---- growable byte vector used by the encoders ---- */

struct vec {
    uint8_t *p;
    size_t len, cap, pos;
};

static void vec_put(struct vec *v, const void *src, size_t n)
{
    if (v->pos + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->pos + n)
            cap *= 2;
        v->p = realloc(v->p, cap);
        if (!v->p)
            abort();
        v->cap = cap;
    }
    memcpy(v->p + v->pos, src, n);
    v->pos += n;
    if (v->pos > v->len)
        v->len = v->pos;
}

static void vec_byte(struct vec *v, uint8_t b)
{
    vec_put(v, &b, 1);
}

/* ---- synthetic frames ---- */

static size_t frame_bytes(const struct codec_frame *f)
{
    size_t n = (size_t)f->rows * f->columns;
    return f->bits_allocated == 1 ? (n + 7) / 8 : n * (f->bits_allocated / 8);
}

/* Runs, edges and noise, so both RLE modes and every JPEG path get used. Padding
 * bits after the last pixel of a BINARY frame are zero, as the decoders produce. */
static uint8_t *make_frame(const struct codec_frame *f)
{
    size_t n = frame_bytes(f), npix = (size_t)f->rows * f->columns;
    uint8_t *p = calloc(n ? n : 1, 1);
    uint32_t seed = 12345u + f->rows * 31u + f->columns;
    for (size_t i = 0; i < npix; i++) {
        size_t r = i / f->columns, c = i % f->columns;
        seed = seed * 1103515245u + 12345u;
        unsigned noise = (seed >> 16) & 0xFFFF;
        unsigned v = ((r / 4 + c / 5) % 3 == 0) ? 0 : (unsigned)(r * 7 + c * 3 + (noise & 7));
        if (f->bits_allocated == 1) {
            if ((r * r + c * c) % 17 < 8)
                p[i >> 3] |= (uint8_t)(1u << (i & 7));
        } else if (f->bits_allocated == 8) {
            p[i] = (uint8_t)v;
        } else {
            uint16_t w = (uint16_t)(v * 131u + (noise & 0x3FF));
            memcpy(p + 2 * i, &w, 2);
        }
    }
    return p;
}

/* ---- RLE (PackBits) encoder ---- */

static void packbits_encode(const uint8_t *src, size_t stride, size_t n, struct vec *v)
{
    size_t i = 0;
    while (i < n) {
        size_t run = 1;
        while (i + run < n && run < 128 && src[(i + run) * stride] == src[i * stride])
            run++;
        if (run >= 2) {
            vec_byte(v, (uint8_t)(int8_t)(1 - (int)run));
            vec_byte(v, src[i * stride]);
            i += run;
            continue;
        }
        size_t lit = 1;
        while (i + lit < n && lit < 128 &&
               !(i + lit + 1 < n && src[(i + lit) * stride] == src[(i + lit + 1) * stride]))
            lit++;
        vec_byte(v, (uint8_t)(lit - 1));
        for (size_t k = 0; k < lit; k++)
            vec_byte(v, src[(i + k) * stride]);
        i += lit;
    }
}

static void put_le32(uint8_t *p, uint32_t x)
{
    p[0] = (uint8_t)x, p[1] = (uint8_t)(x >> 8), p[2] = (uint8_t)(x >> 16), p[3] = (uint8_t)(x >> 24);
}

static uint8_t *rle_encode(const uint8_t *raw, const struct codec_frame *f, size_t *len)
{
    struct vec v = {0};
    uint8_t header[64] = {0};
    vec_put(&v, header, sizeof header);
    size_t n = frame_bytes(f);
    unsigned nseg = f->bits_allocated == 16 ? 2 : 1;
    put_le32(header, nseg);
    const uint16_t one = 1;
    int le = *(const uint8_t *)&one == 1;
    for (unsigned s = 0; s < nseg; s++) {
        put_le32(header + 4 + 4 * s, (uint32_t)v.len);
        if (nseg == 1)
            packbits_encode(raw, 1, n, &v);
        else /* most significant byte plane first */
            packbits_encode(raw + (s == 0 ? le : !le), 2, n / 2, &v);
        if (v.len & 1)
            vec_byte(&v, 0); /* segments are padded to even length */
    }
    memcpy(v.p, header, sizeof header);
    *len = v.len;
    return v.p;
}

/* ---- deflate encoder ---- */

static uint8_t *deflate_encode(const uint8_t *raw, size_t n, size_t *len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&z, n) + 16;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)raw;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    *len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* ---- JPEG-LS encoder ---- */

static uint8_t *jpegls_encode(const uint8_t *raw, const struct codec_frame *f, size_t *len)
{
    charls_jpegls_encoder *enc = charls_jpegls_encoder_create();
    charls_frame_info fi = {f->columns, f->rows, f->bits_allocated == 16 ? 16 : 8, 1};
    size_t cap = 0;
    if (charls_jpegls_encoder_set_frame_info(enc, &fi) ||
        charls_jpegls_encoder_get_estimated_destination_size(enc, &cap))
        abort();
    uint8_t *out = malloc(cap);
    if (charls_jpegls_encoder_set_destination_buffer(enc, out, cap) ||
        charls_jpegls_encoder_encode_from_buffer(enc, raw, frame_bytes(f), 0) ||
        charls_jpegls_encoder_get_bytes_written(enc, len))
        abort();
    charls_jpegls_encoder_destroy(enc);
    return out;
}

/* ---- JPEG 2000 encoder (OpenJPEG into memory) ---- */

static OPJ_SIZE_T vec_write(void *src, OPJ_SIZE_T n, void *user)
{
    vec_put(user, src, n);
    return n;
}

static OPJ_OFF_T vec_skip(OPJ_OFF_T n, void *user)
{
    struct vec *v = user;
    v->pos += (size_t)n;
    return n;
}

static OPJ_BOOL vec_seek(OPJ_OFF_T n, void *user)
{
    struct vec *v = user;
    v->pos = (size_t)n;
    return OPJ_TRUE;
}

static void opj_quiet(const char *msg, void *user)
{
    (void)msg, (void)user;
}

/* Lossless, one component; prec 1 for BINARY (pixels 0/1), else 8 or 16. */
static uint8_t *j2k_encode(const uint8_t *raw, const struct codec_frame *f, bool jp2, size_t *len)
{
    size_t npix = (size_t)f->rows * f->columns;
    unsigned prec = f->bits_allocated;
    opj_image_cmptparm_t cp = {0};
    cp.dx = cp.dy = 1;
    cp.w = f->columns;
    cp.h = f->rows;
    cp.prec = prec;
    opj_image_t *img = opj_image_create(1, &cp, OPJ_CLRSPC_GRAY);
    img->x1 = f->columns;
    img->y1 = f->rows;
    for (size_t i = 0; i < npix; i++) {
        if (prec == 1) {
            img->comps[0].data[i] = (raw[i >> 3] >> (i & 7)) & 1;
        } else if (prec == 8) {
            img->comps[0].data[i] = raw[i];
        } else {
            uint16_t w;
            memcpy(&w, raw + 2 * i, 2);
            img->comps[0].data[i] = w;
        }
    }
    opj_cparameters_t p;
    opj_set_default_encoder_parameters(&p);
    p.tcp_numlayers = 1;
    p.tcp_rates[0] = 0; /* lossless */
    p.cp_disto_alloc = 1;
    unsigned min = f->rows < f->columns ? f->rows : f->columns;
    int res = 1;
    while (res < 6 && (1u << res) <= min)
        res++;
    p.numresolution = res;

    opj_codec_t *codec = opj_create_compress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_set_info_handler(codec, opj_quiet, NULL);
    opj_set_warning_handler(codec, opj_quiet, NULL);
    if (!opj_setup_encoder(codec, &p, img))
        abort();
    struct vec v = {0};
    opj_stream_t *st = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE);
    opj_stream_set_write_function(st, vec_write);
    opj_stream_set_skip_function(st, vec_skip);
    opj_stream_set_seek_function(st, vec_seek);
    opj_stream_set_user_data(st, &v, NULL);
    if (!opj_start_compress(codec, img, st) || !opj_encode(codec, st) ||
        !opj_end_compress(codec, st))
        abort();
    opj_stream_destroy(st);
    opj_destroy_codec(codec);
    opj_image_destroy(img);
    *len = v.len;
    return v.p;
}

/* ---- helpers ---- */

/* Decodes into an exact-size heap buffer so ASan sees any overrun. */
static bool run(decode_fn fn, const uint8_t *in, size_t in_len, const struct codec_frame *f,
                const uint8_t *want, struct err *e)
{
    size_t n = frame_bytes(f);
    uint8_t *out = malloc(n ? n : 1);
    /* Copy the input too, so reads past in_len are caught. */
    uint8_t *copy = malloc(in_len ? in_len : 1);
    memcpy(copy, in, in_len);
    bool ok = fn(copy, in_len, f, out, n, e);
    if (ok && want && memcmp(out, want, n) != 0) {
        snprintf(e->msg, sizeof e->msg, "decoded bytes differ");
        ok = false;
    }
    free(copy);
    free(out);
    return ok;
}

static void expect_ok(const char *what, decode_fn fn, const uint8_t *in, size_t in_len,
                      const struct codec_frame *f, const uint8_t *want)
{
    struct err e = ERR_INIT;
    bool ok = run(fn, in, in_len, f, want, &e);
    CHECK(ok, "%s %ux%u bits %u: %s", what, f->columns, f->rows, f->bits_allocated, e.msg);
}

static void expect_fail(const char *what, decode_fn fn, const uint8_t *in, size_t in_len,
                        const struct codec_frame *f, enum err_code code)
{
    struct err e = ERR_INIT;
    bool ok = run(fn, in, in_len, f, NULL, &e);
    CHECK(!ok && e.code != ERR_OK && (code == ERR_OK || e.code == code),
          "%s: ok=%d code=%s msg=%s", what, ok, err_code_name(e.code), e.msg);
    if (getenv("TEST_VERBOSE"))
        printf("  %s -> %s: %s\n", what, err_code_name(e.code), e.msg);
}

/* ---- tests ---- */

static const struct codec_frame sizes[] = {
    {23, 38, 1},   {10, 10, 1},  {510, 510, 1}, {1, 1, 1},  {7, 3, 1},
    {23, 38, 8},   {10, 10, 8},  {510, 510, 8}, {1, 1, 8},
    {23, 38, 16},  {10, 10, 16}, {510, 510, 16},
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void round_trips(void)
{
    for (size_t k = 0; k < NSIZES; k++) {
        const struct codec_frame *f = &sizes[k];
        uint8_t *raw = make_frame(f);
        size_t n = frame_bytes(f), len;
        uint8_t *enc;

        enc = rle_encode(raw, f, &len);
        expect_ok("rle", codec_rle_decode, enc, len, f, raw);
        free(enc);

        enc = deflate_encode(raw, n, &len);
        expect_ok("deflate", codec_deflate_decode, enc, len, f, raw);
        /* DICOM pads fragments to even length: a trailing byte must not matter. */
        uint8_t *padded = malloc(len + 1);
        memcpy(padded, enc, len);
        padded[len] = 0;
        expect_ok("deflate+pad", codec_deflate_decode, padded, len + 1, f, raw);
        free(padded);
        free(enc);

        if (f->bits_allocated != 1) {
            enc = jpegls_encode(raw, f, &len);
            expect_ok("jpegls", codec_jpegls_decode, enc, len, f, raw);
            uint8_t *pad = calloc(len + 1, 1); /* even-length fragment padding */
            memcpy(pad, enc, len);
            expect_ok("jpegls+pad", codec_jpegls_decode, pad, len + 1, f, raw);
            free(pad);
            free(enc);
        }

        enc = j2k_encode(raw, f, false, &len);
        expect_ok("j2k", codec_j2k_decode, enc, len, f, raw);
        free(enc);
        enc = j2k_encode(raw, f, true, &len);
        expect_ok("jp2", codec_j2k_decode, enc, len, f, raw);
        free(enc);

        free(raw);
    }

    /* BINARY frame carried as an 8-bit 0/255 JPEG 2000 image: nonzero means 1. */
    struct codec_frame f1 = {23, 38, 1}, f8 = {23, 38, 8};
    uint8_t *bits = make_frame(&f1), *bytes = malloc(frame_bytes(&f8));
    for (size_t i = 0; i < frame_bytes(&f8); i++)
        bytes[i] = (bits[i >> 3] >> (i & 7)) & 1 ? 255 : 0;
    size_t len;
    uint8_t *enc = j2k_encode(bytes, &f8, false, &len);
    expect_ok("j2k 8-bit 0/255 as binary", codec_j2k_decode, enc, len, &f1, bits);
    free(enc);
    free(bytes);
    free(bits);
}

static void rle_negative(void)
{
    struct codec_frame f = {23, 38, 8};
    uint8_t *raw = make_frame(&f);
    size_t len;
    uint8_t *enc = rle_encode(raw, &f, &len);

    expect_fail("rle truncated", codec_rle_decode, enc, len / 2, &f, ERR_INVALID);
    expect_fail("rle header only", codec_rle_decode, enc, 64, &f, ERR_INVALID);
    expect_fail("rle short header", codec_rle_decode, enc, 40, &f, ERR_INVALID);
    expect_fail("rle empty", codec_rle_decode, enc, 0, &f, ERR_INVALID);

    uint8_t *bad = malloc(len);
    memcpy(bad, enc, len);
    put_le32(bad, 3); /* segment count */
    expect_fail("rle corrupt header", codec_rle_decode, bad, len, &f, ERR_INVALID);
    memcpy(bad, enc, len);
    put_le32(bad + 4, (uint32_t)len + 100); /* offset past the end */
    expect_fail("rle offset past end", codec_rle_decode, bad, len, &f, ERR_INVALID);
    memcpy(bad, enc, len);
    put_le32(bad + 4, 0xFFFFFFF0u);
    expect_fail("rle huge offset", codec_rle_decode, bad, len, &f, ERR_INVALID);
    memcpy(bad, enc, len);
    put_le32(bad + 4, 8); /* inside the header */
    expect_fail("rle offset in header", codec_rle_decode, bad, len, &f, ERR_INVALID);
    free(bad);

    /* Replicate runs that would overshoot the frame must stop at out_len. */
    struct codec_frame small = {3, 3, 8};
    uint8_t over[64 + 8] = {0};
    put_le32(over, 1);
    put_le32(over + 4, 64);
    for (int i = 0; i < 4; i++)
        over[64 + 2 * i] = 0x81, over[64 + 2 * i + 1] = 7; /* 128 x 7, four times */
    uint8_t sevens[9];
    memset(sevens, 7, sizeof sevens);
    expect_ok("rle overlong segment", codec_rle_decode, over, sizeof over, &small, sevens);
    /* Literal run whose count points past the segment. */
    uint8_t lit[64 + 3] = {0};
    put_le32(lit, 1);
    put_le32(lit + 4, 64);
    lit[64] = 100, lit[65] = 1, lit[66] = 2;
    expect_fail("rle literal past end", codec_rle_decode, lit, sizeof lit, &small, ERR_INVALID);

    /* 16-bit: second segment missing bytes. */
    struct codec_frame f16 = {10, 10, 16};
    uint8_t *raw16 = make_frame(&f16);
    uint8_t *enc16 = rle_encode(raw16, &f16, &len);
    expect_fail("rle16 truncated", codec_rle_decode, enc16, len - 20, &f16, ERR_INVALID);
    free(enc16);
    free(raw16);

    /* Output size that does not match the frame. */
    struct err e = ERR_INIT;
    uint8_t out[10];
    bool ok = codec_rle_decode(enc, len, &f, out, sizeof out, &e);
    CHECK(!ok && e.code == ERR_INVALID, "rle wrong out_len: %s", e.msg);

    free(enc);
    free(raw);
}

static void deflate_negative(void)
{
    struct codec_frame f = {23, 38, 8};
    uint8_t *raw = make_frame(&f);
    size_t n = frame_bytes(&f), len;
    uint8_t *enc = deflate_encode(raw, n, &len);
    expect_fail("deflate truncated", codec_deflate_decode, enc, len / 2, &f, ERR_INVALID);
    expect_fail("deflate empty", codec_deflate_decode, enc, 0, &f, ERR_INVALID);
    uint8_t garbage[64];
    memset(garbage, 0xFF, sizeof garbage);
    expect_fail("deflate corrupt", codec_deflate_decode, garbage, sizeof garbage, &f, ERR_INVALID);
    free(enc);

    /* A frame-sized buffer followed by 10 MB more zeros: a small bomb. */
    size_t big = 10u << 20;
    uint8_t *zeros = calloc(big, 1);
    enc = deflate_encode(zeros, big, &len);
    expect_fail("deflate bomb", codec_deflate_decode, enc, len, &f, ERR_LIMIT);
    free(enc);
    /* One byte too many is still too many. */
    enc = deflate_encode(zeros, n + 1, &len);
    expect_fail("deflate one extra byte", codec_deflate_decode, enc, len, &f, ERR_LIMIT);
    free(enc);
    free(zeros);
    free(raw);
}

static void jpegls_negative(void)
{
    struct codec_frame f = {23, 38, 8};
    uint8_t *raw = make_frame(&f);
    size_t len;
    uint8_t *enc = jpegls_encode(raw, &f, &len);
    expect_fail("jpegls truncated", codec_jpegls_decode, enc, len / 2, &f, ERR_INVALID);
    expect_fail("jpegls header only", codec_jpegls_decode, enc, 30, &f, ERR_INVALID);
    /* Cut scan with EOI put back: gets past our EOI check into CharLS itself. */
    uint8_t *cut = malloc(len / 2 + 2);
    memcpy(cut, enc, len / 2);
    cut[len / 2] = 0xFF, cut[len / 2 + 1] = 0xD9;
    expect_fail("jpegls cut scan + EOI", codec_jpegls_decode, cut, len / 2 + 2, &f, ERR_INVALID);
    free(cut);
    uint8_t *bad = malloc(len);
    memcpy(bad, enc, len);
    bad[0] = 0x00; /* no SOI */
    expect_fail("jpegls corrupt header", codec_jpegls_decode, bad, len, &f, ERR_INVALID);
    free(bad);

    struct codec_frame other = {10, 10, 8};
    expect_fail("jpegls smaller frame", codec_jpegls_decode, enc, len, &other, ERR_LIMIT);
    struct codec_frame swapped = {38, 23, 8};
    expect_fail("jpegls swapped dims", codec_jpegls_decode, enc, len, &swapped, ERR_INVALID);
    struct codec_frame bigger = {510, 510, 8};
    expect_fail("jpegls bigger frame", codec_jpegls_decode, enc, len, &bigger, ERR_INVALID);
    struct codec_frame wide = {23, 38, 16};
    expect_fail("jpegls 8-bit stream, 16-bit frame", codec_jpegls_decode, enc, len, &wide,
                ERR_INVALID);
    struct codec_frame binary = {23, 38, 1};
    expect_fail("jpegls binary", codec_jpegls_decode, enc, len, &binary, ERR_UNSUPPORTED);
    free(enc);
    free(raw);
}

static void j2k_negative(void)
{
    struct codec_frame f = {23, 38, 8};
    uint8_t *raw = make_frame(&f);
    size_t len;
    uint8_t *enc = j2k_encode(raw, &f, false, &len);
    expect_fail("j2k truncated", codec_j2k_decode, enc, len / 2, &f, ERR_INVALID);
    expect_fail("j2k signature only", codec_j2k_decode, enc, 4, &f, ERR_INVALID);
    expect_fail("j2k empty", codec_j2k_decode, enc, 0, &f, ERR_INVALID);
    uint8_t *bad = malloc(len);
    memcpy(bad, enc, len);
    bad[1] = 0x00; /* no SOC */
    expect_fail("j2k no signature", codec_j2k_decode, bad, len, &f, ERR_INVALID);
    memcpy(bad, enc, len);
    memset(bad + 4, 0xAB, 20); /* SIZ body (Lsiz, Rsiz, dimensions) scrambled */
    expect_fail("j2k corrupt header", codec_j2k_decode, bad, len, &f, ERR_OK);
    memcpy(bad, enc, len);
    /* SIZ: FF51, Lsiz(2), Rsiz(2), Xsiz(4) at byte 8, Ysiz(4) at byte 12. Claim 60000x60000. */
    bad[8] = 0x00, bad[9] = 0x00, bad[10] = 0xEA, bad[11] = 0x60;
    bad[12] = 0x00, bad[13] = 0x00, bad[14] = 0xEA, bad[15] = 0x60;
    /* XTsiz, YTsiz at bytes 24 and 28: one 60000x60000 tile, so the header is valid. */
    bad[24] = 0x00, bad[25] = 0x00, bad[26] = 0xEA, bad[27] = 0x60;
    bad[28] = 0x00, bad[29] = 0x00, bad[30] = 0xEA, bad[31] = 0x60;
    expect_fail("j2k huge claimed size", codec_j2k_decode, bad, len, &f, ERR_LIMIT);
    free(bad);

    struct codec_frame other = {10, 10, 8};
    expect_fail("j2k smaller frame", codec_j2k_decode, enc, len, &other, ERR_LIMIT);
    struct codec_frame bigger = {510, 510, 8};
    expect_fail("j2k bigger frame", codec_j2k_decode, enc, len, &bigger, ERR_INVALID);
    free(enc);

    enc = j2k_encode(raw, &f, true, &len);
    expect_fail("jp2 truncated", codec_j2k_decode, enc, len / 2, &f, ERR_INVALID);
    expect_fail("jp2 smaller frame", codec_j2k_decode, enc, len, &other, ERR_LIMIT);
    free(enc);

    /* 16-bit stream into an 8-bit frame. */
    struct codec_frame f16 = {23, 38, 16};
    uint8_t *raw16 = make_frame(&f16);
    enc = j2k_encode(raw16, &f16, false, &len);
    expect_fail("j2k 16-bit stream, 8-bit frame", codec_j2k_decode, enc, len, &f, ERR_INVALID);
    free(enc);
    free(raw16);
    free(raw);
}

/* Flipped bytes in valid streams: any result is fine as long as nothing
 * crashes or touches memory it should not (ASan), and failures carry a code. */
static void mutations(void)
{
    struct codec_frame f8 = {23, 38, 8}, f1 = {23, 38, 1};
    uint8_t *raw8 = make_frame(&f8), *raw1 = make_frame(&f1);
    struct {
        uint8_t *enc;
        size_t len;
    } cases[5];
    cases[0].enc = rle_encode(raw8, &f8, &cases[0].len);
    cases[1].enc = deflate_encode(raw8, frame_bytes(&f8), &cases[1].len);
    cases[2].enc = jpegls_encode(raw8, &f8, &cases[2].len);
    cases[3].enc = j2k_encode(raw8, &f8, false, &cases[3].len);
    cases[4].enc = j2k_encode(raw1, &f1, true, &cases[4].len);
    const char *names[] = {"rle", "deflate", "jpegls", "j2k", "jp2"};
    decode_fn fns[] = {codec_rle_decode, codec_deflate_decode, codec_jpegls_decode,
                       codec_j2k_decode, codec_j2k_decode};
    const struct codec_frame *fs[] = {&f8, &f8, &f8, &f8, &f1};
    uint32_t seed = 7;
    for (int c = 0; c < 5; c++) {
        int bad = 0;
        uint8_t *m = malloc(cases[c].len);
        for (int it = 0; it < 300; it++) {
            memcpy(m, cases[c].enc, cases[c].len);
            for (int k = 0; k < 1 + it % 4; k++) {
                seed = seed * 1103515245u + 12345u;
                m[(seed >> 8) % cases[c].len] ^= (uint8_t)(1u << ((seed >> 4) & 7));
            }
            seed = seed * 1103515245u + 12345u;
            size_t len = it % 5 == 0 ? (seed >> 8) % cases[c].len : cases[c].len;
            struct err e = ERR_INIT;
            if (!run(fns[c], m, len, fs[c], NULL, &e) && e.code == ERR_OK)
                bad++;
        }
        if (getenv("TEST_VERBOSE"))
            printf("  %s mutations done\n", names[c]);
        CHECK(bad == 0, "%s mutations: %d failures without an error code", names[c], bad);
        free(m);
        free(cases[c].enc);
    }
    free(raw8);
    free(raw1);
}

/* decoder_j2k_image_decode (a whole source image, for render/) on the same encoder's
 * output: 8- and 16-bit grey, J2K and JP2, give back the samples encoded; one pixel
 * over the limit is ERR_LIMIT; bytes that are no JPEG 2000 are ERR_INVALID. */
static void j2k_whole_image(void)
{
    static const struct codec_frame fs[] = {{23, 38, 8}, {10, 10, 16}};
    for (size_t t = 0; t < sizeof fs / sizeof *fs; t++) {
        const struct codec_frame *f = &fs[t];
        uint8_t *raw = make_frame(f);
        for (int jp2 = 0; jp2 < 2; jp2++) {
            size_t len;
            uint8_t *enc = j2k_encode(raw, f, jp2, &len);
            struct decoder_j2k_image img;
            struct err e = ERR_INIT;
            bool ok = decoder_j2k_image_decode(enc, len, 1u << 20, &img, &e);
            CHECK(ok && img.width == f->columns && img.height == f->rows && img.comps == 1 &&
                      img.bytes == f->bits_allocated / 8u && img.len == frame_bytes(f) &&
                      !memcmp(img.data, raw, img.len),
                  "j2k image %ux%u %u-bit jp2=%d: %s", f->columns, f->rows, f->bits_allocated, jp2, e.msg);
            free(img.data);
            e = (struct err)ERR_INIT;
            ok = decoder_j2k_image_decode(enc, len, (uint64_t)f->rows * f->columns - 1, &img, &e);
            CHECK(!ok && e.code == ERR_LIMIT && !img.data, "j2k image over the pixel limit: %s", e.msg);
            free(enc);
        }
        free(raw);
    }
    static const uint8_t junk[64] = {0xFF, 0x4F, 0xFF, 0x51, 1, 2, 3};
    struct decoder_j2k_image img;
    struct err e = ERR_INIT;
    bool ok = decoder_j2k_image_decode(junk, sizeof junk, 1u << 20, &img, &e);
    CHECK(!ok && e.code == ERR_INVALID && !img.data, "j2k image of junk: %s", e.msg);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines interleave with sanitizer output */
    round_trips();
    printf("round trips: %d passed, %d failed\n", check_passed, check_failed);
    int p0 = check_passed, f0 = check_failed;
    rle_negative();
    deflate_negative();
    jpegls_negative();
    j2k_negative();
    j2k_whole_image();
    mutations();
    printf("negative cases: %d passed, %d failed\n", check_passed - p0, check_failed - f0);
    return check_done();
}
