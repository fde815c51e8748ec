/* Command-line front end to the decoder: info, frame, frames. */
#ifndef SEGWEB_SERVER_CLI_H
#define SEGWEB_SERVER_CLI_H

/* The two ways a subcommand ends badly: "segweb: <e's message>" on stderr and exit
 * status 1 (a refusal), or "segweb: <msg>" and 2 (a usage error). */
struct err;
int cli_fail(const struct err *e);
int cli_usage(const char *msg);

int cli_info(int argc, char **argv);
int cli_frame(int argc, char **argv);
int cli_frames(int argc, char **argv);
/* segweb create: a SEG from label volumes + dcmqi metadata (server/cli_create.c, writer/). */
int cli_create(int argc, char **argv);
/* server/cli_volume.c: segweb volume / total (volume/). */
int cli_volume(int argc, char **argv);
int cli_total(int argc, char **argv);
int cli_render(int argc, char **argv); /* server/cli_render.c */
int cli_lint(int argc, char **argv);   /* server/cli_lint.c */

#endif
