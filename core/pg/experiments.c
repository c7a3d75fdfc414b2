/* pg/experiments.c — nb_pg experiments: load, list, create, edit, lifecycle, delete (+ audit). */
#include "neonblue/pg.h"

#include "neonblue/base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "coalesce(to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')"

/* One statement, so an experiment, its variants and its metrics come from the
 * same snapshot. */
static const char *exp_select =
	"SELECT e.key, e.name, e.description, e.hypothesis, e.status, e.seed, e.hash_version, "
	"e.coverage, e.namespace_id, e.namespace_start, e.namespace_end, e.condition::text, "
	"e.owner, e.version, " TS("e.created_at") ", " TS("e.updated_at") ", " TS(
		"e.started_at") ", " TS("e.stopped_at") ", "
	"(SELECT coalesce(json_agg(json_build_object('key', v.key, 'name', v.name, 'weight', "
	"v.weight, 'is_control', v.is_control, 'config', v.config) ORDER BY v.position), '[]') "
	"FROM variants v WHERE v.experiment = e.key)::text, "
	"(SELECT coalesce(json_agg(json_build_object('key', m.metric, 'role', m.role) "
	"ORDER BY m.position), '[]') FROM experiment_metrics m WHERE m.experiment = e.key)::text, "
	"e.holdout, (SELECT he.seed FROM experiments he WHERE he.key = e.holdout), "
	"(SELECT h.percent FROM holdouts h WHERE h.key = e.holdout), "
	"EXISTS (SELECT 1 FROM holdouts h WHERE h.key = e.key) "
	"FROM experiments e ";

static char *col(PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : nb_xstrdup(PQgetvalue(r, row, c));
}

static char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
	return nb_xstrdup(cJSON_IsString(it) ? it->valuestring : "");
}

static void fill_variants(const char *text, nb_pg_experiment *e)
{
	cJSON *a = cJSON_Parse(text);
	int n = cJSON_GetArraySize(a);
	e->variants = nb_xcalloc((size_t)(n ? n : 1), sizeof *e->variants);
	e->weights = nb_xcalloc((size_t)(n ? n : 1), sizeof(double));
	for (const cJSON *it = a ? a->child : NULL; it; it = it->next) {
		nb_pg_variant *v = &e->variants[e->nvariants];
		v->key = jstr(it, "key");
		v->name = jstr(it, "name");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(it, "weight");
		v->weight = e->weights[e->nvariants] = cJSON_IsNumber(w) ? w->valuedouble : 0;
		v->is_control = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "is_control"));
		const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(it, "config");
		v->config = cJSON_IsObject(cfg) ? cJSON_Duplicate(cfg, 1) : cJSON_CreateObject();
		e->nvariants++;
	}
	cJSON_Delete(a);
}

static void fill_metrics(const char *text, nb_pg_experiment *e)
{
	cJSON *a = cJSON_Parse(text);
	int n = cJSON_GetArraySize(a);
	e->metrics = nb_xcalloc((size_t)(n ? n : 1), sizeof *e->metrics);
	for (const cJSON *it = a ? a->child : NULL; it; it = it->next) {
		e->metrics[e->nmetrics].key = jstr(it, "key");
		e->metrics[e->nmetrics].role = jstr(it, "role");
		e->nmetrics++;
	}
	cJSON_Delete(a);
}

static void fill_row(PGresult *r, int i, nb_pg_experiment *e)
{
	e->key = col(r, i, 0);
	e->name = col(r, i, 1);
	e->description = col(r, i, 2);
	e->hypothesis = col(r, i, 3);
	e->status = col(r, i, 4);
	e->seed = col(r, i, 5);
	e->hash_version = atoi(PQgetvalue(r, i, 6));
	e->coverage = strtod(PQgetvalue(r, i, 7), NULL);
	e->ns_id = col(r, i, 8);
	e->ns_start = e->ns_id ? strtod(PQgetvalue(r, i, 9), NULL) : 0;
	e->ns_end = e->ns_id ? strtod(PQgetvalue(r, i, 10), NULL) : 0;
	e->condition = PQgetisnull(r, i, 11) ? NULL : cJSON_Parse(PQgetvalue(r, i, 11));
	e->owner = col(r, i, 12);
	e->version = strtol(PQgetvalue(r, i, 13), NULL, 10);
	snprintf(e->created_at, sizeof e->created_at, "%s", PQgetvalue(r, i, 14));
	snprintf(e->updated_at, sizeof e->updated_at, "%s", PQgetvalue(r, i, 15));
	snprintf(e->started_at, sizeof e->started_at, "%s", PQgetvalue(r, i, 16));
	snprintf(e->stopped_at, sizeof e->stopped_at, "%s", PQgetvalue(r, i, 17));
	fill_variants(PQgetvalue(r, i, 18), e);
	fill_metrics(PQgetvalue(r, i, 19), e);
	e->holdout = col(r, i, 20);
	e->holdout_seed = col(r, i, 21);
	e->holdout_share = PQgetisnull(r, i, 22) ? 0 : strtod(PQgetvalue(r, i, 22), NULL) / 100;
	e->is_holdout = PQgetvalue(r, i, 23)[0] == 't';
}

