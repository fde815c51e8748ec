/* decoder/png_encode: encode frames of odd sizes, decode them again with libpng's
 * classic read API (raw rows, no transforms) and compare every sample, plus the
 * IHDR bit depth and colour type. */
#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/png_encode.h"
#include "tests/unit/check.h"

/* ---- decoding ---- */

struct image {
    uint32_t width, height;
    int depth, color, channels;
    uint16_t *s; /* width*height*channels samples */
};

struct mem {
    const uint8_t *p;
    size_t n, off;
};

static void read_cb(png_structp png, png_bytep d, size_t n)
{
    struct mem *m = png_get_io_ptr(png);
    if (n > m->n - m->off)
        png_error(png, "read past end");
    memcpy(d, m->p + m->off, n);
    m->off += n;
}

static void quiet(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Unpacks raw rows: sub-byte samples MSB first, 16-bit big-endian. */
static bool decode(const uint8_t *p, size_t n, struct image *img)
{
    memset(img, 0, sizeof *img);
    struct mem m = {p, n, 0};
    uint8_t *volatile row = NULL;
    volatile bool ok = false;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info)
        goto out;
    if (setjmp(png_jmpbuf(png)))
        goto out;
    png_set_read_fn(png, &m, read_cb);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (interlace != PNG_INTERLACE_NONE)
        goto out;
    img->width = w, img->height = h, img->depth = depth, img->color = color;
    img->channels = png_get_channels(png, info);
    row = malloc(png_get_rowbytes(png, info));
    img->s = malloc((size_t)w * h * img->channels * sizeof *img->s);
    if (!row || !img->s)
        goto out;
    size_t per_row = (size_t)w * img->channels;
    for (png_uint_32 y = 0; y < h; y++) {
        png_read_row(png, row, NULL);
        uint16_t *d = img->s + y * per_row;
        for (size_t i = 0; i < per_row; i++) {
            if (depth == 16)
                d[i] = (uint16_t)(row[2 * i] << 8 | row[2 * i + 1]);
            else if (depth == 8)
                d[i] = row[i];
            else /* depth 1, 2, 4 */
                d[i] = (row[i * depth / 8] >> (8 - depth - (i * depth % 8))) & ((1u << depth) - 1);
        }
    }
    png_read_end(png, NULL);
    ok = true;
out:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    free(row);
    if (!ok) {
        free(img->s);
        img->s = NULL;
    }
    return ok;
}

/* ---- frames ---- */

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

enum fill { ZERO, RANDOM, BLOB };

/* A frame with `bits` per pixel; 16-bit values stay below 512 so that both
 * sides of the 300-entry colour table are used. Pad bits are set to garbage. */
static struct seg_pixels make_frame(uint32_t rows, uint32_t cols, uint8_t bits, enum fill f)
{
    struct seg_pixels px = {rows, cols, bits, NULL, 0};
    size_t n = (size_t)rows * cols;
    px.len = bits == 1 ? (n + 7) / 8 : n * (bits / 8);
    px.data = calloc(px.len ? px.len : 1, 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t y = (uint32_t)(i / cols), x = (uint32_t)(i % cols);
        uint32_t v = 0;
        if (f == RANDOM)
            v = next();
        else if (f == BLOB) /* a disc in the middle */
            v = (4 * (x - cols / 2.0) * (x - cols / 2.0) + 4 * (y - rows / 2.0) * (y - rows / 2.0) <
                 (double)rows * cols / 2) ? 1 + x % 200 : 0;
        if (bits == 1) {
            if (v & 1)
                px.data[i >> 3] |= (uint8_t)(1u << (i & 7));
        } else if (bits == 8) {
            px.data[i] = (uint8_t)v;
        } else {
            uint16_t w = (uint16_t)(v % 512);
            memcpy(px.data + 2 * i, &w, 2);
        }
    }
    if (bits == 1 && f == RANDOM && n % 8)
        px.data[px.len - 1] |= (uint8_t)(0xFF << (n % 8));
    return px;
}

static uint32_t value_at(const struct seg_pixels *px, size_t i)
{
    if (px->bits == 1)
        return (px->data[i >> 3] >> (i & 7)) & 1;
    if (px->bits == 8)
        return px->data[i];
    uint16_t w;
    memcpy(&w, px->data + 2 * i, 2);
    return w;
}

static uint8_t lut[300][4];

