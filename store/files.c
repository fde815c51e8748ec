/* The store's files (see store.h for the layout). Design note: this file owns
 * the directory tree below the store directory and nothing else: no SQL, no
 * lock. Its invariants:
 *   - a name under instances/ is only ever a checked UID (dotted digits, at
 *     most 64 bytes), so paths are bounded and never leave the store;
 *   - an instance file appears under its final name only after its bytes are
 *     on disk (fsync, then rename, then fsync of the directory), and a new
 *     directory only after its parent is fsync'd: a crash leaves the whole
 *     file or none;
 *   - tmp/ holds nothing worth keeping: it is emptied at every open. */
#include "store/store_internal.h"

/* Paths are bounded: the store directory is at most PATH_MAX - 200 bytes and
 * every component below it is a checked UID (at most 64 bytes). */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool store_uid_valid(const char *uid)
{
    size_t n = strlen(uid);
    if (n < 1 || n > STORE_UID_MAX)
        return false;
    bool need_digit = true;
    for (size_t i = 0; i < n; i++) {
        if (uid[i] == '.') {
            if (need_digit)
                return false;
            need_digit = true;
        } else if (uid[i] >= '0' && uid[i] <= '9') {
            need_digit = false;
        } else {
            return false;
        }
    }
    return !need_digit;
}

void files_instance_path(const struct store *s, const char *study, const char *series,
                         const char *sop, char *path, size_t pathsz)
{
    snprintf(path, pathsz, "%s/instances/%s/%s/%s.dcm", s->dir, study, series, sop);
}

bool files_fsync_dir(const char *dir, struct err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc)
        return err_set(e, ERR_IO, "fsync %s: %s", dir, strerror(saved));
    return true;
}

/* mkdir that fsyncs the parent when it created the directory. */
static bool mkdir_durable(const char *dir, const char *parent, struct err *e)
{
    if (mkdir(dir, 0755) == 0)
        return files_fsync_dir(parent, e);
    if (errno == EEXIST)
        return true;
    return err_set(e, ERR_IO, "mkdir %s: %s", dir, strerror(errno));
}

/* ---- walking the files ---- */

/* The <sop>.dcm files of one series directory. */
static void walk_sops(const char *dir, const char *study, const char *series, files_fn fn,
                      void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *c;
    while ((c = readdir(d))) {
        size_t n = strlen(c->d_name);
        if (n < 5 || n > STORE_UID_MAX + 4 || strcmp(c->d_name + n - 4, ".dcm"))
            continue;
        char sop[STORE_UID_MAX + 1];
        memcpy(sop, c->d_name, n - 4);
        sop[n - 4] = 0;
        if (!store_uid_valid(sop))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, c->d_name);
        if (!fn(arg, study, series, sop, path))
            break;
    }
    closedir(d);
}

/* The study directories below instances/ (study NULL), or the series
 * directories of one study. */
static void walk_dirs(const char *dir, const char *study, files_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!store_uid_valid(de->d_name))
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        if (study)
            walk_sops(sub, study, de->d_name, fn, arg);
        else
            walk_dirs(sub, de->d_name, fn, arg);
    }
    closedir(d);
}

void files_walk(struct store *s, files_fn fn, void *arg)
{
    char top[PATH_MAX];
    snprintf(top, sizeof top, "%s/instances", s->dir);
    walk_dirs(top, NULL, fn, arg);
}

static bool count_fn(void *arg, const char *study, const char *series, const char *sop,
                     const char *path)
{
    (*(uint64_t *)arg)++;
    return true;
}

uint64_t files_count(struct store *s)
{
    uint64_t n = 0;
    files_walk(s, count_fn, &n);
    return n;
}

/* ---- tmp/ ---- */

static void tmp_clear(struct store *s)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/tmp", s->dir);
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", tmp, de->d_name);
        unlink(p);
    }
    closedir(d);
}

bool files_open(struct store *s, struct err *e)
{
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/instances", s->dir);
    if (!mkdir_durable(sub, s->dir, e))
        return false;
    snprintf(sub, sizeof sub, "%s/tmp", s->dir);
    if (!mkdir_durable(sub, s->dir, e))
        return false;
    tmp_clear(s); /* uploads cut short by a crash */
    return true;
}