int nb_pg_experiment_get(PGconn *conn, const char *key, int for_update, nb_pg_experiment *out,
			 nb_err *err)
{
	memset(out, 0, sizeof *out);
	char sql[2048];
	snprintf(sql, sizeof sql, "%sWHERE e.key = $1%s", exp_select,
		 for_update ? " FOR UPDATE OF e" : "");
	const char *p[] = {key};
	PGresult *r = nb_pg_exec(conn, sql, 1, p, err);
	if (!r)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return nb_err_set(err, NB_EINPUT, "no experiment '%s' (see `neonblue exp list`)", key);
	}
	fill_row(r, 0, out);
	PQclear(r);
	return 0;
}

int nb_pg_experiment_list(PGconn *conn, const char *status, nb_pg_experiment **out, int *n,
			  nb_err *err)
{
	*out = NULL;
	*n = 0;
	char sql[2048];
	snprintf(sql, sizeof sql, "%sWHERE ($1::text IS NULL OR e.status = $1) ORDER BY e.key",
		 exp_select);
	const char *p[] = {status};
	PGresult *r = nb_pg_exec(conn, sql, 1, p, err);
	if (!r)
		return -1;
	int cnt = PQntuples(r);
	nb_pg_experiment *a = nb_xcalloc((size_t)(cnt ? cnt : 1), sizeof *a);
	for (int i = 0; i < cnt; i++)
		fill_row(r, i, &a[i]);
	PQclear(r);
	*out = a;
	*n = cnt;
	return 0;
}

/* ---- writing -------------------------------------------------------------- */

static int check_metrics_exist(PGconn *conn, const nb_pg_experiment *e, nb_err *err)
{
	for (int i = 0; i < e->nmetrics; i++) {
		const char *p[] = {e->metrics[i].key};
		PGresult *r = nb_pg_exec(conn, "SELECT 1 FROM metrics WHERE key = $1", 1, p, err);
		if (!r)
			return -1;
		int found = PQntuples(r) > 0;
		PQclear(r);
		if (!found)
			return nb_err_set(err, NB_EINPUT,
					  "metrics[%d].key: no metric '%s' (create it with `neonblue "
					  "metric create`)",
					  i, e->metrics[i].key);
	}
	return 0;
}

static int write_variants(PGconn *conn, const nb_pg_experiment *e, nb_err *err)
{
	const char *p0[] = {e->key};
	if (nb_pg_run(conn, "DELETE FROM variants WHERE experiment = $1", 1, p0, err))
		return -1;
	for (int i = 0; i < e->nvariants; i++) {
		const nb_pg_variant *v = &e->variants[i];
		char w[40], pos[16];
		snprintf(w, sizeof w, "%.17g", v->weight);
		snprintf(pos, sizeof pos, "%d", i);
		char *cfg = nb_json_print(v->config);
		const char *p[] = {e->key, v->key, v->name, w, v->is_control ? "t" : "f", cfg, pos};
		int rc = nb_pg_run(conn,
				   "INSERT INTO variants (experiment, key, name, weight, is_control, "
				   "config, position) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
				   7, p, err);
		free(cfg);
		if (rc)
			return -1;
	}
	return 0;
}

