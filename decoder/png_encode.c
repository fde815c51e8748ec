/* In-memory PNG encoding of one frame with libpng.
 *
 * TUNING, measured by bench/png_settings.c (full table and command in
 * bench/PNG_SETTINGS.md): 512x512 frames, median us of thread CPU per frame /
 * PNG bytes, libpng 1.6.39, zlib 1.2.13, 2-core VM, -O2. "def" = libpng's
 * strategy choice (Z_FILTERED when filtering, else Z_DEFAULT_STRATEGY).
 *
 *                        1-bit liver  RGBA of it    8-bit fract.  RGBA of it   1-bit zeros
 *   L1 NONE def             90/1330   1552/6733      704/20819   2497/45914     50/224
 *   L1 NONE RLE             61/1088   2315/43014     745/30088   7378/328429    48/111
 *   L1 SUB  RLE             91/2172   2040/4317      755/18594   3303/35188     73/717
 *   L1 UP   RLE             83/1567   2165/4426      789/17822   2779/31811     74/718
 *   L1 ALL  def            225/1656   7190/6877     2252/16950   6916/32542    229/224
 *   L6 ALL  def            375/1186   8810/2579     4714/13390  12397/19987    291/111
 *   L9 NONE def           1621/865    4750/1914     4495/16118  60172/25325    105/111
 *   10x10 tiles: 4-10 us and 80-140 bytes whatever the settings.
 *
 * Chosen: level 1, filter NONE everywhere; Z_RLE for 1-bit rows, the default
 * strategy for 8/16-bit grey and RGBA. Encode time rules (10,000 frames/s on 2
 * cores leaves ~200 us of CPU per frame for everything): adaptive filtering
 * costs 3-4x for a smaller file, levels above 1 buy little, and RLE without a
 * filter cannot see 4-byte RGBA runs (43 KB instead of 6.7 KB). Measured as
 * compiled: 1-bit 59 us, 8-bit 681 us, RGBA 1.5-2.4 ms, tiles 4-5 us.
 * So 512x512 1-bit grey meets the target; 8-bit and RGBA at 512x512 do not with
 * zlib at any setting: deflate sees 256 KB / 1 MB of raw rows. A palette PNG
 * (PLTE+tRNS, same RGBA when decoded) would take RGBA of a 1-bit frame to
 * 64 us / 1.1 KB (8-bit: 677 us / 22 KB); the header's words allow it, but
 * the brief and test_png_encode.c ask for colour type RGBA, so it is not done.
 *
 * Compression buffer 64 KB: one IDAT for nearly every frame (8 KB measured the
 * same). The per-thread block cache below halves the time of a 1-bit frame
 * (122 -> 48 us for zeros, 106 -> 59 us for the liver) by not page-faulting
 * zlib's ~330 KB of state in on every call.
 *
 * Error handling: libpng reports errors by longjmp. All resources are acquired
 * before setjmp() and nothing the error path reads is modified after it, so no
 * local needs to be volatile; the error callback records the message in the
 * caller's struct err and partial output is cut off again. */
#include "decoder/png_encode.h"

#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct tuning {
    int level;        /* zlib level */
    int strategy;     /* zlib strategy for 8- and 16-bit rows (grey and RGBA); -1: libpng's */
    int strategy_low; /* ... for 1-bit rows */
    int filters;      /* PNG_FILTER_* mask for 8- and 16-bit rows */
    int filters_low;  /* ... for 1-bit rows */
    size_t zbuf;      /* libpng compression buffer = IDAT chunk size */
    bool cache;       /* keep libpng's and zlib's large blocks per thread */
};

/* bench/png_settings.c includes this file with PNG_ENCODE_TUNING defined as
 * `static` so it can vary the settings while measuring this very code. */
#ifndef PNG_ENCODE_TUNING
#define PNG_ENCODE_TUNING static const
#endif
PNG_ENCODE_TUNING struct tuning tuning = {
    .level = 1,
    .strategy = Z_DEFAULT_STRATEGY,
    .strategy_low = Z_RLE,
    .filters = PNG_FILTER_NONE,
    .filters_low = PNG_FILTER_NONE,
    .zbuf = 64 * 1024,
    .cache = true,
};

