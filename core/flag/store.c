/* flag/store.c — flags in PostgreSQL (core/sql/pg/006_flags.sql): create,
 * edit, on/off, rollout, get, list, each write audited in its transaction
 * (entity "flag"), and the resolution evaluation needs (holdouts, running
 * experiments, saved groups). */
#include "neonblue/flag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define FLAG_COLS                                                                                  \
	"key, type, description, default_value::text, enabled, rules::text, version, " TS(         \
	    "created_at") ", " TS("updated_at")

/* One row of FLAG_COLS into out (parsed and validated like a definition). */
static int flag_row(PGresult *r, int row, nb_flag *out, nb_err *err)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "key", PQgetvalue(r, row, 0));
	cJSON_AddStringToObject(j, "type", PQgetvalue(r, row, 1));
	cJSON_AddStringToObject(j, "description", PQgetvalue(r, row, 2));
	cJSON *dv = cJSON_Parse(PQgetvalue(r, row, 3));
	cJSON_AddItemToObject(j, "default_value", dv ? dv : cJSON_CreateNull());
	cJSON_AddBoolToObject(j, "enabled", PQgetvalue(r, row, 4)[0] == 't');
	cJSON *rules = cJSON_Parse(PQgetvalue(r, row, 5));
	cJSON_AddItemToObject(j, "rules", rules ? rules : cJSON_CreateArray());
	int rc = nb_flag_from_json(j, out, err);
	cJSON_Delete(j);
	if (rc) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
		return nb_err_set(err, NB_ESERVER, "stored flag '%s' is unreadable: %s",
				  PQgetvalue(r, row, 0), msg);
	}
	out->version = strtol(PQgetvalue(r, row, 6), NULL, 10);
	snprintf(out->created_at, sizeof out->created_at, "%s", PQgetvalue(r, row, 7));
	snprintf(out->updated_at, sizeof out->updated_at, "%s", PQgetvalue(r, row, 8));
	return 0;
}

/* Loads key without resolving it; for_update locks the row. */
static int flag_load(PGconn *pg, const char *key, int for_update, nb_flag *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	const char *p[] = {key};
	PGresult *r =
	    nb_pg_exec(pg,
		       for_update ? "SELECT " FLAG_COLS " FROM flags WHERE key = $1 FOR UPDATE"
				  : "SELECT " FLAG_COLS " FROM flags WHERE key = $1",
		       1, p, err);
	if (!r)
		return -1;
	int rc = PQntuples(r)
		     ? flag_row(r, 0, out, err)
		     : nb_err_set(err, NB_EINPUT, "no flag '%s' (see `neonblue flag list`)", key);
	PQclear(r);
	return rc;
}

/* ---- resolution ---- */

static int resolve_rule(PGconn *pg, nb_flag_rule *r, int i, nb_err *err)
{
	if (r->kind == NB_FLAG_ROLLOUT && r->holdout) {
		nb_pg_holdout h;
		if (nb_pg_holdout_get(pg, r->holdout, &h, err)) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
			return nb_err_set(err, err ? err->code : NB_EINPUT, "rules[%d].holdout: %s",
					  i, msg);
		}
		r->holdout_seed = nb_xstrdup(h.seed);
		r->holdout_share = h.share;
	}
	if (r->kind == NB_FLAG_EXPERIMENT) {
		nb_pg_experiment *e = nb_xcalloc(1, sizeof *e);
		nb_err e2 = {0};
		if (nb_pg_experiment_get(pg, r->experiment, 0, e, &e2)) {
			free(e);
			if (e2.code != NB_EINPUT) /* gone: the rule is skipped */
				return nb_err_set(err, e2.code, "%s", e2.msg);
		} else if (strcmp(e->status, "running")) {
			nb_pg_experiment_done(e); /* not running: the rule is skipped */
			free(e);
		} else {
			r->exp = e;
			nb_pg_experiment_assign_view(e, &r->view);
			r->values = nb_xcalloc((size_t)e->nvariants, sizeof *r->values);
			for (int k = 0; k < e->nvariants; k++)
				r->values[k] = cJSON_GetObjectItemCaseSensitive(r->variations,
										e->variants[k].key);
		}
	}
	r->resolved = 1;
	return 0;
}

