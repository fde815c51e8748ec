#include "api/path_confine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

static bool rel_safe(const char *rel, struct err *e)
{
    if (!*rel)
        return err_set(e, ERR_PARSE, "empty file path");
    if (rel[0] == '/')
        return err_set(e, ERR_PARSE, "absolute file path not allowed");
    const char *p = rel;
    while (*p) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0)
            return err_set(e, ERR_PARSE, "empty path segment not allowed");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return err_set(e, ERR_PARSE, "path segment '%.*s' not allowed", (int)n, p);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '\\' || c < 0x20 || c == 0x7f)
                return err_set(e, ERR_PARSE, "forbidden character 0x%02x in file path", c);
        }
        p += n;
        if (*p == '/')
            p++;
    }
    return true;
}

bool api_path_root_resolve(const char *root, char *out, size_t outsz, struct err *e)
{
    char tmp[PATH_MAX];
    if (!realpath(root, tmp))
        return err_set(e, ERR_NOT_FOUND, "files root %s: %s", root, strerror(errno));
    struct stat st;
    if (stat(tmp, &st) || !S_ISDIR(st.st_mode))
        return err_set(e, ERR_INVALID, "files root %s is not a directory", root);
    if (strlen(tmp) + 1 > outsz)
        return err_set(e, ERR_LIMIT, "files root path too long");
    memcpy(out, tmp, strlen(tmp) + 1);
    return true;
}

/* openat2 with RESOLVE_BENEATH: the descriptor, or -1 with errno (ENOSYS
 * when the kernel or a seccomp filter does not offer it). */
static int open_beneath(int rootfd, const char *rel)
{
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 8; attempt++) {
        long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) /* EAGAIN: a rename raced the lookup */
            return (int)fd;
    }
    return -1;
#else
    (void)rootfd;
    (void)rel;
    errno = ENOSYS;
    return -1;
#endif
}

/* Without openat2: realpath, the boundary check, then a walk with O_NOFOLLOW
 * per component from the root descriptor. */
static int open_walk(int rootfd, const char *root_real, const char *rel)
{
    char joined[PATH_MAX], real[PATH_MAX];
    int m = snprintf(joined, sizeof joined, "%s/%s", root_real, rel);
    if (m < 0 || (size_t)m >= sizeof joined || !realpath(joined, real)) {
        errno = ENOENT;
        return -1;
    }
    size_t rl = strlen(root_real);
    bool root_is_slash = rl == 1 && root_real[0] == '/';
    if (!root_is_slash && (strncmp(real, root_real, rl) || real[rl] != '/')) {
        errno = EXDEV;
        return -1;
    }
    const char *p = real + (root_is_slash ? 1 : rl + 1);
    int dir = dup(rootfd);
    while (dir >= 0) {
        const char *slash = strchr(p, '/');
        char name[NAME_MAX + 1];
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!n || n > NAME_MAX) {
            close(dir);
            errno = ENOENT;
            return -1;
        }
        memcpy(name, p, n);
        name[n] = 0;
        int flags = slash ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
                          : O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
        int next = openat(dir, name, flags);
        int saved = errno;
        close(dir);
        errno = saved;
        if (!slash || next < 0)
            return next;
        dir = next;
        p = slash + 1;
    }
    return -1;
}

static atomic_bool no_openat2;

void api_path_confine_force_walk(bool on)
{
    atomic_store(&no_openat2, on);
}

bool api_path_fd_path(int fd, char *out, size_t outsz)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    struct stat a, b;
    /* /proc may be missing (a minimal chroot): then there is no such name */
    if (fd < 0 || stat(p, &a) || fstat(fd, &b) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return false;
    if (strlen(p) + 1 > outsz)
        return false;
    memcpy(out, p, strlen(p) + 1);
    return true;
}

bool api_path_confine_open(const char *root_real, const char *rel, char *out, size_t outsz,
                           struct stat *st, int *fd, struct err *e)
{
    *fd = -1;
    if (!rel_safe(rel, e))
        return false;
    if (strlen(root_real) + strlen(rel) + 2 > PATH_MAX)
        return err_set(e, ERR_PARSE, "file path too long");
    int rootfd = open(root_real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return err_set(e, errno == EMFILE || errno == ENFILE ? ERR_EXHAUSTED : ERR_NOT_FOUND, "files root %s: %s",
                       root_real, strerror(errno));
    int f = -1;
    if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
        f = open_beneath(rootfd, rel);
        if (f < 0 && (errno == ENOSYS || errno == EPERM || errno == E2BIG)) {
            atomic_store(&no_openat2, true);
        }
    }
    if (f < 0 && atomic_load_explicit(&no_openat2, memory_order_relaxed))
        f = open_walk(rootfd, root_real, rel);
    int saved = errno;
    close(rootfd);
    if (f < 0 && (saved == EMFILE || saved == ENFILE)) /* out of descriptors: not the file's fault */
        return err_set(e, ERR_EXHAUSTED, "cannot open %s: %s", rel, strerror(saved));
    if (f < 0)
        return err_set(e, ERR_NOT_FOUND, "file not found below files root: %s", rel);
    if (fstat(f, st) || !S_ISREG(st->st_mode)) {
        close(f);
        return err_set(e, ERR_NOT_FOUND, "not a regular file: %s", rel);
    }
    /* The canonical name of what was opened (a cache key: two links to one
     * file share an entry); the joined name when /proc is missing. */
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", f);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n > 0 && real[0] == '/') {
        real[n] = 0;
    } else {
        snprintf(real, sizeof real, "%s/%s", root_real, rel);
    }
    if (strlen(real) + 1 > outsz) {
        close(f);
        return err_set(e, ERR_LIMIT, "resolved path too long");
    }
    memcpy(out, real, strlen(real) + 1);
    *fd = f;
    return true;
}

bool api_path_confine(const char *root_real, const char *rel, char *out, size_t outsz,
                      struct stat *st, struct err *e)
{
    int fd;
    if (!api_path_confine_open(root_real, rel, out, outsz, st, &fd, e))
        return false;
    close(fd);
    return true;
}
