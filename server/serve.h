/* `segweb serve`: the HTTP service. */
#ifndef SEGWEB_SERVER_SERVE_H
#define SEGWEB_SERVER_SERVE_H

/* argv[0] is "serve". Returns the process exit status. */
int serve_main(int argc, char **argv);

#endif
