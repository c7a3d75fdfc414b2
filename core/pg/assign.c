/* pg/assign.c — sticky assignment in PostgreSQL: read stored decisions,
 * decide the rest with nb_assign, insert them ON CONFLICT DO NOTHING, read back. */
#include "neonblue/pg.h"
#include "neonblue/assign.h"
#include "neonblue/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGA_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* The stored row of one user, as a subquery the planner cannot flatten: one
 * primary-key probe per user however large the experiment (a plain join or
 * = ANY() may scan every row of the experiment when statistics lag). */
#define PGA_STORED(user) \
	"(SELECT * FROM assignments x WHERE x.experiment = $1 AND x.user_id = " user " LIMIT 1)"

int nb_pg_assign_load(PGconn *conn, const char *key, nb_pg_experiment *out, nb_err *err)
{
	if (nb_pg_experiment_get(conn, key, 0, out, err) < 0)
		return -1;
	if (strcmp(out->status, "running")) {
		nb_err_set(err, NB_EINPUT,
			   "experiment \"%s\" is %s, not running: assignment is refused", key,
			   out->status);
		nb_pg_experiment_done(out);
		return -1;
	}
	return 0;
}

void nb_pg_array_elem(nb_buf *b, const char *s, int first)
{
	if (!first)
		nb_buf_putc(b, ',');
	if (!s) {
		nb_buf_puts(b, "NULL");
		return;
	}
	nb_buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			nb_buf_putc(b, '\\');
		nb_buf_putc(b, *s);
	}
	nb_buf_putc(b, '"');
}

/* The batch being assigned: users sorted (by name, then position) so rows
 * coming back from the server map to their first occurrence. */
struct pga_batch {
	int n;
	const char *const *users;
	int *order;  /* positions sorted by (user, position) */
	int *filled; /* result known */
	nb_pg_assignment *out;
};

static int pga_cmp_pos(const void *a, const void *b, void *users)
{
	const char *const *u = users;
	int x = *(const int *)a, y = *(const int *)b;
	int c = strcmp(u[x], u[y]);
	return c ? c : (x > y) - (x < y);
}

/* First position holding user, or -1. */
static int pga_find(const struct pga_batch *bt, const char *user)
{
	int lo = 0, hi = bt->n - 1, hit = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(bt->users[bt->order[mid]], user);
		if (c < 0) {
			lo = mid + 1;
		} else {
			if (!c)
				hit = mid;
			hi = mid - 1;
		}
	}
	return hit < 0 ? -1 : bt->order[hit];
}

static int pga_is_first(const struct pga_batch *bt, int i)
{
	return pga_find(bt, bt->users[i]) == i;
}

static void pga_fill_row(struct pga_batch *bt, PGresult *r, int row, int is_new)
{
	int i = pga_find(bt, PQgetvalue(r, row, 0));
	if (i < 0)
		return;
	nb_pg_assignment *a = &bt->out[i];
	a->in_experiment = 1;
	a->is_new = is_new;
	a->reason = is_new ? nb_assign_reason_str(NB_ASSIGN_IN) : "stored assignment";
	snprintf(a->variant, sizeof a->variant, "%s", PQgetvalue(r, row, 1));
	snprintf(a->source, sizeof a->source, "%s", PQgetvalue(r, row, 2));
	snprintf(a->assigned_at, sizeof a->assigned_at, "%s", PQgetvalue(r, row, 3));
	bt->filled[i] = 1;
}

/* Reads the stored rows of the users selected by want. */
static int pga_read_stored(PGconn *conn, const char *exp, struct pga_batch *bt, const int *want,
			   nb_err *err)
{
	nb_buf arr;
	nb_buf_init(&arr);
	nb_buf_putc(&arr, '{');
	int k = 0;
	for (int i = 0; i < bt->n; i++) {
		if (bt->filled[i] || !want[i])
			continue;
		nb_pg_array_elem(&arr, bt->users[i], k++ == 0);
	}
	nb_buf_putc(&arr, '}');
	int rc = 0;
	if (k) {
		const char *p[2] = {exp, arr.data};
		PGresult *r = nb_pg_exec(conn,
					 "SELECT a.user_id, a.variant, a.source, " PGA_TS("a.assigned_at")
					 " FROM unnest($2::text[]) AS w(u) CROSS JOIN LATERAL "
					 PGA_STORED("w.u") " a",
					 2, p, err);
		if (!r)
			rc = -1;
		for (int row = 0; r && row < PQntuples(r); row++)
			pga_fill_row(bt, r, row, 0);
		PQclear(r);
	}
	nb_buf_done(&arr);
	return rc;
}