int nb_flag_resolve(PGconn *pg, nb_flag *f, nb_err *err)
{
	if (!f->saved_groups && !(f->saved_groups = nb_pg_groups_load(pg, err)))
		return -1;
	for (int i = 0; i < f->nrules; i++)
		if (!f->rules[i].resolved && resolve_rule(pg, &f->rules[i], i, err))
			return -1;
	return 0;
}

int nb_flag_get(PGconn *pg, const char *key, nb_flag *out, nb_err *err)
{
	if (flag_load(pg, key, 0, out, err))
		return -1;
	if (nb_flag_resolve(pg, out, err)) {
		nb_flag_done(out);
		return -1;
	}
	return 0;
}

int nb_flag_list(PGconn *pg, nb_flag **out, size_t *n, nb_err *err)
{
	*out = NULL;
	*n = 0;
	PGresult *r = nb_pg_exec(pg, "SELECT " FLAG_COLS " FROM flags ORDER BY key", 0, NULL, err);
	if (!r)
		return -1;
	size_t rows = (size_t)PQntuples(r);
	nb_flag *v = rows ? nb_xcalloc(rows, sizeof *v) : NULL;
	cJSON *groups = rows ? nb_pg_groups_load(pg, err) : NULL; /* once for all */
	int rc = rows && !groups ? -1 : 0;
	size_t done = 0;
	for (; !rc && done < rows; done++) {
		rc = flag_row(r, (int)done, &v[done], err);
		if (!rc) {
			v[done].saved_groups = cJSON_Duplicate(groups, 1);
			rc = nb_flag_resolve(pg, &v[done], err);
		}
	}
	cJSON_Delete(groups);
	PQclear(r);
	if (rc) {
		nb_flag_list_free(v, done);
		return -1;
	}
	*out = v;
	*n = rows;
	return 0;
}

/* ---- checks against the database ---- */

static int check_experiment_rule(PGconn *pg, const nb_flag_rule *r, int i, nb_err *err)
{
	nb_pg_experiment e;
	nb_err e2 = {0};
	if (nb_pg_experiment_get(pg, r->experiment, 0, &e, &e2))
		return nb_err_set(err, e2.code,
				  e2.code == NB_EINPUT ? "rules[%d].experiment: no experiment '%s'"
						       : "rules[%d].experiment '%s': %s",
				  i, r->experiment, e2.msg);
	int rc = 0;
	for (int k = 0; !rc && k < e.nvariants; k++)
		if (!cJSON_GetObjectItemCaseSensitive(r->variations, e.variants[k].key))
			rc = nb_err_set(
			    err, NB_EINPUT,
			    "rules[%d].variations: no value for variant '%s' of experiment '%s'", i,
			    e.variants[k].key, r->experiment);
	for (const cJSON *v = r->variations->child; !rc && v; v = v->next) {
		int k = 0;
		while (k < e.nvariants && strcmp(e.variants[k].key, v->string))
			k++;
		if (k == e.nvariants)
			rc = nb_err_set(
			    err, NB_EINPUT,
			    "rules[%d].variations.%s: experiment '%s' has no such variant", i,
			    v->string, r->experiment);
	}
	nb_pg_experiment_done(&e);
	return rc;
}

/* Validates f (in place) and checks what the database knows. */
static int check_flag(PGconn *pg, nb_flag *f, nb_err *err)
{
	if (nb_flag_validate(f, err))
		return -1;
	const char *p[] = {f->key};
	PGresult *r = nb_pg_exec(pg, "SELECT 1 FROM experiments WHERE key = $1", 1, p, err);
	if (!r)
		return -1;
	int taken = PQntuples(r) > 0;
	PQclear(r);
	if (taken)
		return nb_err_set(err, NB_EINPUT,
				  "key '%s' is an experiment's: a flag needs another key", f->key);
	for (int i = 0; i < f->nrules; i++) {
		nb_flag_rule *rule = &f->rules[i];
		if (rule->kind == NB_FLAG_EXPERIMENT && check_experiment_rule(pg, rule, i, err))
			return -1;
		if (rule->kind == NB_FLAG_ROLLOUT && rule->holdout &&
		    resolve_rule(pg, rule, i, err))
			return -1;
	}
	return 0;
}