static int write_metrics(PGconn *conn, const nb_pg_experiment *e, nb_err *err)
{
	const char *p0[] = {e->key};
	if (nb_pg_run(conn, "DELETE FROM experiment_metrics WHERE experiment = $1", 1, p0, err))
		return -1;
	for (int i = 0; i < e->nmetrics; i++) {
		char pos[16];
		snprintf(pos, sizeof pos, "%d", i);
		const char *p[] = {e->key, e->metrics[i].key, e->metrics[i].role, pos};
		if (nb_pg_run(conn,
			      "INSERT INTO experiment_metrics (experiment, metric, role, position) "
			      "VALUES ($1, $2, $3, $4)",
			      4, p, err))
			return -1;
	}
	return 0;
}

/* The holdout e names must be one, and a holdout names none. */
static int check_holdout(PGconn *conn, const nb_pg_experiment *e, nb_err *err)
{
	if (!e->holdout)
		return 0;
	const char *p[] = {e->holdout, e->key};
	PGresult *r = nb_pg_exec(conn,
				 "SELECT EXISTS (SELECT 1 FROM holdouts WHERE key = $1), "
				 "EXISTS (SELECT 1 FROM holdouts WHERE key = $2)",
				 2, p, err);
	if (!r)
		return -1;
	int known = PQgetvalue(r, 0, 0)[0] == 't', is_holdout = PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (!known)
		return nb_err_set(err, NB_EINPUT,
				  "holdout: no holdout '%s' (see `neonblue holdout list`)", e->holdout);
	if (is_holdout)
		return nb_err_set(err, NB_EINPUT, "holdout: '%s' is a holdout and cannot name one",
				  e->key);
	return 0;
}

/* Inserts (insert=1) or updates the experiments row from e. */
static int write_row(PGconn *conn, const nb_pg_experiment *e, int insert, nb_err *err)
{
	char hv[8], cov[40], ns0[40], ns1[40], ver[24];
	snprintf(hv, sizeof hv, "%d", e->hash_version);
	snprintf(cov, sizeof cov, "%.17g", e->coverage);
	snprintf(ns0, sizeof ns0, "%.17g", e->ns_start);
	snprintf(ns1, sizeof ns1, "%.17g", e->ns_end);
	snprintf(ver, sizeof ver, "%ld", e->version);
	char *cond = e->condition ? nb_json_print(e->condition) : NULL;
	const char *p[] = {e->key,  e->name, e->description,		e->hypothesis,
			   e->seed, hv,	     cov,			e->ns_id,
			   e->ns_id ? ns0 : NULL, e->ns_id ? ns1 : NULL, cond, e->owner,
			   ver,	   e->holdout};
	const char *sql =
		insert ? "INSERT INTO experiments (key, name, description, hypothesis, seed, "
			 "hash_version, coverage, namespace_id, namespace_start, namespace_end, "
			 "condition, owner, version, holdout) VALUES ($1, $2, $3, $4, $5, $6, $7, "
			 "$8, $9, $10, $11::jsonb, $12, $13, $14) ON CONFLICT (key) DO NOTHING"
		       : "UPDATE experiments SET name = $2, description = $3, hypothesis = $4, "
			 "seed = $5, hash_version = $6, coverage = $7, namespace_id = $8, "
			 "namespace_start = $9, namespace_end = $10, condition = $11::jsonb, "
			 "owner = $12, version = $13, holdout = $14, updated_at = now() "
			 "WHERE key = $1";
	if (check_holdout(conn, e, err))
		return -1;
	PGresult *r = nb_pg_exec(conn, sql, 14, p, err);
	free(cond);
	if (!r)
		return -1;
	int rows = atoi(PQcmdTuples(r));
	PQclear(r);
	if (rows != 1) /* a concurrent create won the race */
		return nb_err_set(err, NB_EINPUT, "experiment '%s' already exists", e->key);
	return 0;
}

/* Reloads key and writes its audit row with before (may be NULL). */
static int audit_after(PGconn *conn, const char *key, const char *action, const char *actor,
		       const cJSON *before, nb_pg_experiment *out, nb_err *err)
{
	nb_pg_experiment now;
	if (nb_pg_experiment_get(conn, key, 0, &now, err))
		return -1;
	cJSON *after = nb_pg_experiment_to_json(&now);
	int rc = nb_pg_audit(conn, actor, action, "experiment", key, before, after, err);
	cJSON_Delete(after);
	if (out && !rc)
		*out = now;
	else
		nb_pg_experiment_done(&now);
	return rc;
}

