/* cli.h — what every `neonblue` subcommand shares: context, errors, output. */
#ifndef NB_CLI_H
#define NB_CLI_H

#include "neonblue/front.h"

typedef int (*cli_fn)(nb_front *ctx, int argc, char **argv);

#define NB_CMD(name, summary, fn) int fn(nb_front *ctx, int argc, char **argv);
#include "commands.def"
#undef NB_CMD

#endif