/* ---- writes ---- */

static char *rules_text(const nb_flag *f)
{
	cJSON *j = nb_flag_to_json(f);
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "rules"));
	cJSON_Delete(j);
	return s;
}

/* INSERT (create) or UPDATE of f's row, and its audit row, inside the
 * caller's transaction. before: the stored JSON, NULL on create. */
static int write_flag(PGconn *pg, const nb_flag *f, const char *action, const cJSON *before,
		      const char *actor, nb_err *err)
{
	char *dv = cJSON_PrintUnformatted(f->default_value);
	char *rules = rules_text(f);
	const char *p[] = {f->key, nb_flag_type_str(f->type),	  f->description,
			   dv,	   f->enabled ? "true" : "false", rules};
	PGresult *r =
	    before
		? nb_pg_exec(pg,
			     "UPDATE flags SET type = $2, description = $3, default_value = $4, "
			     "enabled = $5, rules = $6, version = version + 1, updated_at = now() "
			     "WHERE key = $1 RETURNING " FLAG_COLS,
			     6, p, err)
		: nb_pg_exec(pg,
			     "INSERT INTO flags (key, type, description, default_value, enabled, "
			     "rules) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING "
			     "RETURNING " FLAG_COLS,
			     6, p, err);
	free(dv);
	free(rules);
	if (!r)
		return -1;
	if (!PQntuples(r)) {
		PQclear(r);
		return nb_err_set(err, NB_EINPUT, "flag '%s' already exists", f->key);
	}
	nb_flag stored;
	int rc = flag_row(r, 0, &stored, err);
	PQclear(r);
	if (rc)
		return -1;
	cJSON *after = nb_flag_to_json(&stored);
	rc = nb_pg_audit(pg, actor, action, "flag", f->key, before, after, err);
	cJSON_Delete(after);
	nb_flag_done(&stored);
	return rc;
}

int nb_flag_create(PGconn *pg, const nb_flag_spec *spec, const char *actor, nb_err *err)
{
	nb_flag f;
	nb_flag_copy(&f, spec);
	int rc = nb_pg_begin(pg, err);
	if (!rc)
		rc = check_flag(pg, &f, err);
	if (!rc)
		rc = write_flag(pg, &f, "create", NULL, actor, err);
	if (!rc)
		rc = nb_pg_commit(pg, err);
	if (rc)
		nb_pg_rollback(pg);
	nb_flag_done(&f);
	return rc;
}

/* A change to a loaded flag (in place); 0 or -1 with err. */
typedef int (*flag_change)(nb_flag *f, const void *ctx, nb_err *err);

/* Loads key for update, applies change, checks, writes with audit action,
 * commits; out (may be NULL) gets the result, resolved. */
static int flag_modify(PGconn *pg, const char *key, const char *action, flag_change change,
		       const void *ctx, const char *actor, nb_flag *out, nb_err *err)
{
	if (out)
		memset(out, 0, sizeof *out);
	nb_flag f;
	memset(&f, 0, sizeof f);
	cJSON *before = NULL;
	int rc = nb_pg_begin(pg, err);
	if (!rc && !(rc = flag_load(pg, key, 1, &f, err))) {
		before = nb_flag_to_json(&f);
		rc = change(&f, ctx, err);
	}
	if (!rc)
		rc = check_flag(pg, &f, err);
	cJSON *after = rc ? NULL : nb_flag_to_json(&f);
	/* a change that changes nothing writes nothing (like `exp edit`) */
	if (!rc && !cJSON_Compare(before, after, 1))
		rc = write_flag(pg, &f, action, before, actor, err);
	if (!rc)
		rc = nb_pg_commit(pg, err);
	if (rc)
		nb_pg_rollback(pg);
	cJSON_Delete(after);
	cJSON_Delete(before);
	nb_flag_done(&f);
	if (!rc && out)
		rc = nb_flag_get(pg, key, out, err);
	return rc;
}

