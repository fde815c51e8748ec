/* The service's decoded-index cache (api_index_cache_new_persisted, api.h): the
 * generic common/file_cache.h with
 *   - a loader that takes an object of the store or of the pull-through object
 *     cache from its persisted index (store/seg_index.h), and parses (then
 *     persists) it only when that is missing, stale or damaged; /files paths are
 *     parsed, nothing is written beside them;
 *   - the descriptor budget: an index closed for the budget is reopened through
 *     the lookup's path (for /files the checked descriptor's /proc name), and
 *     must still be the file the entry was built from. */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/png_cache.h"
#include "api/pull.h"
#include "store/seg_index.h"

static void *index_load_persisted(void *arg, const char *path, size_t *bytes, struct err *e)
{
    const struct api_ctx *ctx = arg;
    struct seg_index *idx =
        store_seg_index_open(ctx->store, api_pull_objects(ctx->pull), path, ctx->stow_limits, NULL, e);
    if (idx)
        *bytes = idx->memory_bytes + sizeof *idx;
    return idx;
}

static void index_free(void *v)
{
    api_png_cache_forget(v); /* before the address can be reused (api/png_cache.h) */
    decoder_seg_free(v);
}

static void index_file_close(void *v) { decoder_seg_file_close(v); }

static bool index_file_reopen(void *v, const char *path, const struct file_id *id, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, err_code_from_errno(errno), "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_dev != id->dev || (uint64_t)st.st_ino != id->ino ||
        (uint64_t)st.st_size != id->size ||
        (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != id->mtime_ns) {
        close(fd);
        return err_set(e, ERR_NOT_FOUND, "%s changed", path);
    }
    decoder_seg_file_adopt(v, fd);
    return true;
}

struct file_cache *api_index_cache_new_persisted(size_t budget_bytes, size_t max_open, const struct api_ctx *ctx,
                                                 struct err *e)
{
    struct file_cache *c = file_cache_new(budget_bytes, index_load_persisted, index_free, (void *)ctx, e);
    if (c)
        file_cache_set_descriptors(c, max_open, index_file_close, index_file_reopen);
    return c;
}
