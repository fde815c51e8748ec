/* segweb serve configuration: ONE table (config.c) of name, environment
 * variable, type, default and limits. It parses flags and environment (flags
 * beat environment beat defaults), generates --help, and prints the effective
 * configuration at start-up. */
#ifndef SEGWEB_SERVER_CONFIG_H
#define SEGWEB_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

struct config {
    char listen[256];
    char store[1024];
    char files_root[1024]; /* "" = none */
    uint32_t workers;
    uint32_t queue;
    uint32_t cache_mb;
    uint32_t png_cache_mb; /* encoded-PNG cache (api/png_cache.h); 0 = off */
    char cors_origin[1024]; /* "" none, "*", or comma-separated origins */
    uint32_t max_body;
    uint32_t max_parts; /* parts per STOW upload */
    uint32_t overwrite; /* 0/1: STOW may replace a stored instance with other bytes */
    uint32_t max_connections;
    uint32_t connection_timeout; /* seconds */
    uint32_t request_timeout;    /* seconds from the request line to the whole request read */
    uint32_t io_threads;
    uint32_t max_frame_pixels; /* Rows x Columns per object (decoder seg_limits) */
    uint32_t max_frames;       /* frames per object */
    uint32_t max_frame_bytes;  /* decoded bytes of one frame */
    uint32_t max_inflated_bytes; /* a Deflated Explicit VR LE data set, inflated */
    uint32_t max_json_bytes;   /* one JSON answer */
    uint32_t max_total_pixels; /* a slide segment's total.png */
    char auth_token[512];      /* "" = no bearer-token check; --auth-token-file fills it */
    char auth_token_file[1024];
    char log_level[16];
    /* In front of an archive (issue 12): base path, public URL, pull-through. */
    char base_path[256];       /* "" or "/dicom-web": every route below it */
    char public_url[512];      /* "" or "https://host": absolute Retrieve URLs and BulkDataURIs */
    char upstream[1024];       /* "" = no pull-through */
    char upstream_token_file[1024];
    char upstream_basic_file[1024];
    char upstream_ca_file[1024];
    uint32_t upstream_timeout_ms;      /* connect */
    uint32_t upstream_read_timeout_ms; /* no byte for this long */
    uint32_t upstream_retries;
    uint32_t upstream_concurrency;
    char cache_dir[1024];      /* the upstream object cache */
    char cache_max_bytes[32];  /* bytes, or with K/M/G/T (binary) */
};

/* --cache-max-bytes as a number ("512M", "2G", "1000000"); false when malformed or 0. */
bool config_bytes_parse(const char *text, uint64_t *out);

/* Fills cfg from defaults, then the environment, then argv (argv[0] is "serve").
 * *help is set when --help was given (cfg is then the defaults+env).
 * false with e set (ERR_INVALID) on an unknown flag or a value out of limits. */
bool config_load(struct config *cfg, int argc, char **argv, bool *help, struct err *e);

/* --help text, generated from the table. */
void config_help_print(FILE *to);

/* One line "segweb serve: listen=... store=... ..." of the effective values. */
void config_print(const struct config *cfg, FILE *to);

#endif
