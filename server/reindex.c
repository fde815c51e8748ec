/* `segweb reindex`: the index is a cache of the files' attributes, so it can
 * always be rebuilt (store/store.h). Safe while no server writes the store. */
#include "server/reindex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "store/store.h"

int reindex_main(int argc, char **argv)
{
    const char *dir = getenv("SEGWEB_STORE");
    if (!dir || !*dir)
        dir = "./segweb-data";
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--store") && a + 1 < argc) {
            dir = argv[++a];
        } else if (!strncmp(argv[a], "--store=", 8)) {
            dir = argv[a] + 8;
        } else if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
            printf("usage: segweb reindex [--store DIR]   (default $SEGWEB_STORE or ./segweb-data)\n");
            return 0;
        } else {
            fprintf(stderr, "segweb: reindex: unexpected argument '%s'\n", argv[a]);
            return 2;
        }
    }
    struct err e = ERR_INIT;
    struct store *s = store_open(dir, false, api_store_attrs_file, NULL, NULL, &e);
    size_t indexed = 0, skipped = 0;
    if (!s || !store_reindex(s, &indexed, &skipped, &e)) {
        fprintf(stderr, "segweb: reindex %s: %s\n", dir, e.msg);
        store_close(s);
        return 1;
    }
    if (*store_note(s))
        fprintf(stderr, "segweb: reindex %s: %s\n", dir, store_note(s));
    store_close(s);
    printf("{\"store\":\"%s\",\"indexed\":%zu,\"skipped\":%zu}\n", dir, indexed, skipped);
    return 0;
}
