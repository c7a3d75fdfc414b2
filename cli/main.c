/* main.c — `neonblue`: global options, then dispatch through commands.def. */
#include "cli.h"
#include "neonblue/base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cli_cmd {
	const char *name, *summary;
	cli_fn fn;
};

static const struct cli_cmd commands[] = {
#define NB_CMD(name, summary, fn) {#name, summary, fn},
#include "commands.def"
#undef NB_CMD
};


int cmd_version(nb_front *ctx, int argc, char **argv)
{
	(void)ctx;
	if (nb_front_wants_help(argc, argv)) {
		puts("usage: neonblue version [--json]\n\nPrints the version of neonblue.");
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--json"))
		printf("{\"version\":\"%s\"}\n", NB_VERSION);
	else
		printf("neonblue %s\n", NB_VERSION);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: neonblue [global options] COMMAND [options]\n\n"
		   "NeonBlue — real-time A/B testing on PostgreSQL, Kafka and ClickHouse.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n" NB_FRONT_GLOBAL_HELP "\n"
		   "Every command takes --help; read commands take --json.\n"
		   "Exit status: 0 success, 1 a server failed, 2 bad input.\n");
}

/* Removes a global option (with its value) from argv wherever it stands,
 * so subcommands never see it. Returns 0, or 2 when a value is missing. */
static int take_globals(int *argc, char **argv, nb_config_flags *fl)
{
	static const char *names[] = {"--home",	"--pg",	   "--kafka",
				      "--clickhouse", "--actor", "--clickhouse-cluster"};
	const char **slots[] = {&fl->home,  &fl->pg,    &fl->kafka,
				&fl->clickhouse, &fl->actor, &fl->clickhouse_cluster};
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		int hit = 0;
		for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
			size_t n = strlen(names[k]);
			if (!strncmp(argv[i], names[k], n) && argv[i][n] == '=') {
				*slots[k] = argv[i] + n + 1;
				hit = 1;
			} else if (!strcmp(argv[i], names[k])) {
				if (i + 1 >= *argc) {
					fprintf(stderr, "neonblue: %s needs a value\n", names[k]);
					return 2;
				}
				*slots[k] = argv[++i];
				hit = 1;
			}
			if (hit)
				break;
		}
		if (!hit)
			argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	nb_front ctx;
	memset(&ctx, 0, sizeof ctx);
	if (take_globals(&argc, argv, &ctx.flags))
		return 2;
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("neonblue %s\n", NB_VERSION);
		return 0;
	}
	nb_err err;
	nb_err_clear(&err);
	if (nb_config_load(&ctx.cfg, &ctx.flags, &err))
		return nb_front_fail(&err);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(&ctx, argc - 1, argv + 1);
	fprintf(stderr, "neonblue: unknown command '%s' (see `neonblue --help`)\n", argv[1]);
	return 2;
}
