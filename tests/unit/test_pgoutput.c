/* test_pgoutput.c — nb_pgoutput on messages recorded from PostgreSQL 15
 * (tests/ref/pgoutput/stream.hex, workload in stream.sql). */
#include "nbtest.h"
#include "neonblue/cdc.h"

#include <cjson/cJSON.h>

#define MAXMSG 128

typedef struct rec {
	uint64_t lsn;
	uint32_t xid;
	uint8_t *buf;
	size_t len;
} rec;

static rec recs[MAXMSG];
static int nrecs;

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void load(void)
{
	const char *root = getenv("NB_ROOT");
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/ref/pgoutput/stream.hex", root ? root : ".");
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	static char line[1 << 16];
	while (nrecs < MAXMSG && fgets(line, sizeof line, f)) {
		char lsn[32], hex[sizeof line];
		unsigned xid;
		if (sscanf(line, "%31s %u %s", lsn, &xid, hex) != 3)
			continue;
		rec *r = &recs[nrecs++];
		nb_lsn_parse(lsn, &r->lsn);
		r->xid = xid;
		r->len = strlen(hex) / 2;
		r->buf = malloc(r->len);
		for (size_t i = 0; i < r->len; i++)
			r->buf[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	}
	fclose(f);
}

/* The text of column i of a tuple as a C string (static buffer). */
static const char *val(const nb_pgo_tuple *t, int i)
{
	static char s[4][20000];
	static int k;
	if (i >= t->n)
		return "(no such column)";
	const nb_pgo_value *v = &t->vals[i];
	if (v->kind == 'n')
		return "(null)";
	if (v->kind == 'u')
		return "(unchanged)";
	k = (k + 1) % 4;
	snprintf(s[k], sizeof s[k], "%.*s", (int)v->len, v->data);
	return s[k];
}

static int att(const nb_pgo_relation *rel, const char *name)
{
	for (int i = 0; rel && i < rel->natts; i++)
		if (!strcmp(rel->atts[i].name, name))
			return i;
	return -1;
}

/* Decodes every recorded message; kinds[] gets the sequence of kinds. */
static void recording_is_there(void)
{
	CHECKF(nrecs >= 50, "only %d recorded messages (run from the repo root or set NB_ROOT)",
	       nrecs);
}

static void every_message_decodes(void)
{
	nb_pgoutput d;
	nb_pgoutput_init(&d);
	nb_err e;
	uint32_t xid = 0;
	uint64_t final_lsn = 0;
	int begins = 0, commits = 0;
	for (int i = 0; i < nrecs; i++) {
		const nb_pgo_msg *m = nb_pgoutput_decode(&d, recs[i].buf, recs[i].len, &e);
		CHECKF(m != NULL, "message %d: %s", i, e.msg);
		if (!m)
			continue;
		CHECK_INT(m->kind, recs[i].buf[0]);
		if (m->kind == NB_PGO_BEGIN) {
			begins++;
			xid = m->xid;
			final_lsn = m->lsn;
			CHECK_INT(m->xid, recs[i].xid);
			/* recorded in 2026: the epoch shift is applied */
			CHECK(m->ts_us > 1767225600000000LL && m->ts_us < 1893456000000000LL);
		} else if (m->kind == NB_PGO_COMMIT) {
			commits++;
			CHECK_INT(recs[i].xid, xid);
			CHECK_INT(m->lsn, final_lsn); /* Begin announced the commit LSN */
			CHECK_INT(m->end_lsn, recs[i].lsn);
			CHECK(m->end_lsn > m->lsn);
		}
	}
	CHECK_INT(begins, commits);
	CHECK_INT(begins, 14); /* the transactions of stream.sql that touch published tables */
	nb_pgoutput_done(&d);
}

/* Decodes up to the n-th message of kind k for relation relname. */
static const nb_pgo_msg *find(nb_pgoutput *d, char kind, const char *relname, int nth)
{
	nb_err e;
	nb_pgoutput_init(d);
	for (int i = 0; i < nrecs; i++) {
		const nb_pgo_msg *m = nb_pgoutput_decode(d, recs[i].buf, recs[i].len, &e);
		if (!m || m->kind != kind)
			continue;
		if (relname && (!m->rel || strcmp(m->rel->relname, relname)))
			continue;
		if (nth-- == 0)
			return m;
	}
	return NULL;
}

static void insert_of_every_type(void)
{
	nb_pgoutput d;
	const nb_pgo_msg *m = find(&d, NB_PGO_TYPE, NULL, 0);
	CHECK(m != NULL);
	uint32_t mood = m ? m->oid : 0;
	CHECK_STR(m ? m->name : NULL, "mood");
	CHECK_STR(m ? m->nspname : NULL, "public");
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_INSERT, "types", 0);
	CHECK(m != NULL);
	if (!m)
		return;
	const nb_pgo_relation *rel = m->rel;
	CHECK_STR(rel->nspname, "public");
	CHECK_INT(rel->natts, 19);
	CHECK_INT(rel->replident, 'd');
	CHECK(rel->atts[att(rel, "id")].is_key && !rel->atts[att(rel, "t")].is_key);
	CHECK_INT(rel->atts[att(rel, "m")].type_oid, mood);
	CHECK_INT(rel->atts[att(rel, "tstz")].type_oid, NB_OID_TIMESTAMPTZ);
	CHECK_INT(rel->atts[att(rel, "jb")].type_oid, NB_OID_JSONB);
	CHECK_INT(rel->atts[att(rel, "vc")].typmod, 14); /* varchar(10) + 4 */
	const nb_pgo_tuple *t = &m->new_tuple;
	CHECK_INT(m->old_kind, 0);
	CHECK_STR(val(t, att(rel, "b")), "t");
	CHECK_STR(val(t, att(rel, "i8")), "9007199254740993");
	CHECK_STR(val(t, att(rel, "num")), "12.3400");
	CHECK_STR(val(t, att(rel, "t")), "tab\t\"quote\"");
	CHECK_STR(val(t, att(rel, "tstz")), "2026-11-27 05:31:55.123456+00");
	CHECK_STR(val(t, att(rel, "by")), "\\x00ff10");
	CHECK_STR(val(t, att(rel, "arr")), "{x,\"y z\"}");
	CHECK_STR(val(t, att(rel, "m")), "happy");
	/* and the envelope built from it */
	nb_change c;
	nb_change_init(&c);
	nb_err e;
	CHECK_INT(nb_pgoutput_change(m, &c, &e), 0);
	CHECK(c.op == 'c' && c.has_after && !c.has_before);
	char *v = nb_debezium_value(&c, 0, &e);
	cJSON *j = v ? cJSON_Parse(v) : NULL;
	cJSON *a = cJSON_GetObjectItem(j, "after");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "tstz")),
		  "2026-11-27T05:31:55.123456Z");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "jb")), "{\"b\": true}");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(a, "m")), "happy");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "b")));
	CHECK(v && strstr(v, "\"arr\":[\"x\",\"y z\"]") != NULL);
	CHECK_INT(cJSON_GetObjectItem(a, "i2") ? cJSON_GetObjectItem(a, "i2")->valuedouble : 0, -2);
	CHECK(v && strstr(v, "\"i8\":9007199254740993") != NULL);
	char *k = nb_debezium_key(&c, 0, &e);
	CHECK_STR(k, "{\"id\":1}");
	free(k);
	cJSON_Delete(j);
	free(v);
	nb_change_done(&c);
	/* the second insert: every column but id is NULL */
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_INSERT, "types", 1);
	CHECK(m != NULL);
	for (int i = 0; m && i < m->new_tuple.n; i++)
		CHECK_STR(val(&m->new_tuple, i), i == 0 ? "2" : "(null)");
	nb_pgoutput_done(&d);
}

