/* The upstream object cache (see cache_objects.h). Design note: one mutex
 * guards a hash table of entries and a doubly linked LRU list (head = most
 * recent). An entry is FILLING while one caller runs the fill outside the lock
 * (the others wait on the condition variable, holding a reference), READY once
 * its file is in objects/, and DEAD when dropped from the table while someone
 * still holds a reference (freed when the last one lets go). Files are only
 * unlinked for entries with no pin. */
#include "store/cache_objects.h"
#include "store/store.h" /* store_uid_valid: keys are UIDs */

#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/lru.h"

#define KEY_MAX 64
#define BUCKETS 4096

enum estate { E_FILLING, E_READY, E_DEAD };

struct entry {
    char key[KEY_MAX + 1];
    enum estate state;
    uint64_t bytes;      /* .dcm + side files */
    uint32_t pins;       /* successful gets not yet released */
    uint32_t refs;       /* pins + waiters + the filler + 1 while in the table */
    struct err fill_err; /* a failed fill's error, for the waiters */
    bool fill_failed;
    double atime;
    struct entry *hnext;
    struct lru_node lru; /* READY entries only */
};

struct store_cache {
    char dir[PATH_MAX - 200];
    uint64_t max_bytes;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *table[BUCKETS];
    struct lru_list lru;
    unsigned long tmp_seq;
    struct store_cache_stats st;
};

static unsigned hash(const char *k)
{
    unsigned h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h % BUCKETS;
}

static struct entry *find(struct store_cache *c, const char *key)
{
    for (struct entry *en = c->table[hash(key)]; en; en = en->hnext)
        if (!strcmp(en->key, key))
            return en;
    return NULL;
}

static void table_insert(struct store_cache *c, struct entry *en)
{
    unsigned h = hash(en->key);
    en->hnext = c->table[h];
    c->table[h] = en;
}

static void table_remove(struct store_cache *c, struct entry *en)
{
    struct entry **p = &c->table[hash(en->key)];
    while (*p && *p != en)
        p = &(*p)->hnext;
    if (*p)
        *p = en->hnext;
    en->hnext = NULL;
}

static void unref(struct entry *en)
{
    if (--en->refs == 0)
        free(en);
}

static void file_path(const struct store_cache *c, const char *key, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/objects/%s.%s", c->dir, key, suffix);
}

static void unlink_files(struct store_cache *c, const char *key)
{
    char p[PATH_MAX];
    file_path(c, key, "dcm", p, sizeof p);
    unlink(p);
    file_path(c, key, "idx", p, sizeof p);
    unlink(p);
}

/* Drops a READY entry from table, list and byte count; unlinks its files. */
static void drop(struct store_cache *c, struct entry *en)
{
    table_remove(c, en);
    lru_unlink(&c->lru, &en->lru);
    c->st.bytes -= en->bytes;
    c->st.entries--;
    unlink_files(c, en->key);
    en->state = E_DEAD;
    unref(en);
}

/* Evicts unpinned entries from the tail until under budget. */
static void evict(struct store_cache *c)
{
    struct lru_node *n = c->lru.tail;
    while (c->st.bytes > c->max_bytes && n) {
        struct lru_node *prev = n->prev;
        struct entry *en = LRU_ENTRY(n, struct entry, lru);
        if (!en->pins) {
            drop(c, en);
            c->st.evictions++;
        }
        n = prev;
    }
}

static void set_atime(const char *path)
{
    struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    utimensat(AT_FDCWD, path, ts, 0);
}

