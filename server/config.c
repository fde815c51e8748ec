/* The configuration table. Add an option by adding a row (and a field). */
#include "server/config.h"

#include <errno.h>
#include <stdbool.h>
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/text_file.h"

enum type { T_STR, T_U32, T_BOOL /* a uint32_t 0/1; the bare flag means 1 */ };

struct option {
    const char *name; /* flag without "--" */
    const char *env;
    enum type type;
    size_t offset;
    size_t size;     /* T_STR: capacity */
    const char *def; /* default as text */
    uint32_t min, max;
    const char *help;
};

#define STR(field) T_STR, offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define U32(field) T_U32, offsetof(struct config, field), sizeof(uint32_t)
#define BOOL(field) T_BOOL, offsetof(struct config, field), sizeof(uint32_t)

static const struct option TABLE[] = {
    {"listen", "SEGWEB_LISTEN", STR(listen), "127.0.0.1:8080", 0, 0,
     "address:port to listen on (IPv6 as [::1]:8080; port 0 picks a free one)"},
    {"store", "SEGWEB_STORE", STR(store), "./segweb-data", 0, 0,
     "directory of the instance store (/studies/... routes)"},
    {"files-root", "SEGWEB_FILES_ROOT", STR(files_root), "", 0, 0,
     "directory served by /files/{path}; empty: /files routes answer 404"},
    {"workers", "SEGWEB_WORKERS", U32(workers), "4", 1, 256, "decoder worker threads"},
    {"queue", "SEGWEB_QUEUE", U32(queue), "256", 1, 1000000,
     "requests waiting for a worker before 503 + Retry-After"},
    {"cache-mb", "SEGWEB_CACHE_MB", U32(cache_mb), "256", 1, 1048576,
     "byte budget of the decoded-index cache, MiB"},
    {"png-cache-mb", "SEGWEB_PNG_CACHE_MB", U32(png_cache_mb), "64", 0, 1048576,
     "byte budget of the encoded frame-PNG cache, MiB; 0 turns it off"},
    {"cors-origin", "SEGWEB_CORS_ORIGIN", STR(cors_origin), "", 0, 0,
     "allowed CORS origins: comma-separated, or * for any; empty: no CORS headers"},
    {"max-body", "SEGWEB_MAX_BODY", U32(max_body), "2147483647", 0, 2147483647u,
     "largest request body accepted, bytes (413 beyond); bounds STOW uploads too"},
    {"max-parts", "SEGWEB_MAX_PARTS", U32(max_parts), "1000", 1, 1000000,
     "most parts (instances) in one STOW-RS upload (413 beyond)"},
    {"overwrite", "SEGWEB_OVERWRITE", BOOL(overwrite), "0", 0, 1,
     "STOW of a stored SOP Instance UID with other bytes replaces it (default: refused, 0x0111)"},
    {"max-connections", "SEGWEB_MAX_CONNECTIONS", U32(max_connections), "1024", 1, 65536,
     "concurrent connections"},
    {"connection-timeout", "SEGWEB_CONNECTION_TIMEOUT", U32(connection_timeout), "30", 1, 3600,
     "seconds an idle connection is kept"},
    {"request-timeout", "SEGWEB_REQUEST_TIMEOUT", U32(request_timeout), "300", 1, 86400,
     "seconds a request may take to arrive, headers and body, however the bytes trickle (408 / closed beyond)"},
    {"io-threads", "SEGWEB_IO_THREADS", U32(io_threads), "2", 1, 64,
     "HTTP I/O threads (they never decode)"},
    {"max-frame-pixels", "SEGWEB_MAX_FRAME_PIXELS", U32(max_frame_pixels), "67108864", 1, 4294967295u,
     "largest Rows x Columns of an object (413 beyond)"},
    {"max-frames", "SEGWEB_MAX_FRAMES", U32(max_frames), "1000000", 1, 100000000,
     "most frames per object (413 beyond)"},
    {"max-frame-bytes", "SEGWEB_MAX_FRAME_BYTES", U32(max_frame_bytes), "268435456", 1, 2147483647u,
     "decoded bytes of one frame; bounds RLE/deflate/JPEG bombs (413 beyond)"},
    {"max-inflated-bytes", "SEGWEB_MAX_INFLATED_BYTES", U32(max_inflated_bytes), "268435456", 1, 2147483647u,
     "inflated bytes of a Deflated Explicit VR Little Endian object (413 beyond)"},
    {"max-json-bytes", "SEGWEB_MAX_JSON_BYTES", U32(max_json_bytes), "67108864", 1024, 2147483647u,
     "largest JSON answer, bytes before compression (413 beyond)"},
    {"max-total-pixels", "SEGWEB_MAX_TOTAL_PIXELS", U32(max_total_pixels), "100000000", 1, 4294967295u,
     "largest slide total pixel matrix R/segments/{n}/total.png assembles (413 beyond)"},
    {"auth-token", "SEGWEB_AUTH_TOKEN", STR(auth_token), "", 0, 0,
     "bearer token every request needs (Authorization: Bearer ...) except /healthz, /readyz and OPTIONS; empty: no check"},
    {"auth-token-file", "SEGWEB_AUTH_TOKEN_FILE", STR(auth_token_file), "", 0, 0,
     "file whose first line is the bearer token (beats --auth-token)"},
    {"log-level", "SEGWEB_LOG_LEVEL", STR(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"base-path", "SEGWEB_BASE_PATH", STR(base_path), "", 0, 0,
     "URL prefix of every route, e.g. /dicom-web (/healthz, /readyz, /metrics stay at the root too); empty: none"},
    {"public-url", "SEGWEB_PUBLIC_URL", STR(public_url), "", 0, 0,
     "scheme://host[:port] clients reach segweb at (behind a proxy): Retrieve URLs and BulkDataURIs become absolute; empty: path-absolute"},
    {"upstream", "SEGWEB_UPSTREAM", STR(upstream), "", 0, 0,
     "DICOMweb root of an archive to pull through from (http[s]://host/dicom-web); empty: the store only"},
    {"upstream-token-file", "SEGWEB_UPSTREAM_TOKEN_FILE", STR(upstream_token_file), "", 0, 0,
     "file whose first line is a bearer token for the upstream"},
    {"upstream-basic-file", "SEGWEB_UPSTREAM_BASIC_FILE", STR(upstream_basic_file), "", 0, 0,
     "file whose first line is user:password for the upstream (HTTP basic)"},
    {"upstream-ca-file", "SEGWEB_UPSTREAM_CA_FILE", STR(upstream_ca_file), "", 0, 0,
     "CA certificates (PEM) for the upstream's TLS; empty: the system's"},
    {"upstream-timeout-ms", "SEGWEB_UPSTREAM_TIMEOUT_MS", U32(upstream_timeout_ms), "5000", 100, 600000,
     "connect timeout toward the upstream, ms (504 beyond)"},
    {"upstream-read-timeout-ms", "SEGWEB_UPSTREAM_READ_TIMEOUT_MS", U32(upstream_read_timeout_ms), "30000", 100, 3600000,
     "the upstream sending no byte for this long is a timeout, ms (504)"},
    {"upstream-retries", "SEGWEB_UPSTREAM_RETRIES", U32(upstream_retries), "2", 0, 10,
     "retries (with backoff) after a connection error or a 5xx, before any byte was passed on"},
    {"upstream-concurrency", "SEGWEB_UPSTREAM_CONCURRENCY", U32(upstream_concurrency), "16", 1, 1024,
     "requests in flight toward the upstream"},
    {"cache-dir", "SEGWEB_CACHE_DIR", STR(cache_dir), "./segweb-cache", 0, 0,
     "directory of the upstream object cache (SEGs pulled whole; kept apart from the store, survives restarts)"},
    {"cache-max-bytes", "SEGWEB_CACHE_MAX_BYTES", STR(cache_max_bytes), "1G", 0, 0,
     "byte budget of the upstream object cache (LRU), e.g. 512M, 20G"},
};

#define N_OPTIONS (sizeof TABLE / sizeof TABLE[0])

static bool set_value(struct config *cfg, const struct option *o, const char *v, const char *from,
                      struct err *e)
{
    char *field = (char *)cfg + o->offset;
    if (o->type == T_STR) {
        if (strlen(v) >= o->size)
            return err_set(e, ERR_INVALID, "%s --%s: value longer than %zu bytes", from, o->name,
                           o->size - 1);
        memcpy(field, v, strlen(v) + 1);
        return true;
    }
    if (o->type == T_BOOL) {
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            v = "1";
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            v = "0";
    }
    char *end;
    errno = 0;
    if (!*v || v[0] == '-' || v[0] == '+')
        return err_set(e, ERR_INVALID, "%s --%s: '%s' is not a number", from, o->name, v);
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end)
        return err_set(e, ERR_INVALID, "%s --%s: '%s' is not a number", from, o->name, v);
    if (n < o->min || n > o->max)
        return err_set(e, ERR_INVALID, "%s --%s: %llu is outside %u..%u", from, o->name, n, o->min,
                       o->max);
    uint32_t u = (uint32_t)n;
    memcpy(field, &u, sizeof u);
    return true;
}

