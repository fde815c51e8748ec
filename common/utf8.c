/* UTF-8 validation after the table of well-formed byte sequences (Unicode 15,
 * table 3-7); repair by maximal subparts (see utf8.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

size_t utf8_next(const unsigned char *s, size_t n, size_t *bad)
{
    *bad = 1;
    if (!n)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0; /* 0x80..0xC1, 0xF5..0xFF never start a character */
    }
    for (size_t i = 1; i < len; i++) {
        unsigned char b = i < n ? s[i] : 0;
        bool ok = i < n && (i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF));
        if (!ok) {
            *bad = i; /* the lead byte and the continuation bytes that fit */
            return 0;
        }
    }
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_next(p + i, n - i, &bad);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

size_t utf8_repaired_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, out = 0, bad;
    while (i < n) {
        size_t k = utf8_next(p + i, n - i, &bad);
        if (k) {
            i += k;
            out += k;
        } else {
            i += bad;
            out += 3;
        }
    }
    return out;
}

size_t utf8_repair_into(const char *s, size_t n, char *out, size_t outsz)
{
    if (!outsz)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, bad;
    while (i < n) {
        size_t k = utf8_next(p + i, n - i, &bad);
        const char *src = k ? s + i : UTF8_REPLACEMENT;
        size_t len = k ? k : 3;
        if (o + len >= outsz)
            break;
        memcpy(out + o, src, len);
        o += len;
        i += k ? k : bad;
    }
    out[o] = 0;
    return o;
}

char *utf8_repair(const char *s, size_t n, size_t *len)
{
    size_t need = utf8_repaired_len(s, n);
    char *out = malloc(need + 1);
    if (!out)
        return NULL;
    size_t w = utf8_repair_into(s, n, out, need + 1);
    if (len)
        *len = w;
    return out;
}

void utf8_copy(char *dst, size_t dstsz, const char *src)
{
    if (!dstsz)
        return;
    utf8_repair_into(src ? src : "", src ? strlen(src) : 0, dst, dstsz);
}
