/* SOP Instance UID -> file, in the store and the files root (api/uid_locate.h).
 *
 * The files-root index is a sorted array of (uid, relative path), rebuilt as a
 * whole and swapped under a mutex; lookups binary-search it under the same
 * mutex (a scan of a few hundred files takes milliseconds; lookups are rare:
 * once per page load and per burned-in render). */
#include "api/uid_locate.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/file_cache.h"
#include "api/ctx.h"
#include "render/render.h"
#include "store/store.h"

struct entry {
    char uid[RENDER_UID_MAX + 1];
    char *rel;
};

static struct {
    pthread_mutex_t lock;
    struct entry *items;
    size_t n;
    char root[PATH_MAX];
    time_t scanned; /* 0: never */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct scan {
    struct entry *items;
    size_t n, cap, files;
};

static void entries_free(struct entry *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].rel);
    free(items);
}

static int by_uid(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->uid, ((const struct entry *)b)->uid);
}

static void walk(const char *root, const char *rel, int depth, struct scan *s)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof dir)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) && s->files < API_UID_SCAN_FILES) {
        if (de->d_name[0] == '.')
            continue;
        char child[PATH_MAX], full[PATH_MAX];
        if (snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= (int)sizeof child ||
            snprintf(full, sizeof full, "%s/%s", root, child) >= (int)sizeof full)
            continue;
        struct stat st;
        if (lstat(full, &st))
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < API_UID_SCAN_DEPTH)
                walk(root, child, depth + 1, s);
            continue;
        }
        if (!S_ISREG(st.st_mode) || st.st_size < 132)
            continue;
        s->files++;
        struct render_source_info info;
        struct err e = ERR_INIT;
        if (!render_source_probe(full, &info, &e) || !info.sop_instance_uid[0])
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            struct entry *items = realloc(s->items, cap * sizeof *items);
            if (!items)
                continue;
            s->items = items;
            s->cap = cap;
        }
        char *copy = strdup(child);
        if (!copy)
            continue;
        snprintf(s->items[s->n].uid, sizeof s->items[s->n].uid, "%s", info.sop_instance_uid);
        s->items[s->n].rel = copy;
        s->n++;
    }
    closedir(d);
}

/* Called with g.lock held. */
static void rescan(const char *root)
{
    struct scan s = {0};
    walk(root, "", 0, &s);
    qsort(s.items, s.n, sizeof *s.items, by_uid);
    entries_free(g.items, g.n);
    g.items = s.items;
    g.n = s.n;
    snprintf(g.root, sizeof g.root, "%s", root);
    g.scanned = time(NULL);
}

static bool find_file(const char *root, const char *uid, char *rel, size_t relsz)
{
    bool found = false;
    pthread_mutex_lock(&g.lock);
    for (int attempt = 0; attempt < 2 && !found; attempt++) {
        bool stale = !g.scanned || strcmp(g.root, root) ||
                     (attempt == 1 && time(NULL) - g.scanned >= API_UID_RESCAN_SECONDS);
        if (attempt == 1 && !stale)
            break;
        if (stale)
            rescan(root);
        struct entry key;
        snprintf(key.uid, sizeof key.uid, "%s", uid);
        struct entry *hit = bsearch(&key, g.items, g.n, sizeof *g.items, by_uid);
        if (hit) {
            snprintf(rel, relsz, "%s", hit->rel);
            found = true;
        }
    }
    pthread_mutex_unlock(&g.lock);
    return found;
}

void api_uid_index_reset(void)
{
    pthread_mutex_lock(&g.lock);
    entries_free(g.items, g.n);
    g.items = NULL;
    g.n = 0;
    g.scanned = 0;
    pthread_mutex_unlock(&g.lock);
}

bool api_file_url(const char *relpath, char *out, size_t outsz, struct err *e)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    const char *prefix = "files/";
    for (const char *p = prefix; *p; p++) {
        if (j + 1 >= outsz)
            return err_set(e, ERR_LIMIT, "URL too long");
        out[j++] = *p;
    }
    for (const unsigned char *p = (const unsigned char *)relpath; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                     strchr("-._~/", *p);
        if (j + (plain ? 1 : 3) >= outsz)
            return err_set(e, ERR_LIMIT, "URL too long");
        if (plain) {
            out[j++] = (char)*p;
        } else {
            out[j++] = '%';
            out[j++] = hex[*p >> 4];
            out[j++] = hex[*p & 15];
        }
    }
    out[j] = 0;
    return true;
}

struct store_hit {
    struct store_attrs a;
    bool found;
};

static bool store_row(void *arg, const struct store_row *row, struct err *e)
{
    struct store_hit *h = arg;
    h->a = row->a;
    h->found = true;
    return true;
}

bool api_uid_locate(struct api_ctx *ctx, const char *sop_uid, struct api_located *out,
                    struct err *e)
{
    memset(out, 0, sizeof *out);
    if (!store_uid_valid(sop_uid))
        return err_set(e, ERR_PARSE, "'%.64s' is not a UID", sop_uid);
    if (ctx->store) {
        struct store_filter f = {STORE_KEY_SOP_UID, STORE_MATCH_LIST, sop_uid};
        struct store_hit h = {0};
        struct err se = ERR_INIT;
        if (store_search(ctx->store, STORE_LEVEL_INSTANCE, &f, 1, 1, 0, store_row, &h, &se) &&
            h.found &&
            store_instance_path(ctx->store, h.a.study_uid, h.a.series_uid, h.a.sop_uid, out->path,
                                sizeof out->path, &se)) {
            out->kind = API_RES_STORE;
            snprintf(out->url, sizeof out->url, "studies/%s/series/%s/instances/%s", h.a.study_uid,
                     h.a.series_uid, h.a.sop_uid);
            return true;
        }
    }
    if (ctx->files_root) {
        char rel[PATH_MAX];
        if (find_file(ctx->files_root, sop_uid, rel, sizeof rel)) {
            if (snprintf(out->path, sizeof out->path, "%s/%s", ctx->files_root, rel) >=
                (int)sizeof out->path)
                return err_set(e, ERR_LIMIT, "path too long");
            out->kind = API_RES_FILE;
            return api_file_url(rel, out->url, sizeof out->url, e);
        }
    }
    return err_set(e, ERR_NOT_FOUND, "instance %s is not in the store%s", sop_uid,
                   ctx->files_root ? " nor under the files root" : " (and path requests are off)");
}
