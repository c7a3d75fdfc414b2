/* pg/tokens.c — API tokens of `neonblue serve`: a random secret printed once,
 * only its SHA-256 stored, scopes, a rate, an expiry, revocation (+ audit). */
#include "neonblue/pg.h"

#include "neonblue/base.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *const scope_names[] = {"assign", "track", "read", "admin", "features"};
#define NSCOPES (int)(sizeof scope_names / sizeof *scope_names)

int nb_pg_scopes_parse(const char *list, int *scopes, nb_err *err)
{
	*scopes = 0;
	const char *p = list ? list : "";
	for (;;) {
		size_t n = strcspn(p, ",");
		int found = -1;
		for (int i = 0; i < NSCOPES; i++)
			if (n == strlen(scope_names[i]) && !strncmp(p, scope_names[i], n))
				found = i;
		if (found < 0)
			return nb_err_set(err, NB_EINPUT,
					  "--scopes: unknown scope \"%.*s\" (assign, track, read, "
					  "admin, features)",
					  (int)n, p);
		*scopes |= 1 << found;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

void nb_pg_scopes_format(int scopes, char *out, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < NSCOPES; i++)
		if (scopes & (1 << i))
			len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s",
						len ? "," : "", scope_names[i]);
}

void nb_pg_token_hash(const char *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = i < len ? hex[md[i] >> 4] : '0';
		out[2 * i + 1] = i < len ? hex[md[i] & 15] : '0';
	}
	out[64] = '\0';
}

/* 32 random bytes as unpadded base64url (43 characters). */
static int token_secret(char out[64], nb_err *err)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char r[33] = {0};
	if (getrandom(r, 32, 0) != 32)
		return nb_err_set(err, NB_ESERVER, "getrandom: no randomness for a token");
	char *o = out + snprintf(out, 64, "nbt_");
	for (int i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
		for (int k = 0; k < 4 && o - out < 4 + 43; k++)
			*o++ = b64[(v >> (18 - 6 * k)) & 63];
	}
	*o = '\0';
	return 0;
}

static cJSON *token_row_json(PGresult *r, int i)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", PQgetvalue(r, i, 0));
	cJSON *sc = cJSON_Parse(PQgetvalue(r, i, 1));
	cJSON_AddItemToObject(o, "scopes", sc ? sc : cJSON_CreateArray());
	if (PQgetisnull(r, i, 2))
		cJSON_AddNullToObject(o, "rate");
	else
		cJSON_AddNumberToObject(o, "rate", strtod(PQgetvalue(r, i, 2), NULL));
	static const char *const when[] = {"created_at", "expires_at", "revoked_at"};
	for (int c = 0; c < 3; c++)
		if (PQgetisnull(r, i, 3 + c))
			cJSON_AddNullToObject(o, when[c]);
		else
			cJSON_AddStringToObject(o, when[c], PQgetvalue(r, i, 3 + c));
	cJSON_AddBoolToObject(o, "active", !strcmp(PQgetvalue(r, i, 6), "t"));
	return o;
}

#define TOKEN_COLS                                                                          \
	"name, array_to_json(scopes)::text, rate, "                                         \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "          \
	"to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "          \
	"to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "          \
	"revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"

static cJSON *token_get(PGconn *conn, const char *name, nb_err *err)
{
	const char *p[] = {name};
	PGresult *r = nb_pg_exec(conn, "SELECT " TOKEN_COLS " FROM api_tokens WHERE name = $1", 1,
				 p, err);
	if (!r)
		return NULL;
	cJSON *o = PQntuples(r) ? token_row_json(r, 0) : NULL;
	if (!o)
		nb_err_set(err, NB_EINPUT, "no token named \"%s\"", name);
	PQclear(r);
	return o;
}

