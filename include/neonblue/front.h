/* front.h — what every front end of the library shares (the `neonblue` CLI,
 * the dashboard, the server): the resolved context, usage errors in one voice,
 * the log line of long-running commands, and JSON on stdout. */
#ifndef NEONBLUE_FRONT_H
#define NEONBLUE_FRONT_H

#include "neonblue/base.h"

#include <cjson/cJSON.h>

#define NB_VERSION "0.1.0"

/* Global options understood before or after the subcommand. */
#define NB_FRONT_GLOBAL_HELP                                                               \
	"Global options: --home DIR  --pg CONNINFO  --kafka SERVERS  --clickhouse URL  "      \
	"--actor NAME\n  --clickhouse-cluster NAME (\"\": one node; docs/operations.md)\n"

typedef struct nb_front {
	nb_config cfg;         /* resolved settings (global flags applied) */
	nb_config_flags flags; /* the global flags as given */
} nb_front;

/* Prints "neonblue: <msg>" on stderr and returns the exit status for it. */
int nb_front_fail(const nb_err *err);
/* Prints "neonblue <cmd>: <msg>" plus a hint to --help; returns 2. */
int nb_front_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv (after the subcommand name) asks for help. */
int nb_front_wants_help(int argc, char **argv);
/* Log callback of long-running commands: "<UTC time> <who>: <line>" on stderr;
 * ud is the component name (a const char *). */
void nb_front_log_line(void *ud, const char *line);
/* Parses a flag's value as an integer in 1..10,000,000 into *out; otherwise
 * prints a usage error naming the flag and returns 2. */
int nb_front_positive_int(const char *cmd, const char *flag, const char *v, int *out);
/* "--attr KEY=VALUE": sets attrs[KEY] to VALUE typed as a JSON number,
 * true/false/null when it reads as one, else the string. */
int nb_front_attr_add(cJSON *attrs, const char *kv, nb_err *err);
/* One line of a --users input (`assign`, `flag eval`): a user id, or a JSON
 * object {"user_id": ..., "attributes": {...}} (or the attributes as the
 * object's other keys). error (a sentence) is set for a bad line. */
typedef struct nb_front_user_line {
	long lineno;
	char *user;
	cJSON *attrs;
	char *error;
} nb_front_user_line;
/* Parses text (its trailing newline is cut) into l, which the caller zeroed
 * (lineno aside). */
void nb_front_user_line_parse(nb_front_user_line *l, char *text);
void nb_front_user_line_done(nb_front_user_line *l);
/* Prints a cJSON tree on stdout with nb_json rules and a newline. */
void nb_front_print_json(const cJSON *item);

#endif
