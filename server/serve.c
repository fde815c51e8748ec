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

int serve_main(int argc, char **argv)
{
    static struct config cfg;
    static char files_root[PATH_MAX];
    static struct api_ctx ctx;
    struct err e = ERR_INIT;
    bool help = false;
    int rc = 1;
    struct threadpool *tp = NULL;
    struct metrics *m = NULL;
    struct http_server *srv = NULL;
    struct store *store = NULL;
    int listen_fd = -1;

    if (!config_load(&cfg, argc, argv, &help, &e)) {
        fprintf(stderr, "segweb serve: %s\n", e.msg);
        return 2;
    }
    if (help) {
        config_help_print(stdout);
        return 0;
    }
    enum log_level lvl;
    if (!log_level_parse(cfg.log_level, &lvl)) {
        fprintf(stderr, "segweb serve: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    log_level_set(lvl);
    unsigned delay = 0;
    const char *d = getenv("SEGWEB_TEST_DELAY_MS");
    if (d && *d)
        delay = (unsigned)strtoul(d, NULL, 10);

    /* Signals: blocked here so every thread started below inherits the mask,
     * and taken synchronously with sigwait() at the end. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP); /* logged and ignored below (docs/HTTP.md) */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg.files_root[0]) {
        if (!api_path_root_resolve(cfg.files_root, files_root, sizeof files_root, &e)) {
            log_msg(LOG_ERROR, "--files-root: %s", e.msg);
            return 1;
        }
        ctx.files_root = files_root;
    }
    /* Descriptors: every cached index and every connection holds one; the soft
     * limit (often 1024) is raised to the hard one, which is what the admin allows. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        rlim_t was = nofile.rlim_cur;
        nofile.rlim_cur = nofile.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nofile) == 0)
            log_msg(LOG_INFO, "open files limit raised from %llu to %llu", (unsigned long long)was,
                    (unsigned long long)nofile.rlim_max);
    }
    /* The address first: a taken port fails here, once, before the store is
     * opened (and maybe rebuilt). */
    listen_fd = http_listen(cfg.listen, &e);
    if (listen_fd < 0)
        goto out;
    /* The instance store: a missing, corrupt or stale index is rebuilt from the files. */
    bool rebuilt = false;
    store = store_open(cfg.store, cfg.overwrite != 0, api_store_attrs_file, NULL, &rebuilt, &e);
    if (!store) {
        err_prefix(&e, "--store %s", cfg.store);
        goto out;
    }
    if (*store_note(store))
        log_msg(LOG_WARN, "store %s: %s", cfg.store, store_note(store));
    if (rebuilt) {
        uint64_t n = 0;
        store_count(store, &n, NULL);
        log_msg(LOG_INFO, "store %s: index rebuilt from the files (%llu instances)", cfg.store,
                (unsigned long long)n);
    }

    /* Object limits (--max-frame-pixels, --max-frames, --max-frame-bytes, --max-inflated-bytes), enforced by the
     * decoder for every index the cache builds; lives until the cache is freed below. */
    struct seg_limits limits = {cfg.max_frame_pixels, cfg.max_frames, cfg.max_frame_bytes, cfg.max_inflated_bytes};
    ctx.cache = api_index_cache_new_limited((size_t)cfg.cache_mb << 20, &limits, &e);
    if (!ctx.cache)
        goto out;
    api_png_cache_configure((size_t)cfg.png_cache_mb << 20);
    ctx.store = store;
    ctx.stow_limits = &limits;
    ctx.stow_max_parts = cfg.max_parts;
    ctx.store_lookup = api_store_lookup_store;
    ctx.store_arg = store;
    ctx.cors_origins = cfg.cors_origin;
    ctx.gzip_min_bytes = 256;
    ctx.max_json_bytes = cfg.max_json_bytes;
    api_volume_limits_set(cfg.max_total_pixels);
    atomic_init(&ctx.ready, false);
    static char url_base[sizeof cfg.public_url + sizeof cfg.base_path];
    snprintf(url_base, sizeof url_base, "%s%s", cfg.public_url, cfg.base_path);
    ctx.url_base = url_base;
    if (cfg.upstream[0]) {
        uint64_t cache_bytes = 0;
        config_bytes_parse(cfg.cache_max_bytes, &cache_bytes); /* checked by config_load */
        struct api_pull_config pc = {
            .url = cfg.upstream,
            .token_file = cfg.upstream_token_file,
            .basic_file = cfg.upstream_basic_file,
            .ca_file = cfg.upstream_ca_file,
            .connect_timeout_ms = cfg.upstream_timeout_ms,
            .read_timeout_ms = cfg.upstream_read_timeout_ms,
            .retries = cfg.upstream_retries,
            .concurrency = cfg.upstream_concurrency,
            .cache_dir = cfg.cache_dir,
            .cache_max_bytes = cache_bytes,
            .limits = &limits,
            .max_json_bytes = cfg.max_json_bytes,
        };
        ctx.pull = api_pull_new(&pc, &e);
        if (!ctx.pull)
            goto out;
        struct err pe = ERR_INIT;
        if (!api_pull_ping(ctx.pull, &pe))
            log_msg(LOG_WARN, "upstream %s is not answering yet: %s", cfg.upstream, pe.msg);
    }

    tp = threadpool_new(cfg.workers, cfg.queue, &e);
    if (!tp)
        goto out;
    m = metrics_new(ctx.cache, tp);
    if (!m) {
        err_set(&e, ERR_NOMEM, "out of memory for metrics");
        goto out;
    }
    ctx.metrics = metrics_render;
    ctx.metrics_arg = m;

    config_print(&cfg, stderr);
    srv = http_server_start(&cfg, &ctx, tp, m, delay, listen_fd, &e);
    listen_fd = -1; /* the server's now, also on failure */
    if (!srv)
        goto out;
    log_msg(LOG_INFO, "listening on %s (port %u)%s", cfg.listen, http_server_port(srv),
            delay ? " [test delay on]" : "");
    atomic_store(&ctx.ready, true);

    int sig = 0;
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        /* No configuration file to reload and logs go to stderr (nothing to
         * reopen): SIGHUP, e.g. from a closing terminal, must not stop the service. */
        log_msg(LOG_INFO, "SIGHUP: ignored (segweb has no configuration to reload; logs go to stderr)");
    }
    log_msg(LOG_INFO, "signal %d: draining (stop accepting, finish requests in flight)", sig);
    atomic_store(&ctx.ready, false);
    http_server_drain(srv, DRAIN_TIMEOUT_S);
    threadpool_stop(tp); /* finishes queued jobs; later submits get 503 */
    rc = 0;
out:
    if (e.code != ERR_OK)
        log_msg(LOG_ERROR, "%s", e.msg);
    if (listen_fd >= 0)
        close(listen_fd);
    http_server_stop(srv);
    threadpool_free(tp);
    metrics_free(m);
    file_cache_free(ctx.cache);
    api_pull_free(ctx.pull);
    store_close(store);
    api_png_cache_configure(0);
    if (rc == 0)
        log_msg(LOG_INFO, "stopped");
    return rc;
}
