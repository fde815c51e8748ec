/* Pull-through from an upstream DICOMweb archive (--upstream): what the api
 * needs when a request names a study, series or instance the store does not
 * hold.
 *
 *   api_pull_classify()  is the instance a SEG? (the upstream's instance-level
 *                        QIDO, remembered in a bounded table)
 *   api_pull_seg()       a SEG pulled whole (transfer-syntax=*, never
 *                        transcoded) into the object cache (store/cache_objects.h),
 *                        single flight per instance, checked with the decoder
 *                        (limits, UIDs equal to the URL's) before it is kept;
 *                        the path comes back pinned
 *   api_pull_json()      a JSON answer of the upstream (QIDO, metadata), bounded
 *
 * Errors: ERR_NOT_FOUND when the upstream has no such object (404), ERR_UPSTREAM
 * for anything the upstream did wrong (unreachable, 5xx, garbage, truncated,
 * wrong media type, UIDs that differ from the URL, too large), ERR_TIMEOUT when
 * it did not answer in time. Nothing is cached on any error.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef SEGWEB_API_PULL_H
#define SEGWEB_API_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

struct seg_limits;
struct upstream;
struct store_cache;

struct api_pull_config {
    const char *url;         /* base URL of the upstream's DICOMweb root */
    const char *token_file;  /* "" or NULL: none */
    const char *basic_file;
    const char *ca_file;
    uint32_t connect_timeout_ms, read_timeout_ms, retries, concurrency;
    const char *cache_dir;   /* the object cache's directory */
    uint64_t cache_max_bytes;
    const struct seg_limits *limits; /* borrowed, must outlive the pull; NULL: defaults */
    uint64_t max_json_bytes; /* bound of an upstream JSON answer; 0: 64 MiB */
};

struct api_pull;

/* Opens the object cache and the upstream client. NULL with e set. */
struct api_pull *api_pull_new(const struct api_pull_config *cfg, struct err *e);
/* NULL is fine. No request may be in flight. */
void api_pull_free(struct api_pull *p);

/* The upstream's base URL (borrowed). */
const char *api_pull_url(const struct api_pull *p);

/* Whether the upstream's instance study/series/sop is a SEG (its SOP Class
 * UID). ERR_NOT_FOUND when the upstream does not list it. */
bool api_pull_classify(struct api_pull *p, const char *study, const char *series, const char *sop, bool *is_seg,
                       struct err *e);

/* The cached file of the SEG study/series/sop, pulled on a miss; pinned:
 * call api_pull_release(p, sop) when done with path. *pulled (may be NULL) is
 * true when this call (or one it waited for) went to the upstream. */
bool api_pull_seg(struct api_pull *p, const char *study, const char *series, const char *sop, char *path,
                  size_t pathsz, bool *pulled, struct err *e);
void api_pull_release(struct api_pull *p, const char *sop);

/* The object cache (for its persisted indexes, store/seg_index.h); NULL for p NULL. */
struct store_cache *api_pull_objects(struct api_pull *p);

/* Whether the SEG sop is in the object cache (no upstream request). Pins like
 * api_pull_seg when it is. */
bool api_pull_cached(struct api_pull *p, const char *sop, char *path, size_t pathsz);

/* GET path_query (starting with '/') from the upstream with Accept
 * application/dicom+json; the body into out (bounded). *status gets the
 * upstream's status; 204 gives an empty body. */
bool api_pull_json(struct api_pull *p, const char *path_query, struct buf *out, long *status, struct err *e);

/* The client itself, for streamed proxying (borrowed). */
struct upstream *api_pull_upstream(struct api_pull *p);

/* GET /studies?limit=1 of the upstream: true when it answered 2xx (sets the state). */
bool api_pull_ping(struct api_pull *p, struct err *e);

/* "up", "down" or "unknown": the state of the last upstream exchange. */
const char *api_pull_state(struct api_pull *p);

/* Prometheus text: segweb_upstream_* (requests, bytes, errors, retries,
 * latency histogram, state) and segweb_upstream_cache_* (hits, misses,
 * evictions, bytes, budget, pulls). Appends to out. */
bool api_pull_metrics(struct api_pull *p, struct buf *out, struct err *e);

/* Maps an upstream failure to ERR_UPSTREAM / ERR_TIMEOUT (for proxy code). */
struct upstream_reply;
bool api_pull_fail(const struct upstream_reply *r, struct err *e);

#endif
