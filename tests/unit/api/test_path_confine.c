/* api/path_confine.c against a real temporary tree with symlinks in and out. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/path_confine.h"
#include "tests/unit/check.h"

static bool touch(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    bool ok = f && fputs(text, f) >= 0;
    return f && fclose(f) == 0 && ok;
}

/* The tree below the temporary directory: directories, files (with their text),
 * symlinks (a target starting with '@' is taken below the temporary directory) and a
 * FIFO, made in this order. */
enum kind { DIR_, FILE_, LINK, FIFO };
static const struct {
    enum kind kind;
    const char *path, *arg;
} TREE[] = {
    {DIR_, "root", NULL},
    {DIR_, "root/sub", NULL},
    {DIR_, "root2", NULL}, /* sibling sharing the prefix "root" */
    {FILE_, "root/a.dcm", "inside"},
    {FILE_, "root/sub/b.dcm", "inside"},
    {FILE_, "secret", "outside"},
    {FILE_, "root2/c.dcm", "sibling"},
    {LINK, "root/in-link.dcm", "sub/b.dcm"},
    {LINK, "root/out-link", "@secret"},
    {LINK, "root/passwd", "/etc/passwd"},
    {LINK, "root/updir", ".."},
    {LINK, "root/sibling", "@root2"},
    {LINK, "root/loop", "loop"},
    {LINK, "root/subdir-link", "sub"}, /* a directory symlink that stays inside */
    {FIFO, "root/fifo.dcm", NULL},     /* must not block the open */
};

static void make_tree(const char *base)
{
    for (size_t i = 0; i < sizeof TREE / sizeof TREE[0]; i++) {
        char p[PATH_MAX], target[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", base, TREE[i].path);
        const char *arg = TREE[i].arg;
        if (arg && arg[0] == '@') {
            snprintf(target, sizeof target, "%s/%s", base, arg + 1);
            arg = target;
        }
        bool ok = false;
        switch (TREE[i].kind) {
        case DIR_: ok = mkdir(p, 0755) == 0; break;
        case FILE_: ok = touch(p, arg); break;
        case LINK: ok = symlink(arg, p) == 0; break;
        case FIFO: ok = mkfifo(p, 0644) == 0; break;
        }
        CHECK(ok, "make %s", TREE[i].path);
    }
}

int main(void)
{
    char base[64];
    check_tmpdir("confine", base, sizeof base);
    char p[PATH_MAX], q[PATH_MAX], root[PATH_MAX];
    make_tree(base);

    struct err e = ERR_INIT;
    snprintf(p, sizeof p, "%s/root/", base);
    CHECK(api_path_root_resolve(p, root, sizeof root, &e), "root: %s", e.msg);
    e = (struct err)ERR_INIT;
    snprintf(p, sizeof p, "%s/root/a.dcm", base);
    CHECK(!api_path_root_resolve(p, q, sizeof q, &e) && e.code == ERR_INVALID, "file root refused");

    static const struct {
        const char *rel;
        enum err_code want;
    } cases[] = {
        {"a.dcm", ERR_OK},
        {"sub/b.dcm", ERR_OK},
        {"in-link.dcm", ERR_OK},
        {"missing.dcm", ERR_NOT_FOUND},
        {"sub", ERR_NOT_FOUND},          /* a directory */
        {"out-link", ERR_NOT_FOUND},     /* symlink out of the root */
        {"passwd", ERR_NOT_FOUND},       /* symlink to /etc/passwd */
        {"updir/secret", ERR_NOT_FOUND}, /* via a symlinked directory */
        {"sibling/c.dcm", ERR_NOT_FOUND},/* prefix-sharing sibling */
        {"loop", ERR_NOT_FOUND},
        {"subdir-link/b.dcm", ERR_OK},
        {"fifo.dcm", ERR_NOT_FOUND},
        {"../secret", ERR_PARSE},
        {"sub/../../secret", ERR_PARSE},
        {"..", ERR_PARSE},
        {".", ERR_PARSE},
        {"./a.dcm", ERR_PARSE},
        {"/etc/passwd", ERR_PARSE},
        {"sub//b.dcm", ERR_PARSE},
        {"..\\secret", ERR_PARSE},
        {"a\x01.dcm", ERR_PARSE},
        {"", ERR_PARSE},
    };
    /* Both ways of opening: openat2 (RESOLVE_BENEATH) and the O_NOFOLLOW walk. */
    for (int walk = 0; walk < 2; walk++) {
        api_path_confine_force_walk(walk == 1);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct stat st;
            char out[PATH_MAX];
            int fd = 123456;
            e = (struct err)ERR_INIT;
            bool ok = api_path_confine_open(root, cases[i].rel, out, sizeof out, &st, &fd, &e);
            if (cases[i].want == ERR_OK) {
                struct stat fst;
                CHECK(ok && !strncmp(out, root, strlen(root)) && S_ISREG(st.st_mode) && fd >= 0 &&
                          !fstat(fd, &fst) && fst.st_ino == st.st_ino,
                      "walk=%d %s: %s", walk, cases[i].rel, e.msg);
                char name[64];
                CHECK(api_path_fd_path(fd, name, sizeof name) && !strncmp(name, "/proc/self/fd/", 14),
                      "walk=%d %s: descriptor name", walk, cases[i].rel);
            } else {
                CHECK(!ok && e.code == cases[i].want && fd == -1, "walk=%d %s: ok=%d code=%d '%s'", walk,
                      cases[i].rel, ok, e.code, e.msg);
            }
            if (fd >= 0 && fd != 123456)
                close(fd);
            e = (struct err)ERR_INIT;
            CHECK(api_path_confine(root, cases[i].rel, out, sizeof out, &st, &e) == (cases[i].want == ERR_OK),
                  "walk=%d %s: api_path_confine agrees", walk, cases[i].rel);
        }
        /* A directory swapped for a symlink that leads out, after the open: the
         * descriptor still names the file that was checked. */
        struct stat st;
        char out[PATH_MAX], name[64];
        int fd = -1;
        e = (struct err)ERR_INIT;
        CHECK(api_path_confine_open(root, "sub/b.dcm", out, sizeof out, &st, &fd, &e), "open: %s", e.msg);
        snprintf(p, sizeof p, "%s/root/sub", base);
        snprintf(q, sizeof q, "%s/root/sub.keep", base);
        CHECK(!rename(p, q), "rename sub away");
        char outside_dir[PATH_MAX];
        snprintf(outside_dir, sizeof outside_dir, "%s/outdir", base);
        mkdir(outside_dir, 0755);
        char outside_file[PATH_MAX + 8];
        snprintf(outside_file, sizeof outside_file, "%s/b.dcm", outside_dir);
        touch(outside_file, "outside!");
        CHECK(!symlink(outside_dir, p), "symlink sub -> outside");
        FILE *f = api_path_fd_path(fd, name, sizeof name) ? fopen(name, "r") : NULL;
        char text[16] = "";
        CHECK(f && fgets(text, sizeof text, f) && !strcmp(text, "inside"), "walk=%d read through the descriptor: '%s'",
              walk, text);
        if (f)
            fclose(f);
        close(fd);
        e = (struct err)ERR_INIT;
        CHECK(!api_path_confine_open(root, "sub/b.dcm", out, sizeof out, &st, &fd, &e) && e.code == ERR_NOT_FOUND,
              "walk=%d the swapped path is refused", walk);
        unlink(p);
        CHECK(!rename(q, p), "rename sub back");
    }
    check_rmtree(base);
    return check_done();
}