/* The arrays of one round trip: every user (to read stored rows) and the
 * users, variants and contexts of those decided into the experiment. */
struct pga_arrays {
	nb_buf all, u, v, c;
	int nall, nin;
};

/* Decides every distinct user; in-experiment ones go to the INSERT, the
 * others keep their reason unless a stored row turns up. */
static int pga_decide(const nb_pg_experiment *e, struct pga_batch *bt, const cJSON *const *attrs,
		      const cJSON *groups, int *decided_in, enum nb_assign_reason *reason,
		      struct pga_arrays *a, nb_err *err)
{
	nb_assign_exp view;
	nb_pg_experiment_assign_view(e, &view);
	view.saved_groups = groups;
	for (int i = 0; i < bt->n; i++) {
		if (!pga_is_first(bt, i))
			continue;
		const cJSON *at = attrs ? attrs[i] : NULL;
		nb_assign_result res;
		if (nb_assign_decide(&view, bt->users[i], at, &res) < 0)
			return nb_err_set(err, NB_EINPUT,
					  "experiment \"%s\" cannot be used for assignment "
					  "(hash_version %d, %d variants)",
					  e->key, e->hash_version, e->nvariants);
		if (bt->users[i][0])
			nb_pg_array_elem(&a->all, bt->users[i], a->nall++ == 0);
		reason[i] = res.reason;
		if (!res.in_experiment)
			continue;
		char *ctx = at ? cJSON_PrintUnformatted(at) : NULL;
		nb_pg_array_elem(&a->u, bt->users[i], a->nin == 0);
		nb_pg_array_elem(&a->v, e->variants[res.variant].key, a->nin == 0);
		nb_pg_array_elem(&a->c, ctx, a->nin == 0);
		a->nin++;
		free(ctx);
		decided_in[i] = 1;
	}
	return 0;
}

/* One statement: insert the new decisions (ON CONFLICT DO NOTHING) and read
 * the rows stored before it for every other user of the batch. */
static int pga_upsert(PGconn *conn, const nb_pg_experiment *e, struct pga_batch *bt,
		      struct pga_arrays *a, nb_err *err)
{
	if (!a->nall)
		return 0;
	char ver[24];
	snprintf(ver, sizeof ver, "%ld", e->version);
	const char *p[6] = {e->key, a->u.data, a->v.data, a->c.data, ver, a->all.data};
	PGresult *r = nb_pg_exec_prepared(
		conn, "nb_assign_upsert",
		"WITH ins AS (INSERT INTO assignments (experiment, user_id, variant, source,"
		" experiment_version, context)"
		" SELECT $1, t.u, t.v, 'hash', $5::integer, t.c"
		" FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS t(u, v, c)"
		" ON CONFLICT (experiment, user_id) DO NOTHING"
		" RETURNING user_id, variant, source, assigned_at)"
		" SELECT user_id, variant, source, " PGA_TS("assigned_at") ", true FROM ins"
		" UNION ALL"
		" SELECT a.user_id, a.variant, a.source, " PGA_TS("a.assigned_at") ", false"
		" FROM unnest($6::text[]) AS w(u) CROSS JOIN LATERAL " PGA_STORED("w.u") " a"
		/* no probe for the users just inserted (a hash anti-join first) */
		" WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.user_id = w.u)",
		6, p, err);
	if (!r)
		return -1;
	for (int row = 0; row < PQntuples(r); row++)
		pga_fill_row(bt, r, row, PQgetvalue(r, row, 4)[0] == 't');
	PQclear(r);
	return 0;
}

/* Every user who reaches an experiment naming a holdout becomes a member of
 * the holdout: a sticky assignment to its backing experiment (variant
 * "holdout" or "general", by the same hash nb_assign_decide excludes by), so
 * PostgreSQL counts the holdout and its report has both groups. */
