/* api/png_cache.c: off by default, hit after put, keys differ by index / frame /
 * style, LRU eviction under the byte budget, forget drops one index only,
 * oversized PNGs are not stored, concurrent get/put from several threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/png_cache.h"
#include "tests/unit/check.h"

static int a, b; /* two fake index addresses */

static bool get(const void *idx, uint32_t frame, bool color, uint8_t *first, size_t *len)
{
    struct buf out = {0};
    bool hit = api_png_cache_get(idx, frame, color, &out);
    if (hit) {
        *first = out.data[0];
        *len = out.len;
    }
    buf_free(&out);
    return hit;
}

static void *hammer(void *arg)
{
    uint8_t png[300];
    memset(png, (int)(intptr_t)arg, sizeof png);
    for (uint32_t i = 0; i < 20000; i++) {
        uint32_t f = (i * 7919u) % 500;
        uint8_t first;
        size_t len;
        if (!get(&a, f, false, &first, &len))
            api_png_cache_put(&a, f, false, png, sizeof png);
    }
    return NULL;
}

int main(void)
{
    uint8_t png[1000], first = 0;
    size_t len = 0;
    struct api_png_cache_stats st;

    memset(png, 7, sizeof png);
    api_png_cache_put(&a, 1, false, png, sizeof png);
    CHECK(!get(&a, 1, false, &first, &len), "off by default");

    api_png_cache_configure(64 << 10);
    api_png_cache_put(&a, 1, false, png, sizeof png);
    CHECK(get(&a, 1, false, &first, &len) && len == 1000 && first == 7, "hit after put");
    CHECK(!get(&a, 1, true, &first, &len), "style is part of the key");
    CHECK(!get(&a, 2, false, &first, &len), "frame is part of the key");
    CHECK(!get(&b, 1, false, &first, &len), "index is part of the key");

    /* Appends to what the buffer already holds. */
    struct buf out = {0};
    struct err e = ERR_INIT;
    buf_append(&out, "xy", 2, &e);
    CHECK(api_png_cache_get(&a, 1, false, &out) && out.len == 1002 && out.data[2] == 7, "appends");
    buf_free(&out);

    /* Byte budget: 64 KiB holds at most ~60 of 1000-byte PNGs; the oldest go. */
    for (uint32_t f = 100; f < 200; f++) {
        png[0] = (uint8_t)f;
        api_png_cache_put(&b, f, false, png, sizeof png);
    }
    api_png_cache_stats(&st);
    CHECK(st.bytes <= st.budget, "within budget: %zu of %zu", st.bytes, st.budget);
    CHECK(st.evictions > 0, "evicted");
    CHECK(get(&b, 199, false, &first, &len) && first == 199, "newest kept");
    CHECK(!get(&b, 100, false, &first, &len), "oldest evicted");

    /* A get refreshes: touch 150, push 30 more, 150 survives while 151 goes. */
    if (get(&b, 150, false, &first, &len)) {
        for (uint32_t f = 200; f < 230; f++)
            api_png_cache_put(&b, f, false, png, sizeof png);
        CHECK(get(&b, 150, false, &first, &len), "recently used kept");
        CHECK(!get(&b, 151, false, &first, &len), "least recently used evicted");
    } else {
        CHECK(0, "frame 150 should still be cached");
    }

    /* Larger than an eighth of the budget: not stored. */
    uint8_t *big = calloc(1, 16 << 10);
    api_png_cache_put(&a, 9, false, big, 16 << 10);
    CHECK(!get(&a, 9, false, &first, &len), "oversized not stored");
    free(big);

    /* forget() drops only that index. */
    api_png_cache_put(&a, 5, false, png, sizeof png);
    api_png_cache_forget(&b);
    CHECK(!get(&b, 229, false, &first, &len), "forgotten");
    CHECK(get(&a, 5, false, &first, &len), "other index kept");

    /* Threads. */
    api_png_cache_configure(100 << 10);
    pthread_t t[4];
    for (intptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    api_png_cache_stats(&st);
    CHECK(st.bytes <= st.budget && st.entries > 0, "threads: %zu entries, %zu bytes", st.entries,
          st.bytes);
    CHECK(st.hits > 0 && st.misses > 0, "threads: hits %llu misses %llu",
          (unsigned long long)st.hits, (unsigned long long)st.misses);

    api_png_cache_configure(0);
    CHECK(!get(&a, 5, false, &first, &len), "off empties");

    return check_done();
}