static void check_png(const struct seg_pixels *px, bool rgba, size_t lut_len, const char *what)
{
    struct buf out = {0};
    struct err e = ERR_INIT;
    buf_append(&out, "XYZ", 3, &e); /* encoders append */
    bool ok = rgba ? decoder_png_rgba(px, lut, lut_len, &out, &e) : decoder_png_gray(px, &out, &e);
    CHECK(ok && e.code == ERR_OK, "%s %ux%u bits %u: encode failed: %s", what, px->rows, px->columns,
          px->bits, e.msg);
    if (!ok) {
        buf_free(&out);
        return;
    }
    CHECK(memcmp(out.data, "XYZ", 3) == 0, "%s: prefix overwritten", what);
    struct image img;
    bool dec = decode(out.data + 3, out.len - 3, &img);
    CHECK(dec, "%s %ux%u bits %u: libpng cannot decode the output", what, px->rows, px->columns,
          px->bits);
    if (dec) {
        int want_depth = rgba ? 8 : px->bits;
        int want_color = rgba ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_GRAY;
        CHECK(img.width == px->columns && img.height == px->rows, "%s: size %ux%u, want %ux%u", what,
              img.width, img.height, px->columns, px->rows);
        CHECK(img.depth == want_depth && img.color == want_color,
              "%s bits %u: IHDR depth %d colour %d, want %d %d", what, px->bits, img.depth, img.color,
              want_depth, want_color);
        size_t n = (size_t)px->rows * px->columns, bad = 0, first = 0;
        if (img.width == px->columns && img.height == px->rows) {
            for (size_t i = 0; i < n; i++) {
                uint32_t v = value_at(px, i);
                bool same;
                if (rgba) {
                    static const uint8_t clear[4];
                    const uint8_t *c = v < lut_len ? lut[v] : clear;
                    same = img.s[4 * i] == c[0] && img.s[4 * i + 1] == c[1] &&
                           img.s[4 * i + 2] == c[2] && img.s[4 * i + 3] == c[3];
                } else {
                    same = img.s[i] == v;
                }
                if (!same && bad++ == 0)
                    first = i;
            }
        }
        CHECK(bad == 0, "%s %ux%u bits %u: %zu pixels differ, first at %zu", what, px->rows,
              px->columns, px->bits, bad, first);
        free(img.s);
    }
    buf_free(&out);
}

/* The simplified read API expands 1-bit grey to 0/255: a second decoder's view. */
static void check_simplified_1bit(void)
{
    struct seg_pixels px = make_frame(23, 38, 1, RANDOM);
    struct buf out = {0};
    struct err e = ERR_INIT;
    bool ok = decoder_png_gray(&px, &out, &e);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    ok = ok && png_image_begin_read_from_memory(&im, out.data, out.len);
    uint8_t *g = malloc(23 * 38);
    im.format = PNG_FORMAT_GRAY;
    ok = ok && g && png_image_finish_read(&im, NULL, g, 0, NULL);
    size_t bad = 0;
    for (size_t i = 0; ok && i < 23 * 38; i++)
        bad += g[i] != (value_at(&px, i) ? 255 : 0);
    CHECK(ok && bad == 0, "simplified read of 1-bit: ok %d, %zu pixels differ (%s)", ok, bad,
          im.message);
    png_image_free(&im);
    free(g);
    buf_free(&out);
    free(px.data);
}

static void check_rejects(struct seg_pixels px, enum err_code want, const char *what)
{
    struct buf out = {0};
    for (int rgba = 0; rgba < 2; rgba++) {
        struct err e = ERR_INIT;
        bool ok = rgba ? decoder_png_rgba(&px, lut, 2, &out, &e) : decoder_png_gray(&px, &out, &e);
        CHECK(!ok && e.code == want && e.msg[0], "%s (%s): ok %d code %s msg '%s'", what,
              rgba ? "rgba" : "gray", ok, err_code_name(e.code), e.msg);
        CHECK(out.len == 0, "%s: %zu bytes left in out", what, out.len);
    }
    buf_free(&out);
}

