/* Path requests stay below --files-root. The route layer (api/route.c) already
 * refuses '..', '.', empty segments, backslashes and control characters in any
 * encoding; this is the second, file-system level, and it opens the file once
 * and checks what it opened, so no rename or symlink swap between a check and
 * an open can lead out of the root:
 *
 *  - openat2(2) from a descriptor of the root with RESOLVE_BENEATH (and no
 *    magic links): the kernel refuses any resolution that leaves the root,
 *    through "..", an absolute symlink or a symlink that leads out, while
 *    symlinks that stay inside are followed;
 *  - where openat2 is missing (Linux < 5.6, or filtered by seccomp): the path
 *    is resolved with realpath(3), must lie below the root on a directory
 *    boundary, and is then opened one component at a time from the root
 *    descriptor with O_NOFOLLOW, so a component swapped for a symlink after
 *    the check fails instead of being followed.
 *
 * Either way the descriptor is fstat'ed (a regular file, else "not found";
 * O_NONBLOCK so a FIFO cannot hang a worker), and the caller reads the file
 * through it (api_path_fd_path), never by name again. The check is re-done on
 * the relative path here so the function is safe on its own. */
#ifndef SEGWEB_API_PATH_CONFINE_H
#define SEGWEB_API_PATH_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "common/err.h"

/* root_real: the realpath of the files root. rel: relative path ("a/b.dcm").
 * Opens the file (read-only, close-on-exec) into *fd, which the caller
 * closes; out (outsz bytes, PATH_MAX is enough) receives its canonical path
 * (for cache keys, ETags and logs, not for opening) and st its fstat. Errors:
 * ERR_PARSE (rel is absolute or has a forbidden segment or character),
 * ERR_NOT_FOUND (missing, not a regular file, or outside the root: all look
 * the same to the client); *fd is then -1. */
bool api_path_confine_open(const char *root_real, const char *rel, char *out, size_t outsz,
                           struct stat *st, int *fd, struct err *e);

/* The same check without keeping the file open (the descriptor is closed). */
bool api_path_confine(const char *root_real, const char *rel, char *out, size_t outsz,
                      struct stat *st, struct err *e);

/* A name that opens the file behind descriptor fd itself, not whatever its
 * path names now ("/proc/self/fd/N"); false (out unchanged) when /proc is not
 * mounted. */
bool api_path_fd_path(int fd, char *out, size_t outsz);

/* Tests: use the O_NOFOLLOW walk even where openat2 exists. */
void api_path_confine_force_walk(bool on);

/* realpath of a configured root that must be a directory; out has PATH_MAX bytes. */
bool api_path_root_resolve(const char *root, char *out, size_t outsz, struct err *e);

#endif