/* Row buffers up to this size live on the stack (covers RGBA rows of 2048). */
#define STACK_ROW 9216

enum mode { GRAY1, GRAY8, GRAY16, RGB8, RGBA1, RGBA8, RGBA16 };

struct sink {
    struct buf *out;
    struct err *e;
};

struct job {
    const struct seg_pixels *px;
    enum mode mode;
    const uint8_t (*lut)[4];
    size_t lut_len;
    uint8_t tab[256][4]; /* lut clamped to the value range, RGBA1/RGBA8 */
    uint8_t *row;        /* the row handed to libpng */
    uint8_t *bits;       /* RGBA1: the row's bits, LSB first */
};

/* PNG packs sub-byte samples MSB first, SEG packs them LSB first. */
static const uint8_t reverse[256] = {
#define R2(n) n, n + 2 * 64, n + 1 * 64, n + 3 * 64
#define R4(n) R2(n), R2(n + 2 * 16), R2(n + 1 * 16), R2(n + 3 * 16)
#define R6(n) R4(n), R4(n + 2 * 4), R4(n + 1 * 4), R4(n + 3 * 4)
    R6(0), R6(2), R6(1), R6(3)
#undef R6
#undef R4
#undef R2
};

/* Block cache. libpng and zlib allocate about 330 KB per encoder (deflate
 * window, hash chains, pending buffer, compression buffer) and free it at the
 * end of each call; glibc then often returns it to the kernel and the next call
 * page-faults it in again, which cost more than deflate itself for a 1-bit
 * frame (bench/PNG_SETTINGS.md). So each thread keeps the large blocks of its
 * last encoders, at most CACHE_SLOTS of at most CACHE_MAX bytes; they are
 * freed when the thread exits. */
#define CACHE_SLOTS 8
#define CACHE_MIN 4096
#define CACHE_MAX (1u << 20)

struct block {
    size_t size;
    max_align_t align[]; /* the caller's bytes */
};

struct block_cache {
    struct block *b[CACHE_SLOTS];
    unsigned next; /* round-robin victim when full */
    bool registered;
};

static _Thread_local struct block_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_drop(void *p)
{
    struct block_cache *c = p;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(c->b[i]);
        c->b[i] = NULL;
    }
    c->registered = false; /* a later encode on this thread registers again */
}

static void cache_init(void) { (void)pthread_key_create(&cache_key, cache_drop); }

static png_voidp alloc_cb(png_structp png, png_alloc_size_t size)
{
    (void)png;
    if (tuning.cache && size >= CACHE_MIN && size <= CACHE_MAX) {
        for (int i = 0; i < CACHE_SLOTS; i++) {
            struct block *b = cache.b[i];
            if (b && b->size == size) {
                cache.b[i] = NULL;
                return b->align;
            }
        }
    }
    if (size > SIZE_MAX - sizeof(struct block))
        return NULL;
    struct block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->size = size;
    return b->align;
}

static void free_cb(png_structp png, png_voidp p)
{
    (void)png;
    if (!p)
        return;
    struct block *b = (struct block *)((char *)p - offsetof(struct block, align));
    if (!tuning.cache || b->size < CACHE_MIN || b->size > CACHE_MAX) {
        free(b);
        return;
    }
    if (!cache.registered) {
        /* the key's destructor frees this thread's blocks when it exits */
        pthread_once(&cache_once, cache_init);
        cache.registered = pthread_setspecific(cache_key, &cache) == 0;
        if (!cache.registered) {
            free(b);
            return;
        }
    }
    int slot = -1;
    for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
        if (!cache.b[i])
            slot = i;
    if (slot < 0) {
        slot = (int)(cache.next++ % CACHE_SLOTS);
        free(cache.b[slot]);
    }
    cache.b[slot] = b;
}

static void write_cb(png_structp png, png_bytep p, size_t n)
{
    struct sink *s = png_get_io_ptr(png);
    if (!buf_append(s->out, p, n, s->e))
        png_error(png, "cannot grow output"); /* e already says why */
}

