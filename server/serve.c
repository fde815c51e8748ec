/* `segweb serve`: wires config, cache, worker pool, metrics and the HTTP
 * server together, then waits for SIGTERM/SIGINT. Shutdown: /readyz turns
 * 503, the listening socket closes, requests in flight finish, exit 0.
 *
 * Test hook: SEGWEB_TEST_DELAY_MS=N makes every worker job sleep N ms first
 * (used by tests/e2e to fill the queue deterministically; not for production). */
#include "server/serve.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "common/log.h"
#include "common/threadpool.h"
#include "server/config.h"
#include "server/http.h"
#include "server/metrics.h"

#define DRAIN_TIMEOUT_S 30

/* Everything serve_main() starts, in start order; stopped in reverse by stop(). */
struct service {
    struct config cfg;
    char files_root[PATH_MAX];
    struct api_ctx ctx;
    struct seg_limits limits; /* borrowed by the index cache and STOW: lives as long */
    size_t index_fds;         /* the index cache's descriptor budget (raise_nofile) */
    struct store *store;
    struct threadpool *tp;
    struct metrics *m;
    struct http_server *srv;
    int listen_fd; /* bound before the store opens; the server's once started */
    char url_base[sizeof ((struct config *)0)->public_url + sizeof ((struct config *)0)->base_path];
    unsigned test_delay_ms;
};

/* Flags and environment. Returns -1 to go on, else the exit status (help, usage). */
static int configure(struct service *sv, int argc, char **argv)
{
    struct err e = ERR_INIT;
    bool help = false;
    if (!config_load(&sv->cfg, argc, argv, &help, &e)) {
        fprintf(stderr, "segweb serve: %s\n", e.msg);
        return 2;
    }
    if (help) {
        config_help_print(stdout);
        return 0;
    }
    enum log_level lvl;
    if (!log_level_parse(sv->cfg.log_level, &lvl)) {
        fprintf(stderr, "segweb serve: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    log_level_set(lvl);
    const char *d = getenv("SEGWEB_TEST_DELAY_MS");
    if (d && *d)
        sv->test_delay_ms = (unsigned)strtoul(d, NULL, 10);
    return -1;
}

/* Descriptors: every connection holds one, and so does every cached index until
 * the cache's descriptor budget closes it; the soft limit (often 1024) is raised
 * to the hard one, which is what the admin allows. Half of it is the index
 * cache's budget (sv->index_fds), the other half is for connections, uploads,
 * retrieves, SQLite and the object cache. */
static void raise_nofile(struct service *sv)
{
    struct rlimit nofile;
    sv->index_fds = 512;
    if (getrlimit(RLIMIT_NOFILE, &nofile) != 0)
        return;
    if (nofile.rlim_cur < nofile.rlim_max) {
        rlim_t was = nofile.rlim_cur;
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) == 0)
            log_msg(LOG_INFO, "open files limit raised from %llu to %llu", (unsigned long long)was,
                    (unsigned long long)nofile.rlim_max);
        else
            nofile.rlim_cur = was;
    }
    rlim_t half = nofile.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 21 : nofile.rlim_cur / 2;
    sv->index_fds = half < 8 ? 8 : half > ((rlim_t)1 << 20) ? (size_t)1 << 20 : (size_t)half;
}

/* The address first: a taken port fails here, once, before the store is opened
 * (and maybe rebuilt). */
static bool bind_listen(struct service *sv, struct err *e)
{
    sv->listen_fd = http_listen(sv->cfg.listen, e);
    return sv->listen_fd >= 0;
}

/* The instance store: a missing, corrupt or stale index is rebuilt from the files. */
static bool open_store(struct service *sv, struct err *e)
{
    bool rebuilt = false;
    sv->store = store_open(sv->cfg.store, sv->cfg.overwrite != 0, api_store_attrs_file, NULL,
                           &rebuilt, e);
    if (!sv->store) {
        err_prefix(e, "--store %s", sv->cfg.store);
        return false;
    }
    if (*store_note(sv->store))
        log_msg(LOG_WARN, "store %s: %s", sv->cfg.store, store_note(sv->store));
    if (rebuilt) {
        uint64_t n = 0;
        store_count(sv->store, &n, NULL);
        log_msg(LOG_INFO, "store %s: index rebuilt from the files (%llu instances)", sv->cfg.store,
                (unsigned long long)n);
    }
    return true;
}

/* --files-root: its real path, checked once (api/path_confine.h). */
static bool resolve_files_root(struct service *sv, struct err *e)
{
    if (!sv->cfg.files_root[0])
        return true;
    if (!api_path_root_resolve(sv->cfg.files_root, sv->files_root, sizeof sv->files_root, e)) {
        err_prefix(e, "--files-root");
        return false;
    }
    sv->ctx.files_root = sv->files_root;
    return true;
}

/* The api context: index cache (under the object limits --max-frame-pixels,
 * --max-frames, --max-frame-bytes, --max-inflated-bytes), store, CORS, JSON limits. */