static bool mkdir_p(const char *path, struct err *e)
{
    if (mkdir(path, 0700) && errno != EEXIST)
        return err_set(e, ERR_IO, "mkdir %s: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return err_set(e, ERR_IO, "%s: not a directory", path);
    return true;
}

static int by_atime(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    return x->atime < y->atime ? -1 : x->atime > y->atime ? 1 : strcmp(x->key, y->key);
}

/* Takes in objects/: every <uid>.dcm (with its .idx), oldest access at the tail;
 * removes anything else. */
static bool scan(struct store_cache *c, struct err *e)
{
    char objdir[PATH_MAX];
    snprintf(objdir, sizeof objdir, "%s/objects", c->dir);
    DIR *d = opendir(objdir);
    if (!d)
        return err_set(e, ERR_IO, "opendir %s: %s", objdir, strerror(errno));
    struct entry **all = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    bool ok = true;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char key[KEY_MAX + 8];
        const char *dot = strrchr(de->d_name, '.');
        size_t klen = dot ? (size_t)(dot - de->d_name) : 0;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", objdir, de->d_name);
        if (!dot || klen > KEY_MAX || (strcmp(dot, ".dcm") && strcmp(dot, ".idx"))) {
            unlink(p);
            continue;
        }
        memcpy(key, de->d_name, klen);
        key[klen] = 0;
        if (!store_uid_valid(key)) {
            unlink(p);
            continue;
        }
        if (!strcmp(dot, ".idx")) {
            char dcm[PATH_MAX];
            file_path(c, key, "dcm", dcm, sizeof dcm);
            if (access(dcm, F_OK))
                unlink(p); /* a side file without its object */
            continue;
        }
        struct stat st;
        if (stat(p, &st) || !S_ISREG(st.st_mode)) {
            unlink(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            struct entry **grown = realloc(all, cap * sizeof *all);
            if (!grown) {
                ok = err_set(e, ERR_NOMEM, "cache: out of memory");
                break;
            }
            all = grown;
        }
        struct entry *en = calloc(1, sizeof *en);
        if (!en) {
            ok = err_set(e, ERR_NOMEM, "cache: out of memory");
            break;
        }
        memcpy(en->key, key, klen + 1);
        en->state = E_READY;
        en->refs = 1;
        en->bytes = (uint64_t)st.st_size;
        en->atime = (double)st.st_atim.tv_sec + (double)st.st_atim.tv_nsec / 1e9;
        all[n++] = en;
    }
    closedir(d);
    if (ok) {
        if (n)
            qsort(all, n, sizeof *all, by_atime);
        for (size_t i = 0; i < n; i++) {
            struct stat st;
            char side[PATH_MAX];
            file_path(c, all[i]->key, "idx", side, sizeof side);
            if (!stat(side, &st))
                all[i]->bytes += (uint64_t)st.st_size;
            table_insert(c, all[i]);
            lru_push_front(&c->lru, &all[i]->lru); /* newest ends at the head */
            c->st.bytes += all[i]->bytes;
            c->st.entries++;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            free(all[i]);
    }
    free(all);
    return ok;
}

struct store_cache *store_cache_open(const char *dir, uint64_t max_bytes, struct err *e)
{
    if (!max_bytes) {
        err_set(e, ERR_INVALID, "cache: the byte budget must be > 0");
        return NULL;
    }
    struct store_cache *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(e, ERR_NOMEM, "cache: out of memory");
        return NULL;
    }
    if (strlen(dir) >= sizeof c->dir) {
        err_set(e, ERR_INVALID, "cache directory path too long");
        free(c);
        return NULL;
    }
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->max_bytes = max_bytes;
    c->st.budget = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    char p[PATH_MAX];
    if (!mkdir_p(c->dir, e))
        goto fail;
    snprintf(p, sizeof p, "%s/objects", c->dir);
    if (!mkdir_p(p, e))
        goto fail;
    snprintf(p, sizeof p, "%s/tmp", c->dir);
    if (!mkdir_p(p, e))
        goto fail;
    DIR *d = opendir(p);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') {
                char f[PATH_MAX];
                snprintf(f, sizeof f, "%s/%s", p, de->d_name);
                unlink(f);
            }
        closedir(d);
    }
    if (!scan(c, e))
        goto fail;
    evict(c);
    return c;
fail:
    store_cache_close(c);
    return NULL;
}

