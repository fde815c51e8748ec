/* Chooses zlib level, strategy and PNG row filters for decoder/png_encode.c by
 * measurement. Not part of ctest. Includes the encoder itself (with its tuning
 * made writable) so the numbers are for the production code path.
 *
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -I. bench/png_settings.c decoder/frame_bits.c \
 *       common/buf.c common/err.c $(pkg-config --cflags --libs libpng zlib) -lm \
 *       -o /tmp/png_settings && /tmp/png_settings
 *
 * Prints, per setting and frame kind, the median encode time of one frame
 * (thread CPU time, fresh output buffer each call, as the server does) and the
 * PNG size. Run it on an otherwise idle machine; medians absorb the rest. */
#define PNG_ENCODE_TUNING static
#include "decoder/png_encode.c"

#include <math.h>
#include <stdio.h>
#include <time.h>

#define BUDGET_NS 120000000LL /* per measurement */
#define MAX_SAMPLES 4001
#define MIN_SAMPLES 7

struct kase {
    const char *name;
    struct seg_pixels px;
    bool rgba;
    const uint8_t (*lut)[4];
    size_t lut_len;
};

static uint8_t lut_bin[2][4] = {{0, 0, 0, 0}, {221, 130, 101, 255}};
static uint8_t lut_frac[256][4];