static void full_identity_update(void)
{
	nb_pgoutput d;
	const nb_pgo_msg *m = find(&d, NB_PGO_UPDATE, "experiments", 0);
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_INT(m->rel->replident, 'f');
	CHECK_INT(m->old_kind, 'O');
	int st = att(m->rel, "status"), ver = att(m->rel, "version");
	CHECK_STR(val(&m->old_tuple, st), "draft");
	CHECK_STR(val(&m->new_tuple, st), "running");
	CHECK_STR(val(&m->old_tuple, ver), "1");
	CHECK_STR(val(&m->new_tuple, ver), "2");
	CHECK_STR(val(&m->new_tuple, att(m->rel, "condition")), "(null)");
	nb_change c;
	nb_change_init(&c);
	nb_err e;
	CHECK_INT(nb_pgoutput_change(m, &c, &e), 0);
	CHECK(c.op == 'u' && c.has_before && c.has_after);
	CHECK_STR(nb_tuple_find(&c.before, "status")->text, "draft");
	nb_change_done(&c);
	nb_pgoutput_done(&d);
}

static void partition_root_and_key_updates(void)
{
	nb_pgoutput d;
	const nb_pgo_msg *m = find(&d, NB_PGO_INSERT, "events", 0);
	CHECK(m != NULL); /* published through the root, not events_y2026m11 */
	CHECK_STR(m ? val(&m->new_tuple, att(m->rel, "type")) : NULL, "click");
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_UPDATE, "assignments", 0);
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(m->old_kind, 'K');
		CHECK_STR(val(&m->old_tuple, att(m->rel, "user_id")), "u1");
		CHECK_STR(val(&m->old_tuple, att(m->rel, "variant")), "(null)");
		CHECK_STR(val(&m->new_tuple, att(m->rel, "user_id")), "u2");
		nb_change c;
		nb_change_init(&c);
		nb_err e;
		nb_pgoutput_change(m, &c, &e);
		char *k = nb_debezium_key(&c, 0, &e);
		CHECK_STR(k, "{\"experiment\":\"exp-1\",\"user_id\":\"u2\"}");
		free(k);
		nb_change_done(&c);
	}
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_DELETE, "assignments", 0);
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(m->old_kind, 'K');
		CHECK_INT(m->new_tuple.n, 0);
		CHECK_STR(val(&m->old_tuple, att(m->rel, "user_id")), "u2");
		nb_change c;
		nb_change_init(&c);
		nb_err e;
		nb_pgoutput_change(m, &c, &e);
		CHECK(c.op == 'd' && c.has_before && !c.has_after);
		char *k = nb_debezium_key(&c, 0, &e);
		CHECK_STR(k, "{\"experiment\":\"exp-1\",\"user_id\":\"u2\"}");
		free(k);
		nb_change_done(&c);
	}
	nb_pgoutput_done(&d);
}