void store_cache_close(struct store_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < BUCKETS; i++) {
        struct entry *en = c->table[i];
        while (en) {
            struct entry *next = en->hnext;
            free(en);
            en = next;
        }
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

bool store_cache_tmp(struct store_cache *c, char *path, size_t pathsz, int *fd, struct err *e)
{
    pthread_mutex_lock(&c->mu);
    unsigned long seq = ++c->tmp_seq;
    pthread_mutex_unlock(&c->mu);
    snprintf(path, pathsz, "%s/tmp/%ld-%lu.part", c->dir, (long)getpid(), seq);
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (*fd < 0)
        return err_set(e, err_code_from_errno(errno), "create %s: %s", path,
                       strerror(errno));
    return true;
}

/* Runs the fill for en (FILLING, referenced by the caller) outside the lock;
 * on success renames the object into place. Returns its size via *bytes. */
static bool run_fill(struct store_cache *c, const char *key, store_cache_fill_fn fill, void *arg,
                     uint64_t *bytes, struct err *e)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int fd;
    if (!store_cache_tmp(c, tmp, sizeof tmp, &fd, e))
        return false;
    bool ok = fill(arg, fd, tmp, c->max_bytes, e);
    struct stat st;
    if (ok && fstat(fd, &st))
        ok = err_set(e, ERR_IO, "stat %s: %s", tmp, strerror(errno));
    if (ok && (uint64_t)st.st_size > c->max_bytes)
        ok = err_set(e, ERR_LIMIT, "object of %lld bytes is larger than the cache (%llu bytes)",
                     (long long)st.st_size, (unsigned long long)c->max_bytes);
    if (ok && st.st_size == 0)
        ok = err_set(e, ERR_IO, "cache fill for %s wrote nothing", key);
    if (ok && fsync(fd))
        ok = err_set(e, errno == ENOSPC || errno == EDQUOT ? ERR_NO_SPACE : ERR_IO, "fsync %s: %s", tmp,
                     strerror(errno));
    if (close(fd) && ok)
        ok = err_set(e, ERR_IO, "close %s: %s", tmp, strerror(errno));
    if (ok) {
        file_path(c, key, "dcm", dst, sizeof dst);
        if (rename(tmp, dst))
            ok = err_set(e, ERR_IO, "rename %s: %s", dst, strerror(errno));
    }
    if (!ok) {
        unlink(tmp);
        return false;
    }
    *bytes = (uint64_t)st.st_size;
    return true;
}

