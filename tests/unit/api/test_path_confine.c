/* api/path_confine.c against a real temporary tree with symlinks in and out. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/path_confine.h"
#include "tests/unit/check.h"

static void touch(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    char base[] = "/tmp/segweb-confine-XXXXXX";
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    char p[PATH_MAX], q[PATH_MAX], root[PATH_MAX];
    snprintf(p, sizeof p, "%s/root", base);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/root/sub", base);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/root2", base); /* sibling sharing the prefix "root" */
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/root/a.dcm", base);
    touch(p, "inside");
    snprintf(p, sizeof p, "%s/root/sub/b.dcm", base);
    touch(p, "inside");
    snprintf(p, sizeof p, "%s/secret", base);
    touch(p, "outside");
    snprintf(p, sizeof p, "%s/root2/c.dcm", base);
    touch(p, "sibling");
    /* symlinks */
    snprintf(p, sizeof p, "%s/root/in-link.dcm", base);
    CHECK(!symlink("sub/b.dcm", p), "symlink in");
    snprintf(p, sizeof p, "%s/root/out-link", base);
    snprintf(q, sizeof q, "%s/secret", base);
    CHECK(!symlink(q, p), "symlink out");
    snprintf(p, sizeof p, "%s/root/passwd", base);
    CHECK(!symlink("/etc/passwd", p), "symlink /etc/passwd");
    snprintf(p, sizeof p, "%s/root/updir", base);
    CHECK(!symlink("..", p), "symlink ..");
    snprintf(p, sizeof p, "%s/root/sibling", base);
    snprintf(q, sizeof q, "%s/root2", base);
    CHECK(!symlink(q, p), "symlink sibling dir");
    snprintf(p, sizeof p, "%s/root/loop", base);
    CHECK(!symlink("loop", p), "symlink loop");
    snprintf(p, sizeof p, "%s/root/subdir-link", base); /* a directory symlink that stays inside */
    CHECK(!symlink("sub", p), "symlink to a directory inside");
    snprintf(p, sizeof p, "%s/root/fifo.dcm", base); /* must not block the open */
    CHECK(!mkfifo(p, 0644), "fifo");

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
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        printf("warning: could not remove %s\n", base);
    return check_done();
}