static int fail_tx(PGconn *conn)
{
	nb_pg_rollback(conn);
	return -1;
}

int nb_pg_experiment_create(PGconn *conn, nb_pg_experiment *def, const char *actor, nb_err *err)
{
	if (nb_pg_experiment_validate(def, err))
		return -1;
	def->version = 1;
	if (nb_pg_begin(conn, err))
		return -1;
	const char *p[] = {def->key};
	PGresult *r = nb_pg_exec(conn, "SELECT status FROM experiments WHERE key = $1", 1, p, err);
	if (!r)
		return fail_tx(conn);
	if (PQntuples(r) > 0) {
		nb_err_set(err, NB_EINPUT, "experiment '%s' already exists (it is %s)", def->key,
			   PQgetvalue(r, 0, 0));
		PQclear(r);
		return fail_tx(conn);
	}
	PQclear(r);
	if (check_metrics_exist(conn, def, err) || write_row(conn, def, 1, err) ||
	    write_variants(conn, def, err) || write_metrics(conn, def, err) ||
	    audit_after(conn, def->key, "create", actor, NULL, NULL, err) || nb_pg_commit(conn, err))
		return fail_tx(conn);
	return 0;
}

int nb_pg_experiment_transition(PGconn *conn, const char *key, const char *action,
				const char *actor, nb_pg_experiment *out, nb_err *err)
{
	if (nb_pg_begin(conn, err))
		return -1;
	nb_pg_experiment cur;
	if (nb_pg_experiment_get(conn, key, 1, &cur, err))
		return fail_tx(conn);
	nb_err terr;
	const char *to = nb_pg_transition(cur.status, action, &terr);
	if (!to) {
		nb_err_set(err, NB_EINPUT, "experiment '%s': %s", key, terr.msg);
		nb_pg_experiment_done(&cur);
		return fail_tx(conn);
	}
	cJSON *before = nb_pg_experiment_to_json(&cur);
	nb_pg_experiment_done(&cur);
	const char *p[] = {key, to};
	int rc = nb_pg_run(conn,
			   "UPDATE experiments SET status = $2, updated_at = now(), "
			   "started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, now()) "
			   "ELSE started_at END, "
			   "stopped_at = CASE WHEN $2 = 'stopped' THEN now() ELSE stopped_at END "
			   "WHERE key = $1",
			   2, p, err);
	if (!rc)
		rc = audit_after(conn, key, action, actor, before, out, err);
	cJSON_Delete(before);
	if (rc || nb_pg_commit(conn, err)) {
		if (out && !rc)
			nb_pg_experiment_done(out);
		return fail_tx(conn);
	}
	return 0;
}

int nb_pg_experiment_delete(PGconn *conn, const char *key, const char *actor, nb_err *err)
{
	if (nb_pg_begin(conn, err))
		return -1;
	nb_pg_experiment cur;
	if (nb_pg_experiment_get(conn, key, 1, &cur, err))
		return fail_tx(conn);
	if (strcmp(cur.status, "draft")) {
		nb_err_set(err, NB_EINPUT,
			   "cannot delete experiment '%s': it is %s (only drafts can be deleted; "
			   "stop and archive it instead)",
			   key, cur.status);
		nb_pg_experiment_done(&cur);
		return fail_tx(conn);
	}
	cJSON *before = nb_pg_experiment_to_json(&cur);
	nb_pg_experiment_done(&cur);
	const char *p[] = {key};
	int rc = nb_pg_run(conn, "DELETE FROM experiments WHERE key = $1", 1, p, err);
	if (!rc)
		rc = nb_pg_audit(conn, actor, "delete", "experiment", key, before, NULL, err);
	cJSON_Delete(before);
	if (rc || nb_pg_commit(conn, err))
		return fail_tx(conn);
	return 0;
}

/* ---- edit ----------------------------------------------------------------- */

