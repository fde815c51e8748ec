/* common/utf8.c: validation and repair (one U+FFFD per maximal ill-formed
 * subsequence, Unicode chapter 3 "U+FFFD substitution of maximal subparts"),
 * truncation at character boundaries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "tests/unit/check.h"

#define R UTF8_REPLACEMENT

int main(void)
{
    static const struct {
        const char *in;
        size_t n; /* 0: strlen */
        bool valid;
        const char *repaired;
    } cases[] = {
        {"", 0, true, ""},
        {"Leber L\xc3\xa4sion", 0, true, "Leber L\xc3\xa4sion"},
        {"Leber L\xe4sion", 0, false, "Leber L" R "sion"},         /* Latin-1 byte */
        {"\xe8\x82\x9d\xe8\x87\x93", 0, true, "\xe8\x82\x9d\xe8\x87\x93"},
        {"\xf0\x9f\x98\x80", 0, true, "\xf0\x9f\x98\x80"},           /* U+1F600 */
        {"\xc0\xaf", 0, false, R R},                                 /* overlong '/' */
        {"\xe0\x80\xaf", 0, false, R R R},                           /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0, false, R R R},                           /* surrogate D800 */
        {"\xf4\x90\x80\x80", 0, false, R R R R},                     /* above U+10FFFF */
        {"\xf5\x80", 0, false, R R},
        {"\xe8\x82", 0, false, R},                                   /* cut: one maximal subpart */
        {"a\xe8\x82z", 0, false, "a" R "z"},
        {"\xf0\x9f\x98", 0, false, R},
        {"\x80\xbf", 0, false, R R},                                 /* lone continuation bytes */
        {"\xff\xfe", 0, false, R R},
        {"1.2.840.10008.1.2\xff\xfe", 0, false, "1.2.840.10008.1.2" R R},
        {"a\0b", 3, true, "a\0b"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
        CHECK(utf8_valid(cases[i].in, n) == cases[i].valid, "case %zu valid", i);
        size_t len = 0;
        char *out = utf8_repair(cases[i].in, n, &len);
        size_t want = cases[i].n ? cases[i].n : strlen(cases[i].repaired);
        CHECK(out && len == want && !memcmp(out, cases[i].repaired, want) && out[len] == 0,
              "case %zu repaired to %zu bytes '%s'", i, len, out ? out : "(null)");
        CHECK(len == utf8_repaired_len(cases[i].in, n), "case %zu repaired_len", i);
        CHECK(out && utf8_valid(out, len), "case %zu output valid", i);
        free(out);
    }

    /* Truncation keeps whole characters and always terminates. */
    char small[8];
    utf8_copy(small, sizeof small, "ab\xe8\x82\x9d\xe8\x87\x93");
    CHECK(!strcmp(small, "ab\xe8\x82\x9d"), "cut before a character that does not fit: '%s'", small);
    utf8_copy(small, sizeof small, "abcdefghij");
    CHECK(!strcmp(small, "abcdefg"), "ASCII truncation: '%s'", small);
    utf8_copy(small, sizeof small, "a\xe4" "b");
    CHECK(!strcmp(small, "a" R "b"), "copy repairs: '%s'", small);
    utf8_copy(small, sizeof small, NULL);
    CHECK(!strcmp(small, ""), "NULL copies as empty");
    char one[1];
    utf8_copy(one, sizeof one, "x");
    CHECK(one[0] == 0, "size 1 gives an empty string");

    return check_done();
}
