/* Prometheus metrics of the service: requests by route and status, a latency
 * histogram by route, in-flight requests, queue depth, busy workers, and the
 * index cache (hits, misses, bytes, entries, index time). Thread-safe. */
#ifndef SEGWEB_SERVER_METRICS_H
#define SEGWEB_SERVER_METRICS_H

#include <stdbool.h>

#include "api/api.h"
#include "common/buf.h"
#include "common/threadpool.h"

struct metrics;

/* New metrics reading gauges from cache and tp (borrowed; either may be NULL). */
struct metrics *metrics_new(struct file_cache *cache, struct threadpool *tp);
void metrics_free(struct metrics *m);

void metrics_request_begin(struct metrics *m);
/* route: the request's row of the route table (NULL: none); counted by its name. */
void metrics_request_end(struct metrics *m, const struct api_route *route, int status,
                         double seconds);
void metrics_rejected_inc(struct metrics *m); /* 503: queue full */

/* api_metrics_fn for struct api_ctx: appends the text exposition. */
bool metrics_render(void *m, struct buf *out, struct err *e);

#endif
