/* render/image.c: the window parameter, the overlay rule of render/render.h
 * (blend, order, coverage, outline), PNG of grey and RGB images. Pixel
 * pipelines against pydicom are in tests/render/test_render.py. */
#include <math.h>
#include <string.h>

#include "../check.h"
#include "render/render.h"

static void windows(void)
{
    static const struct {
        const char *s;
        bool ok;
        double c, w;
        enum render_voi_function f;
    } cases[] = {
        {"40,400", true, 40, 400, RENDER_VOI_LINEAR},
        {"-600,1500,linear", true, -600, 1500, RENDER_VOI_LINEAR},
        {"40.5,0.5,LINEAR-EXACT", true, 40.5, 0.5, RENDER_VOI_LINEAR_EXACT},
        {"0,10,sigmoid", true, 0, 10, RENDER_VOI_SIGMOID},
        {"40,0.5", false, 0, 0, 0}, /* LINEAR needs width >= 1 */
        {"40,0", false, 0, 0, 0},
        {"40", false, 0, 0, 0},
        {"40,400,cubic", false, 0, 0, 0},
        {"a,400", false, 0, 0, 0},
        {"40,400,linear,x", false, 0, 0, 0},
        {"nan,400", false, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct render_window w;
        struct err e = ERR_INIT;
        bool ok = render_window_parse(cases[i].s, &w, &e);
        CHECK(ok == cases[i].ok, "window '%s': %s", cases[i].s, e.msg);
        if (ok && cases[i].ok)
            CHECK(w.set && w.center == cases[i].c && w.width == cases[i].w && w.function == cases[i].f,
                  "window '%s' parsed as %g,%g,%d", cases[i].s, w.center, w.width, w.function);
        if (!ok)
            CHECK(e.code == ERR_PARSE, "window '%s': code %d", cases[i].s, e.code);
    }
}

static void overlay(void)
{
    /* 4x4 grey 100; mask A covers the 3x3 top-left block, mask B the pixel (1,1) and (3,3) */
    struct render_image img;
    struct err e = ERR_INIT;
    CHECK(render_image_blank(4, 4, &img, &e), "blank: %s", e.msg);
    memset(img.data, 100, 16);
    uint8_t a_bits[2] = {0}, b_bits[2] = {0};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            a_bits[(r * 4 + c) >> 3] |= (uint8_t)(1u << ((r * 4 + c) & 7));
    b_bits[5 >> 3] |= 1u << (5 & 7);
    b_bits[15 >> 3] |= 1u << (15 & 7);
    struct seg_pixels a = {4, 4, 1, a_bits, 2}, b = {4, 4, 1, b_bits, 2};
    struct render_layer layers[2] = {{&a, {200, 0, 0}, 0}, {&b, {0, 0, 250}, 0}};
    struct render_overlay_params p = {0.5, false};
    CHECK(render_overlay(&img, layers, 2, &p, &e), "overlay: %s", e.msg);
    CHECK(img.channels == 3, "grey became RGB");
    const uint8_t *px = img.data;
    /* (0,0): A only: 0.5*100 + 0.5*200 = 150, 0.5*100 = 50 */
    CHECK(px[0] == 150 && px[1] == 50 && px[2] == 50, "A only: %u %u %u", px[0], px[1], px[2]);
    /* (1,1): A then B: (150,50,50) -> (75, 25, 150) */
    px = img.data + 3 * 5;
    CHECK(px[0] == 75 && px[1] == 25 && px[2] == 150, "A then B: %u %u %u", px[0], px[1], px[2]);
    /* (3,3): B only over grey: 50, 50, 175 */
    px = img.data + 3 * 15;
    CHECK(px[0] == 50 && px[1] == 50 && px[2] == 175, "B only: %u %u %u", px[0], px[1], px[2]);
    /* (0,3): nothing */
    px = img.data + 3 * 3;
    CHECK(px[0] == 100 && px[1] == 100 && px[2] == 100, "outside: %u %u %u", px[0], px[1], px[2]);

    /* outline: A's boundary opaque, its centre (1,1) blended */
    memset(img.data, 100, 48);
    p.outline = true;
    CHECK(render_overlay(&img, layers, 1, &p, &e), "outline: %s", e.msg);
    px = img.data + 3 * 2; /* (0,2): edge */
    CHECK(px[0] == 200 && px[1] == 0 && px[2] == 0, "edge: %u %u %u", px[0], px[1], px[2]);
    px = img.data + 3 * 5; /* (1,1): interior */
    CHECK(px[0] == 150 && px[1] == 50, "interior: %u %u", px[0], px[1]);

    /* 8-bit coverage: value 64 of max 128 -> a = 0.5 * 0.5 */
    uint8_t frac[16] = {0};
    frac[0] = 64;
    frac[1] = 200; /* above max: full */
    struct seg_pixels f = {4, 4, 8, frac, 16};
    struct render_layer fl = {&f, {255, 255, 255}, 128};
    memset(img.data, 100, 48);
    p.outline = false;
    CHECK(render_overlay(&img, &fl, 1, &p, &e), "fractional: %s", e.msg);
    CHECK(img.data[0] == (uint8_t)lround(0.75 * 100 + 0.25 * 255), "quarter: %u", img.data[0]);
    CHECK(img.data[3] == (uint8_t)lround(0.5 * 100 + 0.5 * 255), "full: %u", img.data[3]);

    /* size mismatch and bad opacity */
    struct seg_pixels small = {2, 2, 1, a_bits, 1};
    struct render_layer bad = {&small, {1, 2, 3}, 0};
    e = (struct err)ERR_INIT;
    CHECK(!render_overlay(&img, &bad, 1, &p, &e) && e.code == ERR_INVALID, "size mismatch refused");
    p.opacity = 1.5;
    e = (struct err)ERR_INIT;
    CHECK(!render_overlay(&img, layers, 1, &p, &e) && e.code == ERR_INVALID, "opacity 1.5 refused");

    struct buf png = {0};
    CHECK(render_png(&img, &png, &e) && png.len > 8 && !memcmp(png.data, "\x89PNG", 4), "RGB PNG");
    png.len = 0;
    CHECK(render_jpeg(&img, 90, &png, &e) && png.len > 3 && png.data[0] == 0xFF && png.data[1] == 0xD8,
          "JPEG");
    buf_free(&png);
    render_image_free(&img);
    render_image_free(NULL);
}

int main(void)
{
    windows();
    overlay();
    return check_done();
}