/* --auth-token-file: the first line, trailing whitespace removed. The token must be an
 * RFC 6750 b64token, so it can never smuggle anything into a header. */
static bool auth_token_load(struct config *cfg, struct err *e)
{
    if (cfg->auth_token_file[0]) {
        char line[sizeof cfg->auth_token + 1];
        size_t n = 0;
        if (!text_file_first_line(cfg->auth_token_file, line, sizeof line, &n, e)) {
            err_prefix(e, "--auth-token-file %s", cfg->auth_token_file);
            return false;
        }
        if (n >= sizeof cfg->auth_token)
            return err_set(e, ERR_INVALID, "--auth-token-file %s: token longer than %zu bytes",
                           cfg->auth_token_file, sizeof cfg->auth_token - 1);
        memcpy(cfg->auth_token, line, n);
        cfg->auth_token[n] = 0;
        if (!n)
            return err_set(e, ERR_INVALID, "--auth-token-file %s: no token in the file", cfg->auth_token_file);
    }
    size_t n = strlen(cfg->auth_token), i = 0;
    while (i < n && (isalnum((unsigned char)cfg->auth_token[i]) || strchr("-._~+/", cfg->auth_token[i])))
        i++;
    while (i < n && cfg->auth_token[i] == '=')
        i++;
    if (i != n)
        return err_set(e, ERR_INVALID, "--auth-token: only letters, digits and -._~+/ (then =) are allowed");
    return true;
}