static int pga_holdout_members(PGconn *conn, const nb_pg_experiment *e, int n,
			       const char *const *users, const cJSON *const *attrs, nb_err *err)
{
	nb_pg_experiment h;
	if (nb_pg_experiment_get(conn, e->holdout, 0, &h, err))
		return -1;
	int rc = 0;
	if (!strcmp(h.status, "running") && !h.holdout) {
		nb_pg_assignment *tmp = nb_xcalloc((size_t)n, sizeof *tmp);
		rc = nb_pg_assign_batch(conn, &h, n, users, attrs, tmp, err);
		free(tmp);
	}
	nb_pg_experiment_done(&h);
	return rc;
}

int nb_pg_assign_batch(PGconn *conn, const nb_pg_experiment *e, int n, const char *const *users,
		       const cJSON *const *attrs, nb_pg_assignment *out, nb_err *err)
{
	if (n <= 0)
		return 0;
	if (e->holdout && pga_holdout_members(conn, e, n, users, attrs, err))
		return -1;
	struct pga_batch bt = {.n = n, .users = users, .out = out};
	bt.order = nb_xmalloc(sizeof(int) * (size_t)n);
	bt.filled = nb_xcalloc((size_t)n, sizeof(int));
	int *decided_in = nb_xcalloc((size_t)n, sizeof(int));
	enum nb_assign_reason *reason = nb_xcalloc((size_t)n, sizeof *reason);
	struct pga_arrays a = {0};
	nb_buf *bufs[4] = {&a.all, &a.u, &a.v, &a.c};
	for (int k = 0; k < 4; k++) {
		nb_buf_init(bufs[k]);
		nb_buf_putc(bufs[k], '{');
	}
	for (int i = 0; i < n; i++) {
		bt.order[i] = i;
		out[i] = (nb_pg_assignment){.reason = ""};
	}
	qsort_r(bt.order, (size_t)n, sizeof(int), pga_cmp_pos, (void *)users);
	/* the saved groups, for $inGroup / $notInGroup / $savedGroup */
	cJSON *groups = e->condition ? nb_pg_groups_load(conn, err) : NULL;
	int rc = e->condition && !groups ? -1
					 : pga_decide(e, &bt, attrs, groups, decided_in, reason, &a, err);
	cJSON_Delete(groups);
	for (int k = 0; k < 4; k++)
		nb_buf_putc(bufs[k], '}');
	if (rc == 0)
		rc = pga_upsert(conn, e, &bt, &a, err);
	/* decided in, yet neither inserted nor visible: a concurrent writer
	 * stored the user after this statement's snapshot */
	if (rc == 0)
		rc = pga_read_stored(conn, e->key, &bt, decided_in, err);
	for (int i = 0; rc == 0 && i < n; i++) {
		int first = pga_find(&bt, users[i]);
		if (first != i) {
			out[i] = out[first];
			out[i].is_new = 0;
			if (out[i].in_experiment)
				out[i].reason = "stored assignment";
		} else if (!bt.filled[i] && !decided_in[i]) {
			out[i].in_experiment = 0;
			out[i].reason = nb_assign_reason_str(reason[i]);
		} else if (!bt.filled[i]) {
			rc = nb_err_set(err, NB_ESERVER,
					"assignment of user \"%s\" to \"%s\" was neither stored nor "
					"readable",
					users[i], e->key);
		}
	}
	for (int k = 0; k < 4; k++)
		nb_buf_done(bufs[k]);
	free(bt.order);
	free(bt.filled);
	free(decided_in);
	free(reason);
	return rc;
}

cJSON *nb_pg_assignment_to_json(const char *experiment, const char *user,
				const nb_pg_assignment *a)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "experiment", experiment);
	cJSON_AddStringToObject(o, "user", user);
	cJSON_AddBoolToObject(o, "in_experiment", a->in_experiment);
	if (a->in_experiment)
		cJSON_AddStringToObject(o, "variant", a->variant);
	else
		cJSON_AddNullToObject(o, "variant");
	cJSON_AddStringToObject(o, "reason", a->reason ? a->reason : "");
	if (a->in_experiment) {
		cJSON_AddStringToObject(o, "source", a->source);
		cJSON_AddStringToObject(o, "assigned_at", a->assigned_at);
	} else {
		cJSON_AddNullToObject(o, "source");
		cJSON_AddNullToObject(o, "assigned_at");
	}
	cJSON_AddBoolToObject(o, "new", a->is_new);
	return o;
}