/* The part of a definition that decides who gets which variant. */
static char *assign_signature(const nb_pg_experiment *e, int with_weights)
{
	cJSON *j = nb_pg_experiment_to_json(e);
	static const char *drop[] = {"name",	"description", "hypothesis", "status",
				     "owner",	"metrics",     "version",    "created_at",
				     "updated_at", "started_at", "stopped_at"};
	for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
		cJSON_DeleteItemFromObjectCaseSensitive(j, drop[i]);
	cJSON *vs = cJSON_GetObjectItemCaseSensitive(j, "variants");
	for (cJSON *v = vs ? vs->child : NULL; v; v = v->next) {
		cJSON_DeleteItemFromObjectCaseSensitive(v, "name");
		cJSON_DeleteItemFromObjectCaseSensitive(v, "config");
		if (!with_weights)
			cJSON_DeleteItemFromObjectCaseSensitive(v, "weight");
	}
	char *s = nb_json_print(j);
	cJSON_Delete(j);
	return s;
}

static int same_signature(const nb_pg_experiment *a, const nb_pg_experiment *b, int with_weights)
{
	char *x = assign_signature(a, with_weights), *y = assign_signature(b, with_weights);
	int same = !strcmp(x, y);
	free(x);
	free(y);
	return same;
}

static void set_str(cJSON *j, const char *field, const char *v)
{
	if (v)
		cJSON_ReplaceItemInObjectCaseSensitive(j, field, cJSON_CreateString(v));
}

static int edit_namespace(cJSON *j, const char *spec, nb_err *err)
{
	if (!strcmp(spec, "none") || !*spec) {
		cJSON_ReplaceItemInObjectCaseSensitive(j, "namespace", cJSON_CreateNull());
		return 0;
	}
	char id[256];
	double s, e;
	int used = 0;
	if (sscanf(spec, "%255[^:]:%lf:%lf%n", id, &s, &e, &used) != 3 || spec[used])
		return nb_err_set(err, NB_EINPUT, "namespace '%s' must be id:start:end or none", spec);
	cJSON *ns = cJSON_CreateArray();
	cJSON_AddItemToArray(ns, cJSON_CreateString(id));
	cJSON_AddItemToArray(ns, cJSON_CreateNumber(s));
	cJSON_AddItemToArray(ns, cJSON_CreateNumber(e));
	cJSON_ReplaceItemInObjectCaseSensitive(j, "namespace", ns);
	return 0;
}

/* New variants from a spec, keeping name, config and control of known keys. */
static int edit_variants(cJSON *j, const nb_pg_experiment *cur, const char *spec, nb_err *err)
{
	nb_pg_variant *v;
	int n;
	if (nb_pg_variants_parse(spec, &v, &n, err))
		return -1;
	const char *ctl = NULL;
	for (int i = 0; i < cur->nvariants; i++)
		if (cur->variants[i].is_control)
			ctl = cur->variants[i].key;
	int ctl_kept = 0;
	for (int i = 0; i < n; i++)
		ctl_kept |= ctl && !strcmp(v[i].key, ctl);
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		const nb_pg_variant *old = NULL;
		for (int k = 0; k < cur->nvariants; k++)
			if (!strcmp(cur->variants[k].key, v[i].key))
				old = &cur->variants[k];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", v[i].key);
		cJSON_AddStringToObject(o, "name", old ? old->name : v[i].key);
		cJSON_AddNumberToObject(o, "weight", v[i].weight);
		cJSON_AddBoolToObject(o, "is_control", ctl_kept ? !strcmp(v[i].key, ctl) : i == 0);
		cJSON_AddItemToObject(o, "config", old ? cJSON_Duplicate(old->config, 1)
						       : cJSON_CreateObject());
		cJSON_AddItemToArray(a, o);
	}
	nb_pg_variants_free(v, n);
	cJSON_ReplaceItemInObjectCaseSensitive(j, "variants", a);
	return 0;
}

static int edit_metrics(cJSON *j, const char *spec, nb_err *err)
{
	nb_pg_exp_metric *m;
	int n;
	if (nb_pg_exp_metrics_parse(spec, &m, &n, err))
		return -1;
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", m[i].key);
		cJSON_AddStringToObject(o, "role", m[i].role);
		cJSON_AddItemToArray(a, o);
	}
	nb_pg_exp_metrics_free(m, n);
	cJSON_ReplaceItemInObjectCaseSensitive(j, "metrics", a);
	return 0;
}