static bool wire_api(struct service *sv, struct err *e)
{
    const struct config *cfg = &sv->cfg;
    struct api_ctx *ctx = &sv->ctx;
    sv->limits = (struct seg_limits){cfg->max_frame_pixels, cfg->max_frames, cfg->max_frame_bytes,
                                     cfg->max_inflated_bytes};
    /* objects of the store and the object cache come from their persisted indexes */
    ctx->cache = api_index_cache_new_persisted((size_t)cfg->cache_mb << 20, sv->index_fds, ctx, e);
    if (!ctx->cache)
        return false;
    api_png_cache_configure((size_t)cfg->png_cache_mb << 20);
    ctx->store = sv->store;
    ctx->stow_limits = &sv->limits;
    ctx->stow_max_parts = cfg->max_parts;
    ctx->store_lookup = api_store_lookup_store;
    ctx->store_arg = sv->store;
    ctx->cors_origins = cfg->cors_origin;
    ctx->gzip_min_bytes = 256;
    ctx->max_json_bytes = cfg->max_json_bytes;
    api_volume_limits_set(cfg->max_total_pixels);
    atomic_init(&ctx->ready, false);
    snprintf(sv->url_base, sizeof sv->url_base, "%s%s", cfg->public_url, cfg->base_path);
    ctx->url_base = sv->url_base;
    return true;
}

/* --upstream: the pull-through client (api/pull.h); an archive that does not answer
 * yet is logged, not fatal. */
static bool wire_upstream(struct service *sv, struct err *e)
{
    const struct config *cfg = &sv->cfg;
    if (!cfg->upstream[0])
        return true;
    uint64_t cache_bytes = 0;
    config_bytes_parse(cfg->cache_max_bytes, &cache_bytes); /* checked by config_load */
    struct api_pull_config pc = {
        .url = cfg->upstream,
        .token_file = cfg->upstream_token_file,
        .basic_file = cfg->upstream_basic_file,
        .ca_file = cfg->upstream_ca_file,
        .connect_timeout_ms = cfg->upstream_timeout_ms,
        .read_timeout_ms = cfg->upstream_read_timeout_ms,
        .retries = cfg->upstream_retries,
        .concurrency = cfg->upstream_concurrency,
        .cache_dir = cfg->cache_dir,
        .cache_max_bytes = cache_bytes,
        .limits = &sv->limits,
        .max_json_bytes = cfg->max_json_bytes,
    };
    sv->ctx.pull = api_pull_new(&pc, e);
    if (!sv->ctx.pull)
        return false;
    struct err pe = ERR_INIT;
    if (!api_pull_ping(sv->ctx.pull, &pe))
        log_msg(LOG_WARN, "upstream %s is not answering yet: %s", cfg->upstream, pe.msg);
    return true;
}

/* Worker pool, metrics, then the HTTP server. */
static bool start(struct service *sv, struct err *e)
{
    sv->tp = threadpool_new(sv->cfg.workers, sv->cfg.queue, e);
    if (!sv->tp)
        return false;
    sv->m = metrics_new(sv->ctx.cache, sv->tp);
    if (!sv->m)
        return err_set(e, ERR_NOMEM, "out of memory for metrics");
    sv->ctx.metrics = metrics_render;
    sv->ctx.metrics_arg = sv->m;
    config_print(&sv->cfg, stderr);
    sv->srv = http_server_start(&sv->cfg, &sv->ctx, sv->tp, sv->m, sv->test_delay_ms, sv->listen_fd, e);
    sv->listen_fd = -1; /* the server's now, also on failure */
    if (!sv->srv)
        return false;
    log_msg(LOG_INFO, "listening on %s (port %u)%s", sv->cfg.listen, http_server_port(sv->srv),
            sv->test_delay_ms ? " [test delay on]" : "");
    return true;
}

static void stop(struct service *sv)
{
    if (sv->listen_fd >= 0)
        close(sv->listen_fd);
    http_server_stop(sv->srv);
    threadpool_free(sv->tp);
    metrics_free(sv->m);
    file_cache_free(sv->ctx.cache);
    api_pull_free(sv->ctx.pull);
    store_close(sv->store);
    api_png_cache_configure(0);
}

/* Waits for SIGTERM or SIGINT and returns it. No configuration file to reload and
 * logs go to stderr (nothing to reopen): SIGHUP, e.g. from a closing terminal, must
 * not stop the service. */
static int wait_signal(const sigset_t *sigs)
{
    int sig = 0;
    for (;;) {
        if (sigwait(sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        log_msg(LOG_INFO, "SIGHUP: ignored (segweb has no configuration to reload; logs go to stderr)");
    }
}

int serve_main(int argc, char **argv)
{
    static struct service sv;
    sv.listen_fd = -1;
    int rc = configure(&sv, argc, argv);
    if (rc >= 0)
        return rc;
    rc = 1;

    /* Signals: blocked here so every thread started below inherits the mask,
     * and taken synchronously with sigwait() at the end. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP); /* logged and ignored below (docs/HTTP.md) */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct err e = ERR_INIT;
    bool files_ok = resolve_files_root(&sv, &e);
    if (files_ok)
        raise_nofile(&sv);
    if (files_ok && bind_listen(&sv, &e) && open_store(&sv, &e) && wire_api(&sv, &e) &&
        wire_upstream(&sv, &e) && start(&sv, &e)) {
        atomic_store(&sv.ctx.ready, true);
        int sig = wait_signal(&sigs);
        log_msg(LOG_INFO, "signal %d: draining (stop accepting, finish requests in flight)", sig);
        atomic_store(&sv.ctx.ready, false);
        http_server_drain(sv.srv, DRAIN_TIMEOUT_S);
        threadpool_stop(sv.tp); /* finishes queued jobs; later submits get 503 */
        rc = 0;
    }
    if (e.code != ERR_OK)
        log_msg(LOG_ERROR, "%s", e.msg);
    stop(&sv);
    if (rc == 0)
        log_msg(LOG_INFO, "stopped");
    return rc;
}
