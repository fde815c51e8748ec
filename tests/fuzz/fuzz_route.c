/* libFuzzer target: request-target parsing (api_request_route) and the
 * /files/ path confinement (api_path_confine) against a small private tree.
 * Besides memory errors it checks the confinement properties: a routed file
 * path has no empty, "." or ".." segment, no backslash or control character,
 * and a confined path always lies below the root. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/path_confine.h"
#include "api/route.h"

static char root_real[PATH_MAX];

static void setup(void)
{
    char tmpl[] = "/tmp/segweb-fuzz-route-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/root", tmpl);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/root/sub", tmpl);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/root/a.dcm", tmpl);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/root/sub/b.dcm", tmpl);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/outside.dcm", tmpl);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/root/out.dcm", tmpl);
    if (symlink("../outside.dcm", p))
        abort();
    snprintf(p, sizeof p, "%s/root/up", tmpl);
    if (symlink("..", p))
        abort();
    snprintf(p, sizeof p, "%s/root", tmpl);
    struct err e = ERR_INIT;
    if (!api_path_root_resolve(p, root_real, sizeof root_real, &e))
        abort();
}

static void check_rel(const char *rel)
{
    if (!*rel || rel[0] == '/')
        abort();
    const char *s = rel;
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            abort();
        for (size_t i = 0; i < n; i++)
            if (s[i] == '\\' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                abort();
        if (!slash)
            break;
        s = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root_real[0])
        setup();
    static struct api_request req;
    memset(&req, 0, sizeof req);
    if (size > API_TARGET_MAX)
        size = API_TARGET_MAX;
    memcpy(req.target, data, size);
    req.target[size] = 0;
    req.method = API_METHOD_GET;
    struct err e = ERR_INIT;
    bool ok = api_request_route(&req, &e);
    if (ok != (req.route_err.code == ERR_OK))
        abort();
    if (!ok && req.route != NULL)
        abort();
    (void)api_route_needs_worker(&req);
    if (ok && req.res.kind == API_RES_FILE) {
        check_rel(req.res.file);
        char out[PATH_MAX];
        struct stat st;
        struct err pe = ERR_INIT;
        if (api_path_confine(root_real, req.res.file, out, sizeof out, &st, &pe)) {
            size_t rn = strlen(root_real);
            if (strncmp(out, root_real, rn) || (out[rn] != '/' && out[rn] != 0))
                abort();
            if (!S_ISREG(st.st_mode))
                abort();
        }
    }
    /* Store resources name a study, and maybe a series and an instance (QIDO / WADO levels):
     * whatever is named is a valid UID. */
    if (ok && req.res.kind == API_RES_STORE &&
        ((req.res.study[0] && !api_uid_valid(req.res.study)) || (req.res.series[0] && !api_uid_valid(req.res.series)) ||
         (req.res.sop[0] && !api_uid_valid(req.res.sop)) || (req.res.sop[0] && !req.res.series[0])))
        abort();
    /* The confinement function on its own, with the raw bytes as a relative path. */
    char rel[API_RELPATH_MAX + 1];
    size_t n = size < API_RELPATH_MAX ? size : API_RELPATH_MAX;
    memcpy(rel, data, n);
    rel[n] = 0;
    char out[PATH_MAX];
    struct stat st;
    struct err pe = ERR_INIT;
    if (api_path_confine(root_real, rel, out, sizeof out, &st, &pe)) {
        size_t rn = strlen(root_real);
        if (strncmp(out, root_real, rn) || (out[rn] != '/' && out[rn] != 0))
            abort();
    }
    return 0;
}