static void unchanged_toast(void)
{
	nb_pgoutput d;
	const nb_pgo_msg *m = find(&d, NB_PGO_INSERT, "toasty", 0);
	CHECK(m != NULL);
	CHECK_INT(m ? m->new_tuple.vals[2].len : 0, 10000);
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_UPDATE, "toasty", 0);
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_STR(val(&m->new_tuple, 1), "b");
	CHECK_INT(m->new_tuple.vals[2].kind, 'u');
	nb_change c;
	nb_change_init(&c);
	nb_err e;
	nb_pgoutput_change(m, &c, &e);
	CHECK(nb_tuple_find(&c.after, "big")->toast_unchanged);
	char *v = nb_debezium_value(&c, 0, &e);
	CHECK(v && strstr(v, "\"big\":\"__debezium_unavailable_value\"") != NULL);
	free(v);
	nb_change_done(&c);
	nb_pgoutput_done(&d);
}

static void nokey_truncate_origin(void)
{
	nb_pgoutput d;
	const nb_pgo_msg *m = find(&d, NB_PGO_DELETE, "nokey", 0);
	CHECK(m != NULL);
	CHECK_INT(m ? m->old_kind : 0, 'O');
	CHECK_STR(m ? val(&m->old_tuple, 1) : NULL, "uno");
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_TRUNCATE, NULL, 0);
	CHECK(m != NULL);
	CHECK_INT(m ? m->nrels : 0, 2);
	if (m && m->nrels == 2) {
		int a =
		    !strcmp(m->rels[0]->relname, "toasty") && !strcmp(m->rels[1]->relname, "nokey");
		int b =
		    !strcmp(m->rels[1]->relname, "toasty") && !strcmp(m->rels[0]->relname, "nokey");
		CHECK(a || b);
	}
	nb_pgoutput_done(&d);
	m = find(&d, NB_PGO_ORIGIN, NULL, 0);
	CHECK(m != NULL);
	CHECK_STR(m ? m->name : NULL, "nb_origin");
	CHECK_INT(m ? m->lsn : 0, 0xABCDEF);
	nb_pgoutput_done(&d);
}