static void check_negative(void)
{
    uint8_t data[64] = {0};
    check_rejects((struct seg_pixels){0, 10, 8, data, sizeof data}, ERR_INVALID, "rows 0");
    check_rejects((struct seg_pixels){10, 0, 1, data, sizeof data}, ERR_INVALID, "columns 0");
    check_rejects((struct seg_pixels){8, 8, 8, data, 63}, ERR_INVALID, "8-bit short by one");
    check_rejects((struct seg_pixels){8, 8, 16, data, 64}, ERR_INVALID, "16-bit short");
    check_rejects((struct seg_pixels){9, 9, 1, data, 10}, ERR_INVALID, "1-bit short by one");
    check_rejects((struct seg_pixels){2, 2, 8, NULL, 4}, ERR_INVALID, "no data");
    check_rejects((struct seg_pixels){2, 2, 4, data, 4}, ERR_INVALID, "4 bits");
    check_rejects((struct seg_pixels){2000000, 1, 8, data, 64}, ERR_LIMIT, "too tall");

    struct err e = ERR_INIT;
    struct buf out = {0};
    bool ok = decoder_png_gray(NULL, &out, &e);
    CHECK(!ok && e.code == ERR_INVALID, "NULL pixels: code %s", err_code_name(e.code));

    e = (struct err)ERR_INIT;
    struct seg_pixels px = {2, 2, 8, data, 4};
    ok = decoder_png_rgba(&px, NULL, 3, &out, &e);
    CHECK(!ok && e.code == ERR_INVALID, "NULL lut: code %s", err_code_name(e.code));

    /* a limit hit inside libpng's write callback takes the longjmp path */
    struct seg_pixels big = make_frame(64, 64, 8, RANDOM);
    e = (struct err)ERR_INIT;
    out.limit = 100;
    buf_append(&out, "ab", 2, &e);
    ok = decoder_png_gray(&big, &out, &e);
    CHECK(!ok && e.code == ERR_LIMIT, "output limit: ok %d code %s msg %s", ok,
          err_code_name(e.code), e.msg);
    CHECK(out.len == 2 && memcmp(out.data, "ab", 2) == 0, "output limit: out.len %zu, want 2",
          out.len);
    buf_free(&out);
    free(big.data);
}

/* The encoder keeps blocks per thread: encodes on several threads at once
 * must give the same bytes as on one, and exiting threads must free them. */
struct thread_job {
    const struct seg_pixels *px;
    const struct buf *want;
    int bad;
};

static void *thread_main(void *arg)
{
    struct thread_job *t = arg;
    for (int i = 0; i < 40; i++) {
        struct buf out = {0};
        struct err e = ERR_INIT;
        bool ok = i % 2 ? decoder_png_gray(t->px, &out, &e) : decoder_png_rgba(t->px, lut, 2, &out, &e);
        (void)ok;
        const struct buf *want = &t->want[i % 2];
        if (out.len != want->len || memcmp(out.data, want->data, out.len) != 0)
            t->bad++;
        buf_free(&out);
    }
    return NULL;
}

static void check_threads(void)
{
    struct seg_pixels px = make_frame(510, 510, 1, BLOB);
    struct buf want[2] = {{0}, {0}};
    struct err e = ERR_INIT;
    bool ok = decoder_png_rgba(&px, lut, 2, &want[0], &e) && decoder_png_gray(&px, &want[1], &e);
    CHECK(ok, "threads: reference encode failed: %s", e.msg);
    struct thread_job jobs[4];
    pthread_t th[4];
    int started = 0;
    for (int i = 0; ok && i < 4; i++) {
        jobs[i] = (struct thread_job){&px, want, 0};
        if (pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0)
            started++;
    }
    int bad = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        bad += jobs[i].bad;
    }
    CHECK(!ok || (started == 4 && bad == 0), "threads: %d started, %d encodes differ", started, bad);
    buf_free(&want[0]);
    buf_free(&want[1]);
    free(px.data);
}

int main(void)
{
    for (int i = 0; i < 300; i++) {
        lut[i][0] = (uint8_t)(i * 7 + 1);
        lut[i][1] = (uint8_t)(i * 13 + 2);
        lut[i][2] = (uint8_t)(i * 29 + 3);
        lut[i][3] = (uint8_t)(255 - i);
    }
    static const uint32_t sizes[][2] = {{1, 1}, {38, 23}, {10, 10}, {23, 38}, {510, 510},
                                        {1, 37}, {37, 1}};
    static const uint8_t bits[] = {1, 8, 16};
    static const char *fills[] = {"zero", "random", "blob"};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t b = 0; b < sizeof bits; b++)
            for (int f = ZERO; f <= BLOB; f++) {
                struct seg_pixels px = make_frame(sizes[s][0], sizes[s][1], bits[b], f);
                check_png(&px, false, 0, fills[f]);
                /* 1-bit: both values coloured; 8-bit: values >= 100 transparent;
                 * 16-bit: values >= 300 transparent */
                check_png(&px, true, bits[b] == 1 ? 2 : bits[b] == 8 ? 100 : 300, fills[f]);
                if (bits[b] == 1)
                    check_png(&px, true, 1, "1-bit lut of one");
                free(px.data);
            }
    struct seg_pixels px = make_frame(38, 23, 8, RANDOM);
    check_png(&px, true, 0, "empty lut");
    free(px.data);
    check_simplified_1bit();
    check_threads();
    check_negative();

    return check_done();
}
