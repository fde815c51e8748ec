/* `segweb reindex [--store DIR]`: rebuilds the store's search index from its files. */
#ifndef SEGWEB_SERVER_REINDEX_H
#define SEGWEB_SERVER_REINDEX_H

int reindex_main(int argc, char **argv);

#endif
