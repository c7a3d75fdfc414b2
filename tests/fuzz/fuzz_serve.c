/* fuzz_serve.c — libFuzzer harness of `neonblue serve`'s handling of requests
 * (serve/serve.c and serve/api.c are compiled into it: the FUZZ_SERVE line of
 * the Makefile), no database needed. The first byte chooses:
 *
 *  even: the routes' checks. The rest is METHOD '\n' PATH '\n' BODY: the
 *   route and scope of METHOD + PATH (api_route, the experiment key and action
 *   of a /v1/experiments/ path), then BODY as POST /v1/assign's body
 *   (assign_parse), as POST /v1/events' body (events_parse: ingest's
 *   validation of every event, the field an error names) and as POST
 *   /v1/experiments' definition (nb_pg_experiment_from_json + validate, the
 *   error turned into an answer by api_fail); every answer is printed.
 *
 *  odd: the whole HTTP server. The rest is raw bytes sent by a client on one
 *   connection (a socket pair handed to libmicrohttpd with
 *   MHD_add_connection), read by the server's real request handler (bodies
 *   and their limits, bearer tokens: "nbt_fuzz" has every scope, "nbt_slow"
 *   1 request/s; /healthz, /readyz, /metrics, 401/403/404/413/429). A request
 *   that passes the checks needs PostgreSQL: the configuration points at
 *   127.0.0.1 port 1, refused at once, so it is answered 503. With
 *   FUZZ_SERVE_ECHO set the server's answer is written to stderr (to replay
 *   an input: FUZZ_SERVE_ECHO=1 build/fuzz/fuzz_serve FILE). */
#include "../../serve/api.c"
#include "../../serve/serve.c"

#include <fcntl.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer_done(serve_resp *rs)
{
	char *t = rs->body ? nb_json_print(rs->body) : NULL;
	free(t);
	cJSON_Delete(rs->body);
	free(rs->text);
	memset(rs, 0, sizeof *rs);
}

static void routes(const char *in, size_t n)
{
	const char *nl1 = memchr(in, '\n', n);
	const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(in + n - nl1 - 1)) : NULL;
	if (!nl2)
		return;
	char *method = strndup(in, (size_t)(nl1 - in));
	char *path = strndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
	const char *body = nl2 + 1;
	size_t blen = (size_t)(in + n - body);
	/* the body as the server hands it over: NUL-terminated */
	char *b = nb_xmalloc(blen + 1);
	memcpy(b, body, blen);
	b[blen] = '\0';

	int scope;
	const char *r = api_route(method, path, &scope);
	if (!strncmp(path, "/v1/experiments/", 16)) {
		char key[NB_PG_KEY_MAX + 2], act[32];
		if (api_exp_path(path, key, sizeof key, act, sizeof act) == 0)
			(void)nb_pg_slug_ok(key);
	}
	(void)r;

	serve_resp rs = {0};
	cJSON *j;
	const char *user = NULL, *exp = NULL;
	const cJSON *attrs = NULL;
	if (assign_parse(b, blen, &rs, &j, &user, &exp, &attrs) == 0 && (!user || !user[0]))
		abort(); /* a user is required */
	cJSON_Delete(j);
	answer_done(&rs);

	serve_req rq = {.method = method, .path = path, .body = b, .len = blen};
	nb_pg_event *evs;
	int nev;
	if (events_parse(&rq, &rs, &evs, &nev)) {
		if (nev < 1 || nev > SERVE_EVENTS_MAX)
			abort();
		for (int i = 0; i < nev; i++)
			if (!evs[i].user_id || !evs[i].type || strlen(evs[i].event_id) != 36)
				abort(); /* validated events are complete */
		nb_err ok;
		nb_err_clear(&ok);
		events_answer(&rs, evs, nev, 0, &ok);
	}
	answer_done(&rs);

	cJSON *def = cJSON_ParseWithLength(b, blen);
	if (cJSON_IsObject(def)) {
		nb_err err;
		nb_err_clear(&err);
		nb_pg_experiment e;
		memset(&e, 0, sizeof e);
		if (nb_pg_experiment_from_json(def, &e, &err) || nb_pg_experiment_validate(&e, &err)) {
			api_fail(&rs, &err, NULL);
		} else {
			rs.status = 201;
			rs.body = nb_pg_experiment_to_json(&e);
		}
		nb_pg_experiment_done(&e);
		answer_done(&rs);
	}
	cJSON_Delete(def);
	free(b);
	free(method);
	free(path);
}

static struct MHD_Daemon *fz_daemon;

static void server_init(void)
{
	/* refused at once, on loopback: no request reaches a database */
	snprintf(g_cfg.pg, sizeof g_cfg.pg, "host=127.0.0.1 port=1 connect_timeout=1");
	g_cfg.pg_set = 1;
	toks.n = 2;
	toks.v = nb_xcalloc(2, sizeof *toks.v);
	snprintf(toks.v[0].t.name, sizeof toks.v[0].t.name, "fuzz");
	nb_pg_token_hash("nbt_fuzz", toks.v[0].t.hash);
	toks.v[0].t.scopes = NB_SCOPE_ASSIGN | NB_SCOPE_TRACK | NB_SCOPE_READ | NB_SCOPE_ADMIN |
			     NB_SCOPE_FEATURES;
	snprintf(toks.v[1].t.name, sizeof toks.v[1].t.name, "slow");
	nb_pg_token_hash("nbt_slow", toks.v[1].t.hash);
	toks.v[1].t.scopes = NB_SCOPE_READ;
	toks.v[1].t.rate = toks.v[1].level = 1;
	toks.v[1].at = now_s();
	toks.loaded = 1;
	signal(SIGPIPE, SIG_IGN);
	/* no listening socket, no thread: MHD_run below drives the connection */
	fz_daemon = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
					     MHD_USE_ITC,
				     0, NULL, NULL, handle, NULL, MHD_OPTION_NOTIFY_COMPLETED,
				     completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 5u,
				     MHD_OPTION_END);
	if (!fz_daemon)
		abort();
}

static void server(const uint8_t *in, size_t n)
{
	if (!fz_daemon)
		server_init();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (MHD_add_connection(fz_daemon, sv[0], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	size_t off = 0;
	int shut = 0, eof = 0;
	char buf[65536];
	/* the client writes everything, half-closes and reads until the server
	 * closes; bounded, so a server that waits for more cannot hang the run */
	for (int round = 0; round < 4000 && !eof; round++) {
		if (off < n) {
			ssize_t w = write(sv[1], in + off, n - off);
			if (w > 0)
				off += (size_t)w;
		} else if (!shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		MHD_run(fz_daemon);
		ssize_t r;
		while ((r = read(sv[1], buf, sizeof buf)) > 0)
			if (getenv("FUZZ_SERVE_ECHO")) /* replaying an input: the answer */
				fwrite(buf, 1, (size_t)r, stderr);
		if (r == 0)
			eof = 1;
	}
	close(sv[1]);
	/* the server notices the closed peer and frees the connection */
	for (int round = 0; round < 100; round++) {
		MHD_run(fz_daemon);
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(fz_daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (di && !di->num_connections)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		server(data + 1, size - 1);
	else
		routes((const char *)data + 1, size - 1);
	return 0;
}