bool store_cache_get(struct store_cache *c, const char *key, store_cache_fill_fn fill, void *arg,
                     char *path, size_t pathsz, enum store_cache_how *how, struct err *e)
{
    if (!store_uid_valid(key))
        return err_set(e, ERR_INVALID, "cache key '%.80s' is not a UID", key);
    char p[PATH_MAX];
    file_path(c, key, "dcm", p, sizeof p);
    if (strlen(p) >= pathsz)
        return err_set(e, ERR_INVALID, "cache: path buffer too small");
    pthread_mutex_lock(&c->mu);
    struct entry *en = find(c, key);
    if (en && en->state == E_READY) {
        en->pins++;
        en->refs++;
        lru_unlink(&c->lru, &en->lru);
        lru_push_front(&c->lru, &en->lru);
        c->st.hits++;
        pthread_mutex_unlock(&c->mu);
        set_atime(p);
        snprintf(path, pathsz, "%s", p);
        if (how)
            *how = STORE_CACHE_HIT;
        return true;
    }
    if (en) { /* FILLING: wait for it */
        c->st.misses++;
        c->st.shared++;
        en->refs++;
        while (en->state == E_FILLING)
            pthread_cond_wait(&c->cv, &c->mu);
        bool ok = en->state == E_READY;
        if (ok) {
            en->pins++; /* keeps the reference taken above */
        } else {
            if (e && e->code == ERR_OK)
                *e = en->fill_err;
            unref(en);
        }
        pthread_mutex_unlock(&c->mu);
        if (ok) {
            snprintf(path, pathsz, "%s", p);
            if (how)
                *how = STORE_CACHE_SHARED;
        }
        return ok;
    }
    if (!fill) { /* a probe: not a miss (the get that fills next counts it), or a pull counts twice */
        pthread_mutex_unlock(&c->mu);
        return err_set(e, ERR_NOT_FOUND, "%s is not in the cache", key);
    }
    c->st.misses++;
    en = calloc(1, sizeof *en);
    if (!en) {
        pthread_mutex_unlock(&c->mu);
        return err_set(e, ERR_NOMEM, "cache: out of memory");
    }
    snprintf(en->key, sizeof en->key, "%s", key);
    en->state = E_FILLING;
    en->refs = 2; /* the table, this filler */
    table_insert(c, en);
    c->st.fills++;
    pthread_mutex_unlock(&c->mu);

    uint64_t bytes = 0;
    struct err fe = ERR_INIT;
    bool ok = run_fill(c, key, fill, arg, &bytes, &fe);

    pthread_mutex_lock(&c->mu);
    if (ok) {
        en->state = E_READY;
        en->bytes = bytes;
        en->pins = 1; /* keeps the filler's reference */
        lru_push_front(&c->lru, &en->lru);
        c->st.bytes += bytes;
        c->st.entries++;
        evict(c);
    } else {
        en->fill_err = fe;
        en->state = E_DEAD;
        table_remove(c, en);
        c->st.fill_errors++;
        en->refs -= 2; /* the table's and the filler's; waiters may still hold theirs */
        if (!en->refs)
            free(en);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (!ok) {
        if (e && e->code == ERR_OK)
            *e = fe;
        return false;
    }
    snprintf(path, pathsz, "%s", p);
    if (how)
        *how = STORE_CACHE_FILLED;
    return true;
}

void store_cache_release(struct store_cache *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    struct entry *en = find(c, key);
    if (en && en->state == E_READY && en->pins) {
        en->pins--;
        unref(en);
        evict(c);
    }
    pthread_mutex_unlock(&c->mu);
}

void store_cache_remove(struct store_cache *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    struct entry *en = find(c, key);
    if (en && en->state == E_READY) {
        /* pins stay counted on the dead entry; their releases find nothing */
        uint32_t pins = en->pins;
        en->pins = 0;
        en->refs -= pins;
        drop(c, en);
    }
    pthread_mutex_unlock(&c->mu);
}

bool store_cache_side_path(struct store_cache *c, const char *key, const char *suffix, char *path,
                           size_t pathsz, struct err *e)
{
    if (!store_uid_valid(key))
        return err_set(e, ERR_INVALID, "cache key '%.80s' is not a UID", key);
    if (strcmp(suffix, "idx"))
        return err_set(e, ERR_INVALID, "cache: unknown side file .%s", suffix);
    char p[PATH_MAX];
    file_path(c, key, suffix, p, sizeof p);
    if (strlen(p) >= pathsz)
        return err_set(e, ERR_INVALID, "cache: path buffer too small");
    snprintf(path, pathsz, "%s", p);
    return true;
}

bool store_cache_side_put(struct store_cache *c, const char *key, const char *suffix, const char *tmp_path,
                          struct err *e)
{
    char dst[PATH_MAX];
    if (!store_cache_side_path(c, key, suffix, dst, sizeof dst, e)) {
        unlink(tmp_path);
        return false;
    }
    struct stat st;
    if (stat(tmp_path, &st)) {
        err_set(e, ERR_IO, "stat %s: %s", tmp_path, strerror(errno));
        unlink(tmp_path);
        return false;
    }
    pthread_mutex_lock(&c->mu);
    struct entry *en = find(c, key);
    bool ok = en && en->state == E_READY;
    if (!ok) {
        err_set(e, ERR_NOT_FOUND, "%s is not in the cache", key);
    } else {
        struct stat old;
        uint64_t old_bytes = stat(dst, &old) ? 0 : (uint64_t)old.st_size;
        if (rename(tmp_path, dst)) {
            ok = err_set(e, ERR_IO, "rename %s: %s", dst, strerror(errno));
        } else {
            en->bytes = en->bytes - old_bytes + (uint64_t)st.st_size;
            c->st.bytes = c->st.bytes - old_bytes + (uint64_t)st.st_size;
            evict(c);
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (!ok)
        unlink(tmp_path);
    return ok;
}

void store_cache_stats_get(struct store_cache *c, struct store_cache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