/* Every strict prefix of every message is rejected, never read past. */
static void truncated_messages_rejected(void)
{
	nb_pgoutput d;
	nb_pgoutput_init(&d);
	nb_err e;
	int accepted = 0;
	for (int i = 0; i < nrecs; i++) {
		for (size_t n = 0; n < recs[i].len && n < 200; n++) {
			uint8_t *copy = malloc(n ? n : 1);
			memcpy(copy, recs[i].buf, n);
			if (nb_pgoutput_decode(&d, copy, n, &e))
				accepted++;
			free(copy);
		}
		nb_pgoutput_decode(&d, recs[i].buf, recs[i].len, &e); /* keep the cache right */
	}
	CHECK_INT(accepted, 0);
	const uint8_t unknown_rel[] = {'I', 0, 0, 0, 7, 'N', 0, 0};
	nb_pgoutput_done(&d);
	CHECK(nb_pgoutput_decode(&d, unknown_rel, sizeof unknown_rel, &e) == NULL);
	CHECK(strstr(e.msg, "relation 7") != NULL);
	const uint8_t bad_kind[] = {'Z', 1};
	CHECK(nb_pgoutput_decode(&d, bad_kind, sizeof bad_kind, &e) == NULL);
	CHECK(strstr(e.msg, "0x5a") != NULL);
	nb_pgoutput_done(&d);
}

/* Found by tests/fuzz/fuzz_pgoutput.c (corpus crash-empty-old-tuple): an
 * Update whose old tuple has no columns while the new one has an unchanged
 * TOASTed value made nb_pgoutput_change read the missing old column. A tuple
 * with fewer columns than its relation is refused, whichever tuple it is. */
static void tuple_without_columns_rejected(void)
{
	const uint8_t rel[] = {'R', 0, 0, 0, 1, 'p', 0, 't', 0, 'f', 0, 1,
			       1, 'i', 'd', 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff};
	const uint8_t empty_old[] = {'U', 0, 0, 0, 1, 'O', 0, 0, 'N', 0, 1, 'u'};
	const uint8_t empty_new[] = {'I', 0, 0, 0, 1, 'N', 0, 0};
	const uint8_t empty_key[] = {'D', 0, 0, 0, 1, 'K', 0, 0};
	const uint8_t good[] = {'U', 0, 0, 0, 1, 'O', 0, 1, 't', 0, 0, 0, 1, 'x', 'N', 0, 1, 'u'};
	nb_pgoutput d;
	nb_pgoutput_init(&d);
	nb_err e;
	CHECK(nb_pgoutput_decode(&d, rel, sizeof rel, &e) != NULL);
	CHECK(nb_pgoutput_decode(&d, empty_old, sizeof empty_old, &e) == NULL);
	CHECKF(strstr(e.msg, "has 0 columns, the relation has 1") != NULL, "%s", e.msg);
	CHECK(nb_pgoutput_decode(&d, empty_new, sizeof empty_new, &e) == NULL);
	CHECK(nb_pgoutput_decode(&d, empty_key, sizeof empty_key, &e) == NULL);
	const nb_pgo_msg *m = nb_pgoutput_decode(&d, good, sizeof good, &e);
	CHECK(m != NULL);
	nb_change ch;
	nb_change_init(&ch);
	CHECK(m && nb_pgoutput_change(m, &ch, &e) == 0);
	CHECK(ch.after.n == 1 && ch.after.cols[0].text && !strcmp(ch.after.cols[0].text, "x"));
	nb_change_done(&ch);
	nb_pgoutput_done(&d);
}

int main(void)
{
	nbt_suite = "pgoutput";
	load();
	RUN(recording_is_there);
	RUN(every_message_decodes);
	RUN(insert_of_every_type);
	RUN(full_identity_update);
	RUN(partition_root_and_key_updates);
	RUN(unchanged_toast);
	RUN(nokey_truncate_origin);
	RUN(truncated_messages_rejected);
	RUN(tuple_without_columns_rejected);
	for (int i = 0; i < nrecs; i++)
		free(recs[i].buf);
	return NBT_DONE();
}