static int edit_targeting(cJSON *j, const nb_pg_experiment_edit *ed, nb_err *err)
{
	if (ed->coverage >= 0) {
		if (!(ed->coverage <= 1))
			return nb_err_set(err, NB_EINPUT, "coverage must be between 0 and 1 (got %g)",
					  ed->coverage);
		cJSON_ReplaceItemInObjectCaseSensitive(j, "coverage", cJSON_CreateNumber(ed->coverage));
	}
	if (ed->hash_version)
		cJSON_ReplaceItemInObjectCaseSensitive(j, "hash_version",
						       cJSON_CreateNumber(ed->hash_version));
	if (ed->condition_json) {
		cJSON *c = cJSON_Parse(ed->condition_json);
		if (!c || !(cJSON_IsObject(c) || cJSON_IsNull(c))) {
			cJSON_Delete(c);
			return nb_err_set(err, NB_EINPUT,
					  "condition must be a JSON object or null (got '%.80s')",
					  ed->condition_json);
		}
		cJSON_ReplaceItemInObjectCaseSensitive(j, "condition", c);
	}
	if (ed->namespace_spec && edit_namespace(j, ed->namespace_spec, err))
		return -1;
	if (ed->holdout)
		cJSON_ReplaceItemInObjectCaseSensitive(j, "holdout",
						       strcmp(ed->holdout, "none")
							       ? cJSON_CreateString(ed->holdout)
							       : cJSON_CreateNull());
	return 0;
}

/* Builds the edited definition from cur and ed (validated, not yet checked
 * against the lifecycle). */
static int edited_definition(const nb_pg_experiment *cur, const nb_pg_experiment_edit *ed,
			     nb_pg_experiment *next, nb_err *err)
{
	if (ed->replace && (!ed->replace->key || strcmp(ed->replace->key, cur->key)))
		return nb_err_set(err, NB_EINPUT,
				  "key '%s' in the definition differs from '%s' (keys cannot be changed)",
				  ed->replace && ed->replace->key ? ed->replace->key : "", cur->key);
	cJSON *j = nb_pg_experiment_to_json(ed->replace ? ed->replace : cur);
	set_str(j, "name", ed->name);
	set_str(j, "description", ed->description);
	set_str(j, "hypothesis", ed->hypothesis);
	set_str(j, "owner", ed->owner);
	set_str(j, "seed", ed->seed);
	if (ed->reseed && !ed->seed) {
		char s[128];
		snprintf(s, sizeof s, "%s-v%ld", cur->key, cur->version + 1);
		set_str(j, "seed", s);
	}
	int rc = edit_targeting(j, ed, err);
	if (!rc && ed->variants_spec)
		rc = edit_variants(j, cur, ed->variants_spec, err);
	if (!rc && ed->metrics_spec)
		rc = edit_metrics(j, ed->metrics_spec, err);
	if (!rc)
		rc = nb_pg_experiment_from_json(j, next, err);
	cJSON_Delete(j);
	return rc;
}

static int same_variant_keys(const nb_pg_experiment *a, const nb_pg_experiment *b)
{
	if (a->nvariants != b->nvariants)
		return 0;
	for (int i = 0; i < a->nvariants; i++)
		if (strcmp(a->variants[i].key, b->variants[i].key) ||
		    a->variants[i].is_control != b->variants[i].is_control)
			return 0;
	return 1;
}

/* The lifecycle's say on an edit of cur into next. */
static int edit_allowed(const nb_pg_experiment *cur, const nb_pg_experiment *next,
			const nb_pg_experiment_edit *ed, nb_err *err)
{
	const char *st = cur->status, *k = cur->key;
	if (!strcmp(st, "draft"))
		return 0;
	if (!strcmp(st, "archived"))
		return nb_err_set(err, NB_EINPUT, "cannot edit experiment '%s': it is archived", k);
	int assigns_same = same_signature(cur, next, 1);
	if (!strcmp(st, "stopped")) {
		if (!assigns_same || ed->reseed)
			return nb_err_set(err, NB_EINPUT,
					  "cannot change how experiment '%s' assigns users: it is "
					  "stopped (only name, description, hypothesis, owner and "
					  "metrics can be edited)",
					  k);
		return 0;
	}
	if (!same_variant_keys(cur, next))
		return nb_err_set(err, NB_EINPUT,
				  "cannot change the variants of experiment '%s': it is %s (only "
				  "drafts can; a running experiment can only be re-weighted with "
				  "--reseed)",
				  k, st);
	int reweighted = 0;
	for (int i = 0; i < cur->nvariants; i++)
		if (fabs(cur->variants[i].weight - next->variants[i].weight) > 1e-12)
			reweighted = 1;
	if (reweighted && !ed->reseed)
		return nb_err_set(err, NB_EINPUT,
				  "cannot change the weights of experiment '%s' while it is %s "
				  "without --reseed (which bumps version and seed)",
				  k, st);
	if ((next->hash_version != cur->hash_version || strcmp(next->seed, cur->seed)) &&
	    !ed->reseed)
		return nb_err_set(err, NB_EINPUT,
				  "cannot change the seed or hash version of experiment '%s' while it "
				  "is %s without --reseed",
				  k, st);
	return 0;
}