bool config_bytes_parse(const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*text || *text == '-' || *text == '+')
        return false;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno || end == text)
        return false;
    unsigned shift = 0;
    if (*end) {
        const char *units = "KMGT";
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u || (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB")))
            return false;
        shift = 10u * (unsigned)(u - units + 1);
    }
    if (n == 0 || n > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)n << shift;
    return true;
}

/* The issue-12 options that need more than a range check. */
static bool front_check(const struct config *cfg, struct err *e)
{
    const char *b = cfg->base_path;
    if (*b && (b[0] != '/' || b[strlen(b) - 1] == '/' || strpbrk(b, "?#% \t\\")))
        return err_set(e, ERR_INVALID, "--base-path: '/name[/name...]' without a trailing '/', e.g. /dicom-web");
    const char *u = cfg->public_url;
    if (*u && ((strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) || u[strlen(u) - 1] == '/' ||
               strpbrk(u, " \t\"<>")))
        return err_set(e, ERR_INVALID, "--public-url: http[s]://host[:port][/path] without a trailing '/'");
    uint64_t bytes;
    if (!config_bytes_parse(cfg->cache_max_bytes, &bytes))
        return err_set(e, ERR_INVALID, "--cache-max-bytes: '%s' is not a byte count (e.g. 512M, 20G)",
                       cfg->cache_max_bytes);
    if (cfg->upstream[0] && strncmp(cfg->upstream, "http://", 7) && strncmp(cfg->upstream, "https://", 8))
        return err_set(e, ERR_INVALID, "--upstream: http:// or https:// URL of the archive's DICOMweb root");
    return true;
}

