/* flags.c — the /v1/flags routes of `neonblue serve` (docs/api.md, "Flags"):
 * list, create, show, and the kill switch and rollout of a flag, through the
 * same library calls as `neonblue flag` (core/flag), audited with the token's
 * name as the actor. Reading needs scope read, changing scope admin, as for
 * experiments. */
#include "serve.h"

#include "neonblue/flag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAGS_PREFIX "/v1/flags/"

static const char *const flag_actions[] = {"on", "off", "rollout", NULL};

/* "/v1/flags/KEY[/ACTION]" → key and action ("" for none) into buffers; -1
 * for another shape. */
static int flag_path(const char *path, char *key, size_t kn, char *act, size_t an)
{
	if (strncmp(path, FLAGS_PREFIX, strlen(FLAGS_PREFIX)))
		return -1;
	const char *p = path + strlen(FLAGS_PREFIX);
	size_t k = strcspn(p, "/");
	if (!k || k >= kn)
		return -1;
	snprintf(key, kn, "%.*s", (int)k, p);
	act[0] = '\0';
	if (p[k] == '/') {
		if (strlen(p + k + 1) >= an)
			return -1;
		snprintf(act, an, "%s", p + k + 1);
	}
	return 0;
}

const char *flags_route(const char *method, const char *path, int *scope)
{
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	if (!strcmp(path, "/v1/flags")) {
		if (get)
			return *scope = NB_SCOPE_READ, "flags";
		if (post)
			return *scope = NB_SCOPE_ADMIN, "flag_create";
		return NULL;
	}
	char key[NB_PG_KEY_MAX + 2], act[16];
	if (flag_path(path, key, sizeof key, act, sizeof act))
		return NULL;
	if (get && !act[0])
		return *scope = NB_SCOPE_READ, "flag";
	for (int i = 0; post && flag_actions[i]; i++)
		if (!strcmp(act, flag_actions[i]))
			return *scope = NB_SCOPE_ADMIN, "flag_change";
	return NULL;
}

/* The flag key as stored now: 200 with its JSON, or the error. */
static void flag_answer(const serve_req *rq, serve_resp *rs, const char *key, int status)
{
	nb_err err;
	nb_err_clear(&err);
	nb_flag f;
	memset(&f, 0, sizeof f);
	if (nb_flag_get(rq->conn, key, &f, &err)) {
		api_fail(rs, &err, NULL);
		return;
	}
	rs->status = status;
	rs->body = nb_flag_to_json(&f);
	nb_flag_done(&f);
}

static void flags_list(const serve_req *rq, serve_resp *rs)
{
	nb_err err;
	nb_err_clear(&err);
	nb_flag *list;
	size_t n;
	if (nb_flag_list(rq->conn, &list, &n, &err)) {
		api_fail(rs, &err, NULL);
		return;
	}
	rs->status = 200;
	rs->body = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(rs->body, nb_flag_to_json(&list[i]));
	nb_flag_list_free(list, n);
}

static void flag_create(const serve_req *rq, serve_resp *rs)
{
	cJSON *j = cJSON_ParseWithLength(rq->body, rq->len);
	nb_err err;
	nb_err_clear(&err);
	nb_flag f;
	memset(&f, 0, sizeof f);
	if (!cJSON_IsObject(j))
		api_error(rs, 400, NULL, "the body is not a JSON object (a flag definition)");
	else if (nb_flag_from_json(j, &f, &err) || nb_flag_create(rq->conn, &f, rq->actor, &err))
		api_fail(rs, &err, NULL);
	else
		flag_answer(rq, rs, f.key, 201);
	nb_flag_done(&f);
	cJSON_Delete(j);
}

/* The body of POST .../rollout: {"percent": P}, P a number in 0..100 →
 * coverage P / 100; -1 with rs answered (400 naming the field). */
static int rollout_body(const serve_req *rq, serve_resp *rs, double *coverage)
{
	cJSON *j = cJSON_ParseWithLength(rq->body, rq->len);
	int rc = -1;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "percent");
	const cJSON *it;
	if (!cJSON_IsObject(j)) {
		api_error(rs, 400, NULL, "the body is not a JSON object ({\"percent\": 25})");
		goto out;
	}
	cJSON_ArrayForEach(it, j)
	{
		if (strcmp(it->string, "percent")) {
			char msg[200];
			snprintf(msg, sizeof msg,
				 "%.80s: unknown field (the body is {\"percent\": 25})",
				 it->string);
			api_error(rs, 400, it->string, msg);
			goto out;
		}
	}
	if (!p) {
		api_error(rs, 400, "percent", "percent: missing (the body is {\"percent\": 25})");
	} else if (!cJSON_IsNumber(p) || !isfinite(p->valuedouble) || p->valuedouble < 0 ||
		   p->valuedouble > 100) {
		char *t = cJSON_PrintUnformatted(p);
		char msg[200];
		snprintf(msg, sizeof msg, "percent: must be a number from 0 to 100 (got %.60s)", t);
		free(t);
		api_error(rs, 400, "percent", msg);
	} else {
		*coverage = p->valuedouble / 100;
		rc = 0;
	}
out:
	cJSON_Delete(j);
	return rc;
}

static void flag_change(const serve_req *rq, serve_resp *rs)
{
	char key[NB_PG_KEY_MAX + 2], act[16];
	nb_err err;
	nb_err_clear(&err);
	if (flag_path(rq->path, key, sizeof key, act, sizeof act) || !nb_pg_slug_ok(key)) {
		api_error(rs, 404, NULL, "no such flag");
		return;
	}
	int rc;
	if (!strcmp(act, "rollout")) {
		double coverage;
		if (rollout_body(rq, rs, &coverage))
			return;
		rc = nb_flag_set_rollout(rq->conn, key, coverage, rq->actor, &err);
	} else {
		rc = nb_flag_set_enabled(rq->conn, key, !strcmp(act, "on"), rq->actor, &err);
	}
	if (rc)
		api_fail(rs, &err, NULL);
	else
		flag_answer(rq, rs, key, 200);
}

int flags_handle(const char *route, const serve_req *rq, serve_resp *rs)
{
	if (!strcmp(route, "flags")) {
		flags_list(rq, rs);
	} else if (!strcmp(route, "flag_create")) {
		flag_create(rq, rs);
	} else if (!strcmp(route, "flag")) {
		char key[NB_PG_KEY_MAX + 2], act[16];
		if (flag_path(rq->path, key, sizeof key, act, sizeof act) || !nb_pg_slug_ok(key))
			api_error(rs, 404, NULL, "no such flag");
		else
			flag_answer(rq, rs, key, 200);
	} else if (!strcmp(route, "flag_change")) {
		flag_change(rq, rs);
	} else {
		return 0;
	}
	return 1;
}
