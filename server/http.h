/* libmicrohttpd glue: the only file that includes microhttpd.h.
 *
 * Per request: the URI-log callback allocates the exchange (request state)
 * with the raw request target; the access handler copies the headers, counts
 * at most --max-body body bytes (to the route's body sink, api_body_*, or
 * discarded), routes (api/api.h: api_request_route), and then
 * either answers on the HTTP thread (health, metrics, errors) or suspends the
 * connection and queues a job. The worker runs api_handle() and resumes the
 * connection; the access handler, called again, queues the response; the
 * completion callback logs the access line, records metrics and frees the
 * exchange. HTTP threads never decode. A full queue is 503 + Retry-After. */
#ifndef SEGWEB_SERVER_HTTP_H
#define SEGWEB_SERVER_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "common/err.h"
#include "common/threadpool.h"
#include "server/config.h"
#include "server/metrics.h"

struct http_server;

/* Binds and listens on "host:port" (--listen): the descriptor, or -1 with e
 * naming the real cause ("Address already in use"). serve calls it first, so
 * a taken port fails before the store is opened or rebuilt. */
int http_listen(const char *listen_addr, struct err *e);

/* Starts serving on listen_fd (from http_listen; it is owned from here on, also
 * on failure), or on cfg->listen when listen_fd is -1. ctx, tp and m are
 * borrowed and must outlive the server. test_delay_ms: test hook (env
 * SEGWEB_TEST_DELAY_MS), each worker job sleeps first. */
struct http_server *http_server_start(const struct config *cfg, struct api_ctx *ctx,
                                      struct threadpool *tp, struct metrics *m,
                                      unsigned test_delay_ms, int listen_fd, struct err *e);

/* The bound port (useful with --listen host:0). */
uint16_t http_server_port(struct http_server *s);

/* Stops accepting connections and waits (at most timeout_s) until every
 * request in flight has been answered. */
void http_server_drain(struct http_server *s, unsigned timeout_s);

/* Closes remaining connections and frees. NULL is fine. */
void http_server_stop(struct http_server *s);

#endif