static long long now_ns(void)
{
    struct timespec t;
    /* CPU time of this thread: the machine is shared, wall time is not ours */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* A liver-like region on a 512x512 axial slice: an irregular ellipse with a
 * vessel hole, plus a separate small lobe. Returns a soft "inside" measure in
 * [0,1] with an edge about `soft` pixels wide (0: hard edge). */
static double liver(double x, double y, double soft)
{
    double best = 0;
    static const double blobs[][4] = {{185, 250, 120, 90}, {300, 175, 28, 20}};
    for (int b = 0; b < 2; b++) {
        double dx = (x - blobs[b][0]) / blobs[b][2], dy = (y - blobs[b][1]) / blobs[b][3];
        double th = atan2(dy, dx), rho = sqrt(dx * dx + dy * dy);
        double edge = 1 + 0.08 * sin(3 * th) + 0.05 * cos(5 * th + 1);
        double d = (rho - edge) * (blobs[b][2] + blobs[b][3]) / 2; /* ~pixels outside */
        double v = soft > 0 ? 1 / (1 + exp(d / soft)) : d < 0;
        if (v > best)
            best = v;
    }
    double hx = x - 170, hy = y - 240; /* a vessel */
    double hd = sqrt(hx * hx + hy * hy) - 9;
    double hole = soft > 0 ? 1 / (1 + exp(-hd / soft)) : hd > 0;
    return best * hole;
}

static struct seg_pixels frame(uint32_t rows, uint32_t cols, uint8_t bits)
{
    struct seg_pixels px = {rows, cols, bits, NULL, 0};
    size_t n = (size_t)rows * cols;
    px.len = bits == 1 ? (n + 7) / 8 : n * (bits / 8);
    px.data = calloc(px.len, 1);
    return px;
}

static void set_bit(struct seg_pixels *px, size_t i)
{
    px->data[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* The median CPU time of one(k) over at least MIN_SAMPLES calls and BUDGET_NS
 * (MAX_SAMPLES at most); *size is the PNG size of the last call. */
static long long median_ns(long long (*one)(const struct kase *, size_t *), const struct kase *k,
                           size_t *size)
{
    static long long t[MAX_SAMPLES];
    int n = 0;
    long long start = now_ns();
    do
        t[n++] = one(k, size);
    while (n < MAX_SAMPLES && (n < MIN_SAMPLES || now_ns() - start < BUDGET_NS));
    qsort(t, n, sizeof *t, cmp_ll);
    return t[n / 2];
}

/* One frame through the production encoder: its time; *size the PNG's. */
static long long encode_once(const struct kase *k, size_t *size)
{
    struct buf out = {0};
    struct err e = ERR_INIT;
    long long t0 = now_ns();
    bool ok = k->rgba ? decoder_png_rgba(&k->px, k->lut, k->lut_len, &out, &e)
                      : decoder_png_gray(&k->px, &out, &e);
    long long t = now_ns() - t0;
    if (!ok) {
        fprintf(stderr, "%s: %s\n", k->name, e.msg);
        exit(1);
    }
    *size = out.len;
    buf_free(&out);
    return t;
}

static long long measure(const struct kase *k, size_t *size)
{
    return median_ns(encode_once, k, size);
}

/* The same frame as a palette PNG (PLTE + tRNS), which decodes to the same RGBA:
 * the alternative for decoder_png_rgba that the header does not allow today. */
static long long palette_once(const struct kase *k, size_t *size)
{
    struct seg_pixels px = k->px;
    struct buf out = {0};
    struct err e = ERR_INIT;
    long long t0 = now_ns();
    struct sink sink = {&out, &e};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, error_cb, warning_cb);
    png_infop info = png_create_info_struct(png);
    uint8_t row[512];
    if (setjmp(png_jmpbuf(png)))
        exit(1);
    png_set_write_fn(png, &sink, write_cb, flush_cb);
    int np = px.bits == 1 ? 2 : 256;
    png_set_IHDR(png, info, px.columns, px.rows, px.bits, PNG_COLOR_TYPE_PALETTE,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color pal[256];
    png_byte trns[256];
    for (int i = 0; i < np; i++) {
        pal[i] = (png_color){k->lut[i][0], k->lut[i][1], k->lut[i][2]};
        trns[i] = k->lut[i][3];
    }
    png_set_PLTE(png, info, pal, np);
    png_set_tRNS(png, info, trns, np, NULL);
    png_set_compression_level(png, tuning.level);
    int st = px.bits == 1 ? tuning.strategy_low : tuning.strategy;
    if (st >= 0)
        png_set_compression_strategy(png, st);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    png_set_compression_buffer_size(png, tuning.zbuf);
    png_write_info(png, info);
    for (uint32_t r = 0; r < px.rows; r++) {
        if (px.bits == 1) {
            decoder_bits_extract(px.data, (uint64_t)r * px.columns, px.columns, row);
            for (size_t i = 0; i < (px.columns + 7) / 8u; i++)
                row[i] = reverse[row[i]];
            png_write_row(png, row);
        } else {
            png_write_row(png, px.data + (size_t)r * px.columns);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    long long t = now_ns() - t0;
    *size = out.len;
    buf_free(&out);
    return t;
}

struct setting {
    const char *name;
    int strategy, filters;
};

int main(void)
{
    /* frames */
    struct seg_pixels bin = frame(512, 512, 1), frac = frame(512, 512, 8);
    struct seg_pixels zero = frame(512, 512, 1), tile = frame(10, 10, 1);
    size_t ones = 0;
    for (uint32_t y = 0; y < 512; y++)
        for (uint32_t x = 0; x < 512; x++) {
            size_t i = (size_t)y * 512 + x;
            if (liver(x, y, 0) > 0.5) {
                set_bit(&bin, i);
                ones++;
            }
            /* a model's probability map: soft edge, mild low-frequency texture */
            double p = liver(x, y, 1.5) * (0.93 + 0.07 * sin(x / 17.0) * cos(y / 23.0));
            frac.data[i] = (uint8_t)lround(255 * p);
        }
    for (uint32_t y = 0; y < 10; y++) /* the corner of a dot in a slide tile */
        for (uint32_t x = 0; x < 10; x++)
            if ((x + 3) * (x + 3) + (y + 2) * (y + 2) < 90)
                set_bit(&tile, (size_t)y * 10 + x);
    for (int v = 0; v < 256; v++)
        memcpy(lut_frac[v], (uint8_t[4]){221, 130, 101, (uint8_t)v}, 4);

    const struct kase cases[] = {
        {"liver1", bin, false, NULL, 0},
        {"liver1 rgba", bin, true, (const uint8_t(*)[4])lut_bin, 2},
        {"frac8", frac, false, NULL, 0},
        {"frac8 rgba", frac, true, (const uint8_t(*)[4])lut_frac, 256},
        {"tile10", tile, false, NULL, 0},
        {"tile10 rgba", tile, true, (const uint8_t(*)[4])lut_bin, 2},
        {"zero1", zero, false, NULL, 0},
        {"zero1 rgba", zero, true, (const uint8_t(*)[4])lut_bin, 2},
    };
    enum { NCASES = sizeof cases / sizeof *cases };
    static const struct setting settings[] = {
        {"NONE   default", -1, PNG_FILTER_NONE},
        {"NONE   RLE    ", Z_RLE, PNG_FILTER_NONE},
        {"SUB    default", -1, PNG_FILTER_SUB},
        {"SUB    RLE    ", Z_RLE, PNG_FILTER_SUB},
        {"UP     default", -1, PNG_FILTER_UP},
        {"UP     RLE    ", Z_RLE, PNG_FILTER_UP},
        {"ALL    default", -1, PNG_ALL_FILTERS},
        {"ALL    RLE    ", Z_RLE, PNG_ALL_FILTERS},
    };
    static const int levels[] = {1, 3, 6, 9};

    const struct tuning chosen = tuning;

    /* First, while the heap is still small: the per-thread block cache. */
    printf("block cache, fresh heap (settings as compiled), median us:\n");
    for (int on = 0; on < 2; on++) {
        tuning.cache = on;
        size_t size;
        printf("  cache %-3s  zero1 %6.1f", on ? "on" : "off", measure(&cases[6], &size) / 1000.0);
        printf("  liver1 %6.1f\n", measure(&cases[0], &size) / 1000.0);
    }
    tuning.cache = true;
    for (int c = 0; c < NCASES; c++) { /* warm up */
        size_t size;
        measure(&cases[c], &size);
    }

    printf("\nlibpng %s, zlib %s; liver1 has %zu of 262144 pixels set\n", png_get_libpng_ver(NULL),
           zlibVersion(), ones);
    printf("'default' strategy = libpng's choice (Z_FILTERED when rows are filtered, else "
           "Z_DEFAULT_STRATEGY); ALL = libpng's adaptive filter choice per row.\n");
    printf("median microseconds per frame / PNG bytes\n\n");
    printf("%-5s %-15s", "level", "filter strategy");
    for (int c = 0; c < NCASES; c++)
        printf(" %16s", cases[c].name);
    printf("\n");

    tuning.zbuf = 64 * 1024;
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++)
        for (size_t s = 0; s < sizeof settings / sizeof *settings; s++) {
            tuning.level = levels[l];
            tuning.strategy = tuning.strategy_low = settings[s].strategy;
            tuning.filters = tuning.filters_low = settings[s].filters;
            printf("%-5d %-15s", levels[l], settings[s].name);
            for (int c = 0; c < NCASES; c++) {
                size_t size;
                long long ns = measure(&cases[c], &size);
                printf(" %8.1f/%7zu", ns / 1000.0, size);
            }
            printf("\n");
            fflush(stdout);
        }

    /* the chosen settings, then the compression buffer size alone */
    static const size_t zbufs[] = {8192, 65536};
    printf("\nlevel 1, NONE, RLE by compression buffer size\n");
    tuning.level = 1, tuning.strategy = tuning.strategy_low = Z_RLE, tuning.filters = tuning.filters_low = PNG_FILTER_NONE;
    for (size_t z = 0; z < 2; z++) {
        tuning.zbuf = zbufs[z];
        printf("zbuf %-16zu", zbufs[z]);
        for (int c = 0; c < NCASES; c++) {
            size_t size;
            long long ns = measure(&cases[c], &size);
            printf(" %8.1f/%7zu", ns / 1000.0, size);
        }
        printf("\n");
    }

    tuning = chosen;
    printf("\nas compiled: level %d, 8/16-bit strategy %d filters %#x, 1-bit strategy %d filters %#x\n",
           tuning.level, tuning.strategy, tuning.filters, tuning.strategy_low, tuning.filters_low);
    printf("%-21s", "chosen");
    for (int c = 0; c < NCASES; c++) {
        size_t size;
        long long ns = measure(&cases[c], &size);
        printf(" %8.1f/%7zu", ns / 1000.0, size);
    }
    printf("\n");

    printf("\npalette PNG (PLTE+tRNS, same RGBA when decoded) instead of RGBA, as compiled\n");
    for (int c = 0; c < NCASES; c++) {
        if (!cases[c].rgba)
            continue;
        size_t size;
        long long ns = median_ns(palette_once, &cases[c], &size);
        printf("%-16s %8.1f/%7zu\n", cases[c].name, ns / 1000.0, size);
    }
    free(bin.data), free(frac.data), free(zero.data), free(tile.data);
    return 0;
}
