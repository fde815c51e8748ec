/* The glue between the decoder and the instance store: the store attributes of a SEG
 * (for store_instance_put and store reindexing) and the lookup of a store resource's
 * file (struct api_ctx.store_lookup). */
#ifndef SEGWEB_API_STORE_GLUE_H
#define SEGWEB_API_STORE_GLUE_H

#include <stdbool.h>
#include <stddef.h>

#include "api/request.h"
#include "decoder/decoder.h"
#include "store/store.h"

/* The store attributes of an indexed SEG (for store_instance_put). */
void api_store_attrs_from_index(const struct seg_index *idx, struct store_attrs *a);

/* The URL of a stored object's study, series or instance (by level) into out, below
 * base (--public-url + --base-path; NULL or "" when neither is set). */
void api_store_url(const char *base, const struct store_attrs *a, enum api_level level, char *out, size_t sz);

/* store_attrs_fn for store_open/store_reindex: indexes the file with the decoder. */
/* The index attributes of any DICOM object at path: a SEG through the decoder
 * (validated under limits, NULL: defaults), anything else from its header
 * (decoder/attrs.h). sop_class receives its SOP Class UID ("" when it does not
 * parse). keep (may be NULL) receives a SEG's index (new, caller frees; NULL for
 * other objects), e.g. for api_store_index_persist once stored. False with e set
 * (the decoder's error for a SEG). */
bool api_store_attrs_any(const char *path, const struct seg_limits *limits, struct store_attrs *a,
                         char *sop_class, size_t sop_class_size, struct seg_index **keep, struct err *e);

/* After store_instance_put said STORED for a (whose upload idx was built from):
 * persists idx beside the stored file (store/seg_index.h), so that no request,
 * even after a restart, parses it again. Best effort; idx NULL does nothing. */
void api_store_index_persist(struct store *s, const struct store_attrs *a, const struct seg_index *idx);

bool api_store_attrs_file(void *arg, const char *path, struct store_attrs *a, struct err *e);

/* api_store_lookup_fn over a struct store (arg); arg NULL behaves as _none. */
bool api_store_lookup_store(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                            struct err *e);

/* The store lookup used without a store: always ERR_NOT_FOUND "instance not in store". */
bool api_store_lookup_none(void *arg, const struct api_resource *res, char *path, size_t pathsz,
                           struct err *e);

#endif
