#include "api/path_confine.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool api_path_confine(const char *root_real, const char *rel, char *out, size_t outsz,
                      struct stat *st, struct err *e)
{
    if (!rel_safe(rel, e))
        return false;
    char joined[PATH_MAX], real[PATH_MAX];
    int m = snprintf(joined, sizeof joined, "%s/%s", root_real, rel);
    if (m < 0 || (size_t)m >= sizeof joined)
        return err_set(e, ERR_PARSE, "file path too long");
    if (!realpath(joined, real))
        return err_set(e, ERR_NOT_FOUND, "file not found below files root: %s", rel);
    size_t rl = strlen(root_real);
    bool root_is_slash = rl == 1 && root_real[0] == '/';
    bool inside = root_is_slash ||
                  (!strncmp(real, root_real, rl) && (real[rl] == '/' || real[rl] == 0));
    if (!inside)
        return err_set(e, ERR_NOT_FOUND, "file not found below files root: %s", rel);
    if (stat(real, st))
        return err_set(e, ERR_NOT_FOUND, "file not found below files root: %s", rel);
    if (!S_ISREG(st->st_mode))
        return err_set(e, ERR_NOT_FOUND, "not a regular file: %s", rel);
    if (strlen(real) + 1 > outsz)
        return err_set(e, ERR_LIMIT, "resolved path too long");
    memcpy(out, real, strlen(real) + 1);
    return true;
}
