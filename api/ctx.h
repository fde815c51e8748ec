/* The shared context of every api handler: what the server wires up once at start
 * (server/serve.c) and every request reads. Handlers take it as their first argument;
 * no handler includes another handler's header to reach it. */
#ifndef SEGWEB_API_CTX_H
#define SEGWEB_API_CTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

struct file_cache;
struct api_pull;
struct api_resource;
struct seg_limits;
struct store;

/* Maps a store route's instance resource to the path of its file. Until the
 * store exists the service plugs in api_store_lookup_none (404). */
typedef bool (*api_store_lookup_fn)(void *arg, const struct api_resource *res, char *path,
                                    size_t pathsz, struct err *e);

/* Appends the Prometheus text exposition to out. */
typedef bool (*api_metrics_fn)(void *arg, struct buf *out, struct err *e);

struct api_ctx {
    struct file_cache *cache;          /* of struct seg_index, see api_index_cache_new() */
    const char *files_root;           /* realpath of --files-root, or NULL: /files is 404 */
    struct store *store;              /* the instance store (DICOMweb routes), or NULL */
    const struct seg_limits *stow_limits; /* object limits STOW validates with; NULL: defaults */
    size_t stow_max_parts;            /* --max-parts: parts in one STOW upload; 0: 1 */
    api_store_lookup_fn store_lookup;
    void *store_arg;
    api_metrics_fn metrics;
    void *metrics_arg;
    const char *cors_origins;         /* "" none, "*" any, or comma-separated origins */
    size_t gzip_min_bytes;            /* JSON bodies smaller than this are not compressed */
    size_t max_json_bytes;            /* --max-json-bytes: larger JSON answers are refused (413); 0: no limit */
    atomic_bool ready;                /* /readyz: true once serving, false while draining */
    struct api_pull *pull;            /* --upstream: pull-through (api/pull.h), or NULL */
    const char *url_base;             /* --public-url + --base-path: the prefix of the URLs we write ("" none) */
};

#endif