bool store_tmp_create(struct store *s, char *path, size_t pathsz, int *fd, struct err *e)
{
    pthread_mutex_lock(&s->mu);
    unsigned long seq = ++s->tmp_seq;
    pthread_mutex_unlock(&s->mu);
    snprintf(path, pathsz, "%s/tmp/up-%ld-%lu-XXXXXX", s->dir, (long)getpid(), seq);
    *fd = mkostemp(path, O_CLOEXEC);
    if (*fd < 0)
        return err_set(e, err_code_from_errno(errno), "temp file in %s/tmp: %s", s->dir, strerror(errno));
    return true;
}

/* ---- put / delete ---- */

int files_same(const char *a, const char *b)
{
    struct stat sa, sb;
    if (stat(a, &sa) || stat(b, &sb))
        return -1;
    if (sa.st_size != sb.st_size)
        return 0;
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    int result = -1;
    enum { CHUNK = 1 << 16 };
    char *ba = malloc(CHUNK), *bb = malloc(CHUNK);
    if (fa < 0 || fb < 0 || !ba || !bb)
        goto out;
    for (;;) {
        ssize_t na = read(fa, ba, CHUNK);
        if (na < 0)
            goto out;
        if (na == 0) {
            result = 1;
            break;
        }
        size_t got = 0;
        while (got < (size_t)na) {
            ssize_t nb = read(fb, bb + got, (size_t)na - got);
            if (nb <= 0)
                goto out;
            got += (size_t)nb;
        }
        if (memcmp(ba, bb, (size_t)na)) {
            result = 0;
            break;
        }
    }
out:
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    free(ba);
    free(bb);
    return result;
}

bool files_commit(struct store *s, const char *tmp_path, const struct store_attrs *a,
                  const char *target, uint64_t *size, struct err *e)
{
    /* The bytes reach the disk before the name does. */
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, err_code_from_errno(errno), "open %s: %s", tmp_path, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) ? -1 : fsync(fd);
    int saved = errno;
    close(fd);
    if (rc)
        return err_set(e, saved == ENOSPC || saved == EDQUOT ? ERR_NO_SPACE : ERR_IO, "fsync %s: %s", tmp_path,
                       strerror(saved));

    char study_dir[PATH_MAX], series_dir[PATH_MAX], top[PATH_MAX];
    snprintf(top, sizeof top, "%s/instances", s->dir);
    snprintf(study_dir, sizeof study_dir, "%s/%s", top, a->study_uid);
    snprintf(series_dir, sizeof series_dir, "%s/%s", study_dir, a->series_uid);
    if (!mkdir_durable(study_dir, top, e) || !mkdir_durable(series_dir, study_dir, e))
        return false;
    if (rename(tmp_path, target))
        return err_set(e, ERR_IO, "rename into %s: %s", target, strerror(errno));
    if (!files_fsync_dir(series_dir, e))
        return false;
    *size = (uint64_t)st.st_size;
    return true;
}

void files_unlink_object(const char *path)
{
    unlink(path);
    size_t n = strlen(path);
    char side[PATH_MAX];
    if (n > 4 && n < sizeof side && !strcmp(path + n - 4, ".dcm")) {
        snprintf(side, sizeof side, "%.*s.idx", (int)(n - 4), path);
        unlink(side); /* its persisted index (store/seg_index.h), if any */
    }
}

void files_remove(struct store *s, const struct store_attrs *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], dir[PATH_MAX];
        files_instance_path(s, rows[i].study_uid, rows[i].series_uid, rows[i].sop_uid, path, sizeof path);
        files_unlink_object(path);
        snprintf(dir, sizeof dir, "%s/instances/%s/%s", s->dir, rows[i].study_uid, rows[i].series_uid);
        rmdir(dir); /* fails (fine) while not empty */
        snprintf(dir, sizeof dir, "%s/instances/%s", s->dir, rows[i].study_uid);
        rmdir(dir);
    }
    if (n) {
        char top[PATH_MAX];
        snprintf(top, sizeof top, "%s/instances", s->dir);
        files_fsync_dir(top, NULL);
    }
}