static void flush_cb(png_structp png) { (void)png; }

static void error_cb(png_structp png, png_const_charp msg)
{
    struct sink *s = png_get_error_ptr(png);
    enum err_code code = strstr(msg, "memory") ? ERR_NOMEM : ERR_INTERNAL;
    err_set(s->e, code, "png: %s", msg);
    png_longjmp(png, 1);
}

static void warning_cb(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static bool host_big_endian(void)
{
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 0;
}

/* Returns the bytes of PNG row r: a pointer into the frame when no conversion
 * is needed, otherwise j->row filled in. */
static const uint8_t *make_row(struct job *j, uint32_t r)
{
    const struct seg_pixels *px = j->px;
    size_t cols = px->columns;
    uint8_t *row = j->row;

    switch (j->mode) {
    case GRAY1: {
        size_t n = (cols + 7) / 8;
        decoder_bits_extract(px->data, (uint64_t)r * cols, cols, row);
        size_t i = 0;
        for (; i + 8 <= n; i += 8) { /* 8 bytes at a time: ~2x the table's speed */
            uint64_t x;
            memcpy(&x, row + i, 8);
            x = (x >> 1 & 0x5555555555555555u) | (x & 0x5555555555555555u) << 1;
            x = (x >> 2 & 0x3333333333333333u) | (x & 0x3333333333333333u) << 2;
            x = (x >> 4 & 0x0F0F0F0F0F0F0F0Fu) | (x & 0x0F0F0F0F0F0F0F0Fu) << 4;
            memcpy(row + i, &x, 8);
        }
        for (; i < n; i++)
            row[i] = reverse[row[i]];
        return row;
    }
    case GRAY8:
        return px->data + (size_t)r * cols;
    case RGB8:
        return px->data + (size_t)r * cols * 3;
    case GRAY16: {
        const uint8_t *s = px->data + (size_t)r * cols * 2;
        if (host_big_endian())
            return s;
        for (size_t i = 0; i < cols; i++) {
            row[2 * i] = s[2 * i + 1];
            row[2 * i + 1] = s[2 * i];
        }
        return row;
    }
    case RGBA1: {
        decoder_bits_extract(px->data, (uint64_t)r * cols, cols, j->bits);
        for (size_t i = 0; i < cols; i++)
            memcpy(row + 4 * i, j->tab[(j->bits[i >> 3] >> (i & 7)) & 1], 4);
        return row;
    }
    case RGBA8: {
        const uint8_t *s = px->data + (size_t)r * cols;
        for (size_t i = 0; i < cols; i++)
            memcpy(row + 4 * i, j->tab[s[i]], 4);
        return row;
    }
    case RGBA16: {
        static const uint8_t clear[4];
        const uint8_t *s = px->data + (size_t)r * cols * 2;
        for (size_t i = 0; i < cols; i++) {
            uint16_t v;
            memcpy(&v, s + 2 * i, 2);
            memcpy(row + 4 * i, v < j->lut_len ? j->lut[v] : clear, 4);
        }
        return row;
    }
    }
    return row;
}

static bool check(const struct seg_pixels *px, struct err *e)
{
    if (!px)
        return err_set(e, ERR_INVALID, "png: no pixels");
    if (px->rows == 0 || px->columns == 0)
        return err_set(e, ERR_INVALID, "png: empty frame (%ux%u)", px->rows, px->columns);
    if (px->rows > PNG_USER_HEIGHT_MAX || px->columns > PNG_USER_WIDTH_MAX)
        return err_set(e, ERR_LIMIT, "png: frame of %ux%u is too large", px->rows, px->columns);
    if (px->bits != 1 && px->bits != 8 && px->bits != 16)
        return err_set(e, ERR_INVALID, "png: %u bits per pixel not supported", px->bits);
    uint64_t npix = (uint64_t)px->rows * px->columns;
    uint64_t need = px->bits == 1 ? (npix + 7) / 8 : npix * (px->bits / 8);
    if (!px->data || px->len < need)
        return err_set(e, ERR_INVALID, "png: frame data has %zu bytes, %ux%u at %u bits needs %llu",
                       px->data ? px->len : 0, px->rows, px->columns, px->bits,
                       (unsigned long long)need);
    return true;
}

static bool encode(struct job *j, struct buf *out, struct err *e)
{
    const struct seg_pixels *px = j->px;
    size_t cols = px->columns;
    size_t start = out->len;
    bool rgba = j->mode >= RGBA1;

    bool rgb = j->mode == RGB8;
    size_t row_len = rgba ? cols * 4 : rgb ? cols * 3 : j->mode == GRAY16 ? cols * 2 : (cols + 7) / 8;
    size_t need = row_len + (j->mode == RGBA1 ? (cols + 7) / 8 : 0);
    uint8_t stack[STACK_ROW];
    uint8_t *heap = NULL;
    if (need > sizeof stack) {
        heap = malloc(need);
        if (!heap)
            return err_set(e, ERR_NOMEM, "png: no memory for a row of %zu bytes", need);
    }
    j->row = heap ? heap : stack;
    j->bits = j->row + row_len;

    struct sink sink = {out, e};
    bool ok = false;
    png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &sink, error_cb, warning_cb,
                                                NULL, alloc_cb, free_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        err_set(e, ERR_NOMEM, "png: cannot create encoder");
        goto out;
    }
    if (setjmp(png_jmpbuf(png))) {
        out->len = start; /* drop the partial PNG */
        goto out;
    }

    png_set_write_fn(png, &sink, write_cb, flush_cb);
    int depth = rgba || rgb ? 8 : px->bits;
    int color = rgba ? PNG_COLOR_TYPE_RGBA : rgb ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY;
    png_set_IHDR(png, info, px->columns, px->rows, depth, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, tuning.level);
    int strategy = depth < 8 ? tuning.strategy_low : tuning.strategy;
    if (strategy >= 0)
        png_set_compression_strategy(png, strategy);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, depth < 8 ? tuning.filters_low : tuning.filters);
    png_set_compression_buffer_size(png, tuning.zbuf);
    png_write_info(png, info);
    for (uint32_t r = 0; r < px->rows; r++)
        png_write_row(png, make_row(j, r));
    png_write_end(png, NULL); /* no tIME or text chunks */
    ok = true;
out:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    free(heap);
    return ok;
}

bool decoder_png_gray(const struct seg_pixels *px, struct buf *out, struct err *e)
{
    if (!check(px, e))
        return false;
    struct job j = {.px = px, .mode = px->bits == 1 ? GRAY1 : px->bits == 8 ? GRAY8 : GRAY16};
    return encode(&j, out, e);
}

bool decoder_png_rgba(const struct seg_pixels *px, const uint8_t (*lut)[4], size_t lut_len,
                      struct buf *out, struct err *e)
{
    if (!check(px, e))
        return false;
    if (!lut && lut_len)
        return err_set(e, ERR_INVALID, "png: no colour table");
    struct job j = {.px = px, .lut = lut, .lut_len = lut_len,
                    .mode = px->bits == 1 ? RGBA1 : px->bits == 8 ? RGBA8 : RGBA16};
    if (j.mode != RGBA16) {
        /* tab is zeroed: values past the lut stay transparent */
        size_t n = lut_len < 256 ? lut_len : 256;
        if (n)
            memcpy(j.tab, lut, n * 4);
    }
    return encode(&j, out, e);
}

bool decoder_png_rgb(const uint8_t *rgb, uint32_t rows, uint32_t columns, struct buf *out,
                     struct err *e)
{
    /* check() with an 8-bit frame three times as wide: same byte count, same bounds */
    struct seg_pixels px = {.rows = rows, .columns = columns, .bits = 8, .data = (uint8_t *)rgb,
                            .len = (size_t)rows * columns * 3};
    if (columns > PNG_USER_WIDTH_MAX / 3)
        return err_set(e, ERR_LIMIT, "png: frame of %ux%u is too large", rows, columns);
    if (!check(&px, e))
        return false;
    struct job j = {.px = &px, .mode = RGB8};
    return encode(&j, out, e);
}