static int apply_changes(nb_flag *f, const void *ctx, nb_err *err)
{
	const nb_flag_changes *ch = ctx;
	if (ch->replace) {
		if (!ch->replace->key || strcmp(ch->replace->key, f->key))
			return nb_err_set(err, NB_EINPUT,
					  "key: the definition is of '%s', not of flag '%s'",
					  ch->replace->key ? ch->replace->key : "", f->key);
		nb_flag_done(f);
		nb_flag_copy(f, ch->replace);
	}
	if (ch->description) {
		free(f->description);
		f->description = nb_xstrdup(ch->description);
	}
	if (ch->default_json) {
		cJSON *v = cJSON_Parse(ch->default_json);
		if (!v)
			return nb_err_set(err, NB_EINPUT, "default_value: '%s' is not JSON",
					  ch->default_json);
		cJSON_Delete(f->default_value);
		f->default_value = v;
	}
	if (ch->rules_json) {
		cJSON *a = cJSON_Parse(ch->rules_json);
		int rc = a ? nb_flag_rules_from_json(a, f, err)
			   : nb_err_set(err, NB_EINPUT, "rules: not JSON");
		cJSON_Delete(a);
		if (rc)
			return -1;
	}
	if (ch->remove_rule >= 0) {
		if (ch->remove_rule >= f->nrules)
			return nb_err_set(err, NB_EINPUT, "rules[%d]: flag '%s' has %d rule%s",
					  ch->remove_rule, f->key, f->nrules,
					  f->nrules == 1 ? "" : "s");
		cJSON *j = nb_flag_to_json(f);
		cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "rules");
		cJSON_DeleteItemFromArray(a, ch->remove_rule);
		int rc = nb_flag_rules_from_json(a, f, err);
		cJSON_Delete(j);
		if (rc)
			return -1;
	}
	if (ch->add_rule_json) {
		cJSON *j = nb_flag_to_json(f);
		cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "rules");
		cJSON *rule = cJSON_Parse(ch->add_rule_json);
		if (!rule) {
			cJSON_Delete(j);
			return nb_err_set(err, NB_EINPUT, "rules[%d]: the new rule is not JSON",
					  f->nrules);
		}
		cJSON_AddItemToArray(a, rule);
		int rc = nb_flag_rules_from_json(a, f, err);
		cJSON_Delete(j);
		if (rc)
			return -1;
	}
	return 0;
}

int nb_flag_edit(PGconn *pg, const char *key, const nb_flag_changes *ch, const char *actor,
		 nb_flag *out, nb_err *err)
{
	return flag_modify(pg, key, "edit", apply_changes, ch, actor, out, err);
}

static int apply_enabled(nb_flag *f, const void *ctx, nb_err *err)
{
	(void)err;
	f->enabled = *(const int *)ctx;
	return 0;
}

int nb_flag_set_enabled(PGconn *pg, const char *key, int on, const char *actor, nb_err *err)
{
	on = on != 0;
	return flag_modify(pg, key, on ? "on" : "off", apply_enabled, &on, actor, NULL, err);
}

static int apply_rollout(nb_flag *f, const void *ctx, nb_err *err)
{
	double c = *(const double *)ctx;
	if (!(c >= 0 && c <= 1))
		return nb_err_set(err, NB_EINPUT,
				  "coverage must be between 0 and 1 (0%%..100%%), got %g", c);
	for (int i = 0; i < f->nrules; i++)
		if (f->rules[i].kind == NB_FLAG_ROLLOUT) {
			f->rules[i].coverage = c;
			return 0;
		}
	if (f->type != NB_FLAG_BOOLEAN)
		return nb_err_set(err, NB_EINPUT,
				  "flag '%s' (%s) has no rollout rule: add one with `neonblue flag "
				  "edit %s --add-rule '{\"type\":\"rollout\",...}'`",
				  f->key, nb_flag_type_str(f->type), f->key);
	f->rules = nb_xrealloc(f->rules, (size_t)(f->nrules + 1) * sizeof *f->rules);
	nb_flag_rule *r = &f->rules[f->nrules++];
	memset(r, 0, sizeof *r);
	r->kind = NB_FLAG_ROLLOUT;
	r->coverage = c;
	r->value = cJSON_CreateTrue();
	return 0;
}

int nb_flag_set_rollout(PGconn *pg, const char *key, double coverage, const char *actor,
			nb_err *err)
{
	return flag_modify(pg, key, "rollout", apply_rollout, &coverage, actor, NULL, err);
}