static int write_edit(PGconn *conn, const nb_pg_experiment *cur, nb_pg_experiment *next,
		      nb_err *err)
{
	next->version = cur->version + (same_signature(cur, next, 1) ? 0 : 1);
	cJSON *vc = nb_pg_experiment_to_json(cur), *vn = nb_pg_experiment_to_json(next);
	char *a = nb_json_print(cJSON_GetObjectItemCaseSensitive(vc, "variants"));
	char *b = nb_json_print(cJSON_GetObjectItemCaseSensitive(vn, "variants"));
	char *ma = nb_json_print(cJSON_GetObjectItemCaseSensitive(vc, "metrics"));
	char *mb = nb_json_print(cJSON_GetObjectItemCaseSensitive(vn, "metrics"));
	int rc = write_row(conn, next, 0, err);
	if (!rc && strcmp(a, b))
		rc = write_variants(conn, next, err);
	if (!rc && strcmp(ma, mb))
		rc = check_metrics_exist(conn, next, err) || write_metrics(conn, next, err);
	free(a);
	free(b);
	free(ma);
	free(mb);
	cJSON_Delete(vc);
	cJSON_Delete(vn);
	return rc ? -1 : 0;
}

/* 1 when next differs from cur in anything stored. */
static int changed(const nb_pg_experiment *cur, const nb_pg_experiment *next)
{
	cJSON *a = nb_pg_experiment_to_json(cur), *b = nb_pg_experiment_to_json(next);
	static const char *drop[] = {"status",	   "version",	 "created_at",
				     "updated_at", "started_at", "stopped_at"};
	for (size_t i = 0; i < sizeof drop / sizeof *drop; i++) {
		cJSON_DeleteItemFromObjectCaseSensitive(a, drop[i]);
		cJSON_DeleteItemFromObjectCaseSensitive(b, drop[i]);
	}
	char *x = nb_json_print(a), *y = nb_json_print(b);
	int diff = strcmp(x, y) != 0;
	free(x);
	free(y);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return diff;
}

int nb_pg_experiment_edit_apply(PGconn *conn, const char *key, const nb_pg_experiment_edit *ed,
				const char *actor, nb_pg_experiment *out, nb_err *err)
{
	if (nb_pg_begin(conn, err))
		return -1;
	nb_pg_experiment cur, next;
	memset(&next, 0, sizeof next);
	if (nb_pg_experiment_get(conn, key, 1, &cur, err))
		return fail_tx(conn);
	int rc = edited_definition(&cur, ed, &next, err);
	if (!rc)
		rc = edit_allowed(&cur, &next, ed, err);
	int dirty = !rc && changed(&cur, &next);
	if (!rc && dirty)
		rc = write_edit(conn, &cur, &next, err);
	cJSON *before = rc || !dirty ? NULL : nb_pg_experiment_to_json(&cur);
	if (!rc && dirty)
		rc = audit_after(conn, key, ed->reseed ? "reseed" : "update", actor, before, out, err);
	else if (!rc && out)
		rc = nb_pg_experiment_get(conn, key, 0, out, err);
	cJSON_Delete(before);
	nb_pg_experiment_done(&cur);
	nb_pg_experiment_done(&next);
	if (rc || nb_pg_commit(conn, err)) {
		if (out && !rc)
			nb_pg_experiment_done(out);
		return fail_tx(conn);
	}
	return 0;
}