bool config_load(struct config *cfg, int argc, char **argv, bool *help, struct err *e)
{
    memset(cfg, 0, sizeof *cfg);
    *help = false;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!set_value(cfg, &TABLE[i], TABLE[i].def, "default", e))
            return false;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = getenv(TABLE[i].env);
        if (v && !set_value(cfg, &TABLE[i], v, TABLE[i].env, e))
            return false;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            *help = true;
            continue;
        }
        if (strncmp(arg, "--", 2))
            return err_set(e, ERR_INVALID, "unexpected argument '%s' (try --help)", arg);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct option *o = NULL;
        for (size_t i = 0; i < N_OPTIONS; i++)
            if (strlen(TABLE[i].name) == nlen && !strncmp(TABLE[i].name, name, nlen))
                o = &TABLE[i];
        if (!o)
            return err_set(e, ERR_INVALID, "unknown option '%s' (try --help)", arg);
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == T_BOOL) {
            v = "1";
        } else {
            if (a + 1 >= argc)
                return err_set(e, ERR_INVALID, "option --%s needs a value", o->name);
            v = argv[++a];
        }
        if (!set_value(cfg, o, v, "flag", e))
            return false;
    }
    return auth_token_load(cfg, e) && front_check(cfg, e);
}

/* The value placeholder of a flag in --help ("--listen HOST:PORT"). */
static const char *placeholder(const struct option *o)
{
    static const struct {
        const char *name, *meta;
    } NAMES[] = {
        {"listen", "HOST:PORT"}, {"store", "DIR"},          {"files-root", "DIR"},
        {"cors-origin", "ORIGINS"}, {"auth-token", "TOKEN"}, {"auth-token-file", "FILE"},
        {"log-level", "LEVEL"},
    };
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (!strcmp(o->name, NAMES[i].name))
            return NAMES[i].meta;
    size_t n = strlen(o->name);
    if (n > 3 && !strcmp(o->name + n - 3, "-mb"))
        return "MIB";
    if (n > 8 && !strcmp(o->name + n - 8, "-timeout"))
        return "SECONDS";
    if (!strcmp(o->name, "max-body") || (n > 6 && !strcmp(o->name + n - 6, "-bytes")))
        return "BYTES";
    return o->type == T_STR ? "VALUE" : "N";
}

void config_help_print(FILE *to)
{
    fprintf(to, "usage: segweb serve [OPTIONS]\n\n"
                "Serves decoded DICOM Segmentations over HTTP: R/segments, R/segments/{n},\n"
                "R/frames/{f}/rendered for R = /files/{path} (below --files-root) or a stored\n"
                "instance; DICOMweb STOW-RS, WADO-RS and QIDO-RS on /studies; /healthz, /readyz,\n"
                "/metrics. Flags beat environment variables, which beat defaults.\n\noptions:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option *o = &TABLE[i];
        char flag[48], tail[96];
        if (o->type == T_BOOL) {
            snprintf(flag, sizeof flag, "%s", o->name);
            snprintf(tail, sizeof tail, "env %s=1; a flag, off unless given", o->env);
        } else {
            snprintf(flag, sizeof flag, "%s %s", o->name, placeholder(o));
            if (o->type == T_U32)
                snprintf(tail, sizeof tail, "env %s, default '%s', %u..%u", o->env, o->def, o->min, o->max);
            else
                snprintf(tail, sizeof tail, *o->def ? "env %s, default '%s'" : "env %s, default none", o->env, o->def);
        }
        fprintf(to, "  --%-26s %s\n  %-28s %s\n", flag, o->help, "", tail);
    }
    fprintf(to, "  --%-26s %s\n", "help", "this text");
}

void config_print(const struct config *cfg, FILE *to)
{
    char line[4096];
    size_t k = (size_t)snprintf(line, sizeof line, "segweb serve: effective config:");
    for (size_t i = 0; i < N_OPTIONS && k < sizeof line; i++) {
        const struct option *o = &TABLE[i];
        const char *field = (const char *)cfg + o->offset;
        int m;
        if (o->type == T_STR) {
            m = snprintf(line + k, sizeof line - k, " %s=%s", o->name,
                         !*field ? "(none)" : !strcmp(o->name, "auth-token") ? "(set)" : field);
        } else {
            uint32_t u;
            memcpy(&u, field, sizeof u);
            m = snprintf(line + k, sizeof line - k, " %s=%u", o->name, u);
        }
        if (m > 0)
            k += (size_t)m;
    }
    fprintf(to, "%s\n", line);
    fflush(to);
}
