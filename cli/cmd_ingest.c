/* cmd_ingest.c — `neonblue ingest`: load events from JSON Lines with COPY,
 * all or nothing. */
#include "cli.h"
#include "neonblue/base.h"
#include "neonblue/pg.h"

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
	"Every line is validated. By default one invalid line rejects the whole\n"
	"file: every bad line is listed with its number and why, nothing is written\n"
	"and the exit status is 2. --skip-invalid loads the valid lines and reports\n"
	"the counts. Loading is one transaction (COPY in batches of 20,000, streamed\n"
	"while the rest of the file is read; committed only at the end); events\n"
	"whose event_id is already stored, or repeated in the file, are skipped and\n"
	"counted, so sending a file twice is safe.\n"
	"\n"
	"  --skip-invalid  load the valid lines, report (on stderr) the invalid ones\n"
	"  --json          print {lines, valid, invalid, inserted, skipped}\n"
	"\n" NB_FRONT_GLOBAL_HELP;

struct ingest_state {
	nb_front *ctx;
	int skip;
	nb_pg_event *batch; /* valid events not yet handed to the loader */
	size_t n;
	long lines, valid, invalid;
	nb_buf errors; /* "line N: why\n" for each invalid line */
	PGconn *conn, *aux; /* the load's transaction; lookups beside it */
	nb_pg_events_loader *loader;
	int failed; /* a server error is in err */
	nb_err err;
};

static void ingest_free_batch(struct ingest_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		nb_pg_event_done(&s->batch[i]);
	s->n = 0;
}

/* Hands the batch to the loader (connecting on first use), unless the file
 * is already known to be rejected. */
static void ingest_flush(struct ingest_state *s)
{
	if (s->failed || (s->invalid && !s->skip) || !s->n) {
		ingest_free_batch(s);
		return;
	}
	if (!s->loader) {
		if (nb_config_require_pg(&s->ctx->cfg, &s->err) < 0 ||
		    !(s->conn = nb_pg_connect(&s->ctx->cfg, &s->err)) ||
		    !(s->aux = nb_pg_connect(&s->ctx->cfg, &s->err)) ||
		    !(s->loader = nb_pg_events_loader_begin(s->conn, s->aux, &s->err)))
			s->failed = 1;
	}
	if (!s->failed && nb_pg_events_loader_add(s->loader, s->batch, s->n, &s->err) < 0)
		s->failed = 1;
	ingest_free_batch(s);
}

static void ingest_line(struct ingest_state *s, char *text, long lineno)
{
	nb_err err;
	nb_err_clear(&err);
	cJSON *j = cJSON_Parse(text);
	if (!j)
		nb_err_set(&err, NB_EINPUT, "not valid JSON");
	else if (nb_pg_event_from_json(j, &s->batch[s->n], &err) == 0)
		s->n++, s->valid++;
	cJSON_Delete(j);
	if (err.msg[0]) {
		s->invalid++;
		nb_buf_printf(&s->errors, "line %ld: %s\n", lineno, err.msg);
	}
	if (s->n == NB_PG_EVENTS_BATCH)
		ingest_flush(s);
}

/* Reads, validates and streams every line; the server loads batch k while
 * batch k+1 is parsed. Nothing is committed here. */
static int ingest_read(const char *path, struct ingest_state *s, nb_err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		return nb_err_set(err, NB_EINPUT, "cannot open \"%s\"", path);
	char *text = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	while (!s->failed && (len = getline(&text, &cap, f)) >= 0) {
		lineno++;
		if (strspn(text, " \t\r\n") == (size_t)len)
			continue;
		s->lines++;
		ingest_line(s, text, lineno);
	}
	ingest_flush(s);
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
		cJSON_AddNumberToObject(j, "valid", (double)s->valid);
		cJSON_AddNumberToObject(j, "invalid", (double)s->invalid);
		cJSON_AddNumberToObject(j, "inserted", (double)st->inserted);
		cJSON_AddNumberToObject(j, "skipped", (double)st->skipped);
		nb_front_print_json(j);
		cJSON_Delete(j);
		return;
	}
	printf("ingested %ld events: %ld new, %ld skipped (event_id already stored)", s->valid,
	       st->inserted, st->skipped);
	if (s->invalid)
		printf(", %ld invalid line%s skipped", s->invalid, s->invalid == 1 ? "" : "s");
	printf("\n");
}

int cmd_ingest(nb_front *ctx, int argc, char **argv)
{
	if (nb_front_wants_help(argc, argv)) {
		fputs(ingest_help, stdout);
		return 0;
	}
	const char *path = NULL;
	struct ingest_state s = {.ctx = ctx};
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--skip-invalid"))
			s.skip = 1;
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if ((argv[i][0] != '-' || !argv[i][1]) && !path)
			path = argv[i];
		else
			return nb_front_usage_error("ingest", "unexpected argument \"%s\"", argv[i]);
	}
	if (!path)
		path = "-";
	nb_err err;
	nb_err_clear(&err);
	nb_err_clear(&s.err);
	nb_buf_init(&s.errors);
	s.batch = nb_xcalloc(NB_PG_EVENTS_BATCH, sizeof *s.batch);
	int rc = 0;
	nb_pg_load_stats st = {0};
	if (ingest_read(path, &s, &err) < 0) {
		rc = nb_front_fail(&err);
	} else if (s.failed) {
		rc = nb_front_fail(&s.err);
	} else if (s.invalid && !s.skip) {
		fprintf(stderr, "%s", s.errors.data);
		nb_err_set(&err, NB_EINPUT,
			   "%ld invalid line%s in %s; nothing was written "
			   "(--skip-invalid loads the %ld valid ones)",
			   s.invalid, s.invalid == 1 ? "" : "s",
			   strcmp(path, "-") ? path : "standard input", s.valid);
		rc = nb_front_fail(&err);
	} else {
		if (s.invalid)
			fprintf(stderr, "%s", s.errors.data);
		if (s.loader) {
			nb_pg_events_loader *l = s.loader;
			s.loader = NULL;
			if (nb_pg_events_loader_finish(l, 1, &st, &err) < 0)
				rc = nb_front_fail(&err);
		}
		if (rc == 0)
			ingest_report(&s, &st, json);
	}
	if (s.loader) /* rejected or failed: roll back what was sent */
		nb_pg_events_loader_finish(s.loader, 0, NULL, NULL);
	if (s.conn)
		PQfinish(s.conn);
	if (s.aux)
		PQfinish(s.aux);
	ingest_free_batch(&s);
	free(s.batch);
	nb_buf_done(&s.errors);
	return rc;
}
