/* cli.h — what every `neonblue` subcommand shares: context, errors, output. */
#ifndef NB_CLI_H
#define NB_CLI_H

#include "neonblue/config.h"
#include "neonblue/err.h"

#include <cjson/cJSON.h>

#define NB_VERSION "0.1.0"

typedef struct cli_ctx {
	nb_config cfg;         /* resolved settings (global flags applied) */
	nb_config_flags flags; /* the global flags as given */
} cli_ctx;

typedef int (*cli_fn)(cli_ctx *ctx, int argc, char **argv);

/* Prints "neonblue: <msg>" on stderr and returns the exit status for it. */
int cli_fail(const nb_err *err);
/* Prints "neonblue <cmd>: <msg>" plus a hint to --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv (after the subcommand name) asks for help. */
int cli_wants_help(int argc, char **argv);
/* Log callback of long-running commands: "<UTC time> <who>: <line>" on stderr;
 * ud is the component name (a const char *). */
void cli_log_line(void *ud, const char *line);
/* Parses a flag's value as an integer in 1..10,000,000 into *out; otherwise
 * prints a usage error naming the flag and returns 2. */
int cli_positive_int(const char *cmd, const char *flag, const char *v, int *out);
/* Prints a cJSON tree on stdout with nb_json rules and a newline. */
void cli_print_json(const cJSON *item);

/* Global options understood before or after the subcommand. */
#define CLI_GLOBAL_HELP                                                                    \
	"Global options: --home DIR  --pg CONNINFO  --kafka SERVERS  --clickhouse URL  "      \
	"--actor NAME\n"

#define NB_CMD(name, summary, fn) int fn(cli_ctx *ctx, int argc, char **argv);
#include "commands.def"
#undef NB_CMD

#endif