int nb_pg_token_create(PGconn *conn, const char *name, int scopes, double rate, double expires_s,
		       const char *actor, char secret[64], nb_err *err)
{
	if (!name || !nb_pg_slug_ok(name))
		return nb_err_set(err, NB_EINPUT,
				  "--name: \"%s\" must be 1-64 of a-z, 0-9, '_' and '-'",
				  name ? name : "");
	if (!scopes)
		return nb_err_set(err, NB_EINPUT, "--scopes: at least one scope is needed");
	if (rate < 0 || expires_s < 0)
		return nb_err_set(err, NB_EINPUT, "rate and expiry must be positive");
	if (token_secret(secret, err))
		return -1;
	char hash[65], sc[128], rt[32], ex[32];
	nb_pg_token_hash(secret, hash);
	nb_pg_scopes_format(scopes, sc, sizeof sc);
	char arr[140];
	snprintf(arr, sizeof arr, "{%s}", sc);
	snprintf(rt, sizeof rt, "%.17g", rate);
	snprintf(ex, sizeof ex, "%.17g", expires_s);
	const char *p[] = {name, hash, arr, rate > 0 ? rt : NULL, expires_s > 0 ? ex : NULL};
	if (nb_pg_begin(conn, err))
		return -1;
	PGresult *r = nb_pg_exec(conn,
				 "INSERT INTO api_tokens (name, hash, scopes, rate, expires_at) "
				 "VALUES ($1, $2, $3::text[], $4::float8, "
				 "now() + ($5::float8 * interval '1 second')) "
				 "ON CONFLICT (name) DO NOTHING RETURNING name",
				 5, p, err);
	int ok = r && PQntuples(r) == 1;
	if (r && !ok)
		nb_err_set(err, NB_EINPUT, "a token named \"%s\" exists (revoke it or pick another name)",
			   name);
	if (r)
		PQclear(r);
	cJSON *after = ok ? token_get(conn, name, err) : NULL;
	if (!after || nb_pg_audit(conn, actor, "create", "token", name, NULL, after, err) ||
	    nb_pg_commit(conn, err)) {
		cJSON_Delete(after);
		nb_pg_rollback(conn);
		memset(secret, 0, 64);
		return -1;
	}
	cJSON_Delete(after);
	return 0;
}

int nb_pg_token_revoke(PGconn *conn, const char *name, const char *actor, nb_err *err)
{
	if (nb_pg_begin(conn, err))
		return -1;
	cJSON *before = token_get(conn, name, err), *after = NULL;
	int rc = -1;
	if (before) {
		const char *p[] = {name};
		PGresult *r = nb_pg_exec(conn,
					 "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 "
					 "AND revoked_at IS NULL RETURNING name",
					 1, p, err);
		if (r && PQntuples(r) != 1)
			nb_err_set(err, NB_EINPUT, "token \"%s\" is already revoked", name);
		else if (r && (after = token_get(conn, name, err)) &&
			 !nb_pg_audit(conn, actor, "revoke", "token", name, before, after, err) &&
			 !nb_pg_commit(conn, err))
			rc = 0;
		if (r)
			PQclear(r);
	}
	cJSON_Delete(before);
	cJSON_Delete(after);
	if (rc)
		nb_pg_rollback(conn);
	return rc;
}

cJSON *nb_pg_token_list(PGconn *conn, nb_err *err)
{
	PGresult *r = nb_pg_exec(conn, "SELECT " TOKEN_COLS " FROM api_tokens ORDER BY created_at, name",
				 0, NULL, err);
	if (!r)
		return NULL;
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < PQntuples(r); i++)
		cJSON_AddItemToArray(a, token_row_json(r, i));
	PQclear(r);
	return a;
}

int nb_pg_tokens_active(PGconn *conn, nb_pg_token **out, size_t *n, nb_err *err)
{
	*out = NULL;
	*n = 0;
	PGresult *r = nb_pg_exec(conn,
				 "SELECT name, hash, array_to_string(scopes, ','), coalesce(rate, 0), "
				 "coalesce(extract(epoch FROM expires_at), 0) FROM api_tokens "
				 "WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
				 0, NULL, err);
	if (!r)
		return -1;
	*out = nb_xcalloc((size_t)PQntuples(r) + 1, sizeof **out);
	for (int i = 0; i < PQntuples(r); i++) {
		nb_pg_token *t = &(*out)[(*n)++];
		snprintf(t->name, sizeof t->name, "%s", PQgetvalue(r, i, 0));
		snprintf(t->hash, sizeof t->hash, "%s", PQgetvalue(r, i, 1));
		nb_err e;
		if (nb_pg_scopes_parse(PQgetvalue(r, i, 2), &t->scopes, &e))
			t->scopes = 0;
		t->rate = strtod(PQgetvalue(r, i, 3), NULL);
		t->expires = strtod(PQgetvalue(r, i, 4), NULL);
	}
	PQclear(r);
	return 0;
}
