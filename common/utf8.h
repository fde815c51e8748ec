/* UTF-8 checks and repair. Every string segweb hands out (JSON, logs, error
 * messages) is valid UTF-8: DICOM text is converted from its Specific
 * Character Set by the decoder's DCMTK bridge, and bytes that are still not
 * UTF-8 are replaced here, one U+FFFD per maximal ill-formed subsequence
 * (the Unicode "best practice" of chapter 3, also what WHATWG decoders do),
 * never dropped. Overlong forms, surrogates and code points above U+10FFFF
 * are ill-formed. */
#ifndef SEGWEB_COMMON_UTF8_H
#define SEGWEB_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Whether the n bytes at s are well-formed UTF-8 (NUL bytes count as U+0000). */
bool utf8_valid(const char *s, size_t n);

/* Length of the well-formed sequence at s (1..4), or 0 when the bytes at s
 * (at most n) do not start one; *bad then receives how many bytes form the
 * maximal ill-formed subsequence that one U+FFFD replaces (>= 1). */
size_t utf8_next(const unsigned char *s, size_t n, size_t *bad);

/* Writes the n bytes at s to out (size outsz, always NUL-terminated when
 * outsz > 0) with every ill-formed subsequence replaced by U+FFFD; a
 * character that does not fit whole is left out with everything after it
 * (truncation never cuts a character). Returns the bytes written. */
size_t utf8_repair_into(const char *s, size_t n, char *out, size_t outsz);

/* Bytes needed for the repaired copy of s (without the NUL). */
size_t utf8_repaired_len(const char *s, size_t n);

/* The repaired copy as a new malloc'd NUL-terminated string (*len without the
 * NUL, may be NULL); NULL on allocation failure. */
char *utf8_repair(const char *s, size_t n, size_t *len);

/* Copies the C string src into dst (size dstsz > 0), repaired, cut at a
 * character boundary when it does not fit (like snprintf "%s" otherwise). */
void utf8_copy(char *dst, size_t dstsz, const char *src);

#ifdef __cplusplus
}
#endif

#endif
