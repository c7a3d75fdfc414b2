/* cmd_ingest.c — `neonblue ingest`: load events from JSON Lines with COPY,
 * all or nothing. */
#include "cli.h"
#include "neonblue/buf.h"
#include "neonblue/pg.h"
#include "neonblue/pg_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ingest_help[] =
	"usage: neonblue ingest [FILE|-] [--skip-invalid] [--json]\n"
	"\n"
	"Loads events from JSON Lines (default: standard input). Each line is an\n"
	"object with event_id (uuid, optional: generated), user_id, type, ts\n"
	"(ISO-8601, default now), value (number), properties (object) and\n"
	"experiment (key); other fields are refused.\n"
	"Every line is validated first. By default one invalid line rejects the\n"
	"whole file: every bad line is listed with its number and why, nothing is\n"
	"written and the exit status is 2. --skip-invalid loads the valid lines and\n"
	"reports the counts. Loading is one transaction (COPY in batches); events\n"
	"whose event_id is already stored are skipped and counted, so sending a file\n"
	"twice is safe.\n"
	"\n"
	"  --skip-invalid  load the valid lines, report (on stderr) the invalid ones\n"
	"  --json          print {lines, valid, invalid, inserted, skipped}\n"
	"\n" CLI_GLOBAL_HELP;

struct ingest_state {
	nb_pg_event *evs;
	size_t n, cap;
	long lines, invalid;
	nb_buf errors; /* "line N: why\n" for each invalid line */
};

static void ingest_line(struct ingest_state *s, char *text, long lineno)
{
	nb_err err;
	nb_err_clear(&err);
	cJSON *j = cJSON_Parse(text);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->evs = nb_xrealloc(s->evs, s->cap * sizeof *s->evs);
	}
	if (!j)
		nb_err_set(&err, NB_EINPUT, "not valid JSON");
	else if (nb_pg_event_from_json(j, &s->evs[s->n], &err) == 0)
		s->n++;
	cJSON_Delete(j);
	if (err.msg[0]) {
		s->invalid++;
		nb_buf_printf(&s->errors, "line %ld: %s\n", lineno, err.msg);
	}
}

static int ingest_read(const char *path, struct ingest_state *s, nb_err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		return nb_err_set(err, NB_EINPUT, "cannot open \"%s\"", path);
	char *text = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	while ((len = getline(&text, &cap, f)) >= 0) {
		lineno++;
		if (strspn(text, " \t\r\n") == (size_t)len)
			continue;
		s->lines++;
		ingest_line(s, text, lineno);
	}
	free(text);
	if (f != stdin)
		fclose(f);
	return 0;
}

static void ingest_report(const struct ingest_state *s, const nb_pg_load_stats *st, int json)
{
	if (json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "lines", (double)s->lines);
		cJSON_AddNumberToObject(j, "valid", (double)s->n);
		cJSON_AddNumberToObject(j, "invalid", (double)s->invalid);
		cJSON_AddNumberToObject(j, "inserted", (double)st->inserted);
		cJSON_AddNumberToObject(j, "skipped", (double)st->skipped);
		cli_print_json(j);
		cJSON_Delete(j);
		return;
	}
	printf("ingested %ld events: %ld new, %ld skipped (event_id already stored)", (long)s->n,
	       st->inserted, st->skipped);
	if (s->invalid)
		printf(", %ld invalid line%s skipped", s->invalid, s->invalid == 1 ? "" : "s");
	printf("\n");
}

int cmd_ingest(cli_ctx *ctx, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(ingest_help, stdout);
		return 0;
	}
	const char *path = NULL;
	int skip = 0, json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--skip-invalid"))
			skip = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if ((argv[i][0] != '-' || !argv[i][1]) && !path)
			path = argv[i];
		else
			return cli_usage_error("ingest", "unexpected argument \"%s\"", argv[i]);
	}
	if (!path)
		path = "-";
	nb_err err;
	nb_err_clear(&err);
	struct ingest_state s = {0};
	nb_buf_init(&s.errors);
	int rc = 0;
	PGconn *conn = NULL;
	nb_pg_load_stats st = {0};
	if (ingest_read(path, &s, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	if (s.invalid) {
		fprintf(stderr, "%s", s.errors.data);
		if (!skip) {
			nb_err_set(&err, NB_EINPUT,
				   "%ld invalid line%s in %s; nothing was written "
				   "(--skip-invalid loads the %zu valid ones)",
				   s.invalid, s.invalid == 1 ? "" : "s",
				   strcmp(path, "-") ? path : "standard input", s.n);
			rc = cli_fail(&err);
			goto out;
		}
	}
	if (nb_config_require_pg(&ctx->cfg, &err) < 0 ||
	    !(conn = nb_pg_connect(&ctx->cfg, &err)) ||
	    nb_pg_events_load(conn, s.evs, s.n, &st, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	ingest_report(&s, &st, json);
out:
	if (conn)
		PQfinish(conn);
	for (size_t i = 0; i < s.n; i++)
		nb_pg_event_done(&s.evs[i]);
	free(s.evs);
	nb_buf_done(&s.errors);
	return rc;
}
