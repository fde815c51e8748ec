/* Reading the first line of a small text file (a token or credentials file). */
#ifndef SEGWEB_COMMON_TEXT_FILE_H
#define SEGWEB_COMMON_TEXT_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* The first line of the file at path into line (capacity linesz, NUL-terminated), its
 * line end and trailing blanks removed; *n its length. A line that does not fit is
 * cut at linesz - 1 bytes (callers that need to know size line one byte larger than
 * what they accept). An empty file is an empty line. False with e set (ERR_INVALID,
 * the system's reason only; callers put the file's role and path in front) when the
 * file cannot be opened. */
bool text_file_first_line(const char *path, char *line, size_t linesz, size_t *n, struct err *e);

#endif
