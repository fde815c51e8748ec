/* Path requests stay below --files-root. The route layer (api/route.c) already
 * refuses '..', '.', empty segments, backslashes and control characters in any
 * encoding; this is the second, file-system level: the joined path is resolved
 * with realpath(3) and must be the root itself or lie below it on a directory
 * boundary ("/srv/data2" is not below "/srv/data"), so symlinks that lead out
 * are refused too. The check is re-done on the relative path here so the
 * function is safe on its own. */
#ifndef SEGWEB_API_PATH_CONFINE_H
#define SEGWEB_API_PATH_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "common/err.h"

/* root_real: the realpath of the files root. rel: relative path ("a/b.dcm").
 * On success writes the resolved path into out (outsz bytes, PATH_MAX is enough)
 * and its stat into st. Errors: ERR_PARSE (rel is absolute or has a forbidden
 * segment or character), ERR_NOT_FOUND (missing, not a regular file, or outside
 * the root: all look the same to the client). */
bool api_path_confine(const char *root_real, const char *rel, char *out, size_t outsz,
                      struct stat *st, struct err *e);

/* realpath of a configured root that must be a directory; out has PATH_MAX bytes. */
bool api_path_root_resolve(const char *root, char *out, size_t outsz, struct err *e);

#endif
