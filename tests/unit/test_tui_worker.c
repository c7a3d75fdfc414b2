/* test_tui_worker.c — the dashboard's query worker without servers: the
 * analyses' flag parser (what a user types after `/` in views 4–7), the
 * queue (interactive jobs before background ones, at most NBG background
 * jobs at once, cancellation of queued jobs), a ClickHouse client dropped
 * after a failure (reconnect), and a started worker handing every job back
 * through the wake-up fd. */
#include "nbtest.h"

#include "../../tui/text.c"
#include "../../tui/worker.c"

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

static void parse_flags(void)
{
	an_req r;
	nb_err err = {0};
	CHECK_INT(an_parse("", &r, &err), 0);
	CHECK_INT((int)r.window, 3600); /* the commands' defaults */
	CHECK_INT(r.period, 86400);
	CHECK_INT(r.nper, 8);
	CHECK_INT(r.top, 10);
	CHECK(r.metric == NULL && r.steps == NULL && !r.has_segment);
	CHECK_INT(an_parse("--steps view,buy --window 30m --json --metric m1", &r, &err), 0);
	CHECK_STR(r.steps, "view,buy");
	CHECK_STR(r.metric, "m1");
	CHECK_INT((int)r.window, 1800);
	CHECK_INT(an_parse("--period week --periods 12 --top 3 --segment country=NL", &r, &err), 0);
	CHECK_INT(r.period, 604800);
	CHECK_INT(r.nper, 12);
	CHECK_INT(r.top, 3);
	CHECK(r.has_segment);
	CHECK_STR(r.seg_prop, "country");
	CHECK_STR(r.seg_value, "NL");
	CHECK_INT(an_parse("--from 2026-11-01 --to 2026-11-02T12:00:00Z --mde 0.1 --alpha 0.01", &r,
			   &err),
		  0);
	CHECK(r.from == 1793491200LL && r.to == 1793620800LL);
	CHECK_NEAR(r.mde, 0.1, 1e-12, 0);
	CHECK_NEAR(r.alpha, 0.01, 1e-12, 0);
	/* refusals name the flag and the value */
	CHECK_INT(an_parse("--period month", &r, &err), -1);
	CHECK_INT(err.code, NB_EINPUT);
	CHECK_STR(err.msg, "--period must be day or week, got \"month\"");
	CHECK_INT(an_parse("--window 5x", &r, &err), -1);
	CHECK(strstr(err.msg, "--window \"5x\"") != NULL);
	CHECK_INT(an_parse("--steps", &r, &err), -1);
	CHECK_STR(err.msg, "--steps needs a value");
	CHECK_INT(an_parse("--bogus 1", &r, &err), -1);
	CHECK_STR(err.msg, "unknown option --bogus");
	CHECK_INT(an_parse("--segment country", &r, &err), -1);
	CHECK(strstr(err.msg, "PROP=VALUE") != NULL);
	CHECK_INT(an_parse("--from 2026-11-02 --to 2026-11-01", &r, &err), -1);
	CHECK_STR(err.msg, "--to must be after --from");
	CHECK_INT(an_parse("--periods 33", &r, &err), -1);
	CHECK_INT(an_parse("--alpha 1.5", &r, &err), -1);
}

/* A worker with no threads: the queue alone. */
static worker *bare_worker(int wake_fd)
{
	worker *w = nb_xcalloc(1, sizeof *w);
	w->wake_fd = wake_fd;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	return w;
}

static job *mk(enum job_kind kind, int view, const char *key, int bg)
{
	job *j = job_new(kind, view);
	w_copy(j->key, sizeof j->key, key);
	j->bg = bg;
	return j;
}

static void queue_order(void)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	worker *w = bare_worker(efd);
	worker_submit(w, mk(J_REPORT, V_EXPS, "bg1", 1));
	worker_submit(w, mk(J_REPORT, V_EXPS, "bg2", 1));
	worker_submit(w, mk(J_DETAIL, V_DETAIL, "fg1", 0));
	worker_submit(w, mk(J_REPORT, V_EXPS, "bg3", 1));
	worker_submit(w, mk(J_EXPS, V_EXPS, "fg2", 0));
	/* interactive jobs first, in submission order, wherever they are queued */
	job *j = take_next(w);
	CHECK_STR(j->key, "fg1");
	job_free(j);
	j = take_next(w);
	CHECK_STR(j->key, "fg2");
	job_free(j);
	/* then background ones, while fewer than NBG run */
	w->bg_running = NBG;
	CHECK(take_next(w) == NULL);
	w->bg_running = NBG - 1;
	j = take_next(w);
	CHECK_STR(j->key, "bg1");
	job_free(j);
	/* an interactive job submitted now still goes first */
	worker_submit(w, mk(J_TRANSITION, V_EXPS, "fg3", 0));
	w->bg_running = NBG;
	j = take_next(w);
	CHECK_STR(j->key, "fg3");
	job_free(j);
	CHECK(take_next(w) == NULL);
	/* the tail stays right after unlinking from the middle and the end */
	w->bg_running = 0;
	j = take_next(w);
	CHECK_STR(j->key, "bg2");
	job_free(j);
	worker_submit(w, mk(J_REPORT, V_EXPS, "bg4", 1));
	j = take_next(w);
	CHECK_STR(j->key, "bg3");
	job_free(j);
	j = take_next(w);
	CHECK_STR(j->key, "bg4");
	job_free(j);
	CHECK(w->in_head == NULL && w->in_tail == NULL);
	free_list(w->out_head);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	close(efd);
}

static void cancel(void)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	worker *w = bare_worker(efd);
	worker_submit(w, mk(J_REPORT, V_FUNNEL, "old1", 0));
	worker_submit(w, mk(J_REPORT, V_COHORT, "old1", 0)); /* another view: kept */
	worker_submit(w, mk(J_REPORT, V_FUNNEL, "new", 0));  /* the key to keep */
	worker_submit(w, mk(J_DETAIL, V_FUNNEL, "old2", 0)); /* another kind: kept */
	worker_submit(w, mk(J_REPORT, V_FUNNEL, "old3", 0));
	CHECK_INT(worker_cancel(w, V_FUNNEL, J_REPORT, "new"), 2);
	/* the cancelled jobs come back, marked, with the wake-up fd written */
	uint64_t n = 0;
	CHECK(read(efd, &n, sizeof n) == sizeof n && n == 2);
	job *j = worker_take(w);
	CHECK(j && j->cancelled && j->rc == -1 && !strcmp(j->key, "old1") && j->view == V_FUNNEL);
	CHECK(strstr(j->err.msg, "cancelled") != NULL);
	job_free(j);
	j = worker_take(w);
	CHECK(j && j->cancelled && !strcmp(j->key, "old3"));
	job_free(j);
	CHECK(worker_take(w) == NULL);
	/* the rest stays queued, in order */
	const char *left[3] = {"old1", "new", "old2"};
	int k = 0;
	while ((j = take_next(w))) {
		CHECK(k < 3 && !strcmp(j->key, left[k]) && !j->cancelled);
		k++;
		job_free(j);
	}
	CHECK_INT(k, 3);
	/* NULL keeps nothing */
	worker_submit(w, mk(J_REPORT, V_DETAIL, "a", 0));
	worker_submit(w, mk(J_REPORT, V_DETAIL, "b", 0));
	CHECK_INT(worker_cancel(w, V_DETAIL, J_REPORT, NULL), 2);
	CHECK(w->in_head == NULL && w->in_tail == NULL);
	free_list(w->out_head);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
	close(efd);
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof a;
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l))
		return 9;
	int port = ntohs(a.sin_port);
	close(s);
	return port;
}

static void clickhouse_failure_drops_client(void)
{
	worker *w = bare_worker(-1);
	snprintf(w->cfg.clickhouse, sizeof w->cfg.clickhouse, "http://127.0.0.1:%d", closed_port());
	w->cfg.clickhouse_set = 1;
	wctx c = {.w = w};
	job *j = mk(J_CH_PING, V_EXPS, "", 0);
	CHECK_INT(run_ch_ping(&c, j), -1);
	CHECK_INT(j->err.code, NB_ESERVER);
	CHECK(c.ch == NULL); /* the next job starts with a fresh client */
	job_free(j);
	/* an analysis fails the same way, with the server's (transport) message */
	j = mk(J_REPORT, V_DETAIL, "exp1", 0);
	w_copy(j->arg, sizeof j->arg, "report");
	CHECK_INT(run_report(&c, j), -1);
	CHECK_INT(j->err.code, NB_ESERVER);
	CHECK(j->out == NULL);
	CHECK(c.ch == NULL);
	job_free(j);
	/* bad flags are refused before any request: no client is made */
	j = mk(J_REPORT, V_COHORT, "exp1", 0);
	w_copy(j->arg, sizeof j->arg, "cohort");
	w_copy(j->arg2, sizeof j->arg2, "--period month");
	CHECK_INT(run_report(&c, j), -1);
	CHECK_INT(j->err.code, NB_EINPUT);
	CHECK(c.ch == NULL);
	job_free(j);
	/* no ClickHouse configured: said so */
	w->cfg.clickhouse_set = 0;
	j = mk(J_REPORT, V_EXPS, "exp1", 1);
	w_copy(j->arg, sizeof j->arg, "report");
	CHECK_INT(run_report(&c, j), -1);
	CHECK(strstr(j->err.msg, "no ClickHouse configured") != NULL);
	job_free(j);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* Threads: every job submitted comes back once, through the wake-up fd. */
static void threads_hand_back(void)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	nb_config cfg;
	memset(&cfg, 0, sizeof cfg);
	worker *w = worker_start(&cfg, "neonblue", efd);
	const int N = 12;
	for (int i = 0; i < N; i++) {
		job *j = mk(J_REPORT, V_EXPS, i % 2 ? "odd" : "even", i % 3 == 0);
		w_copy(j->arg, sizeof j->arg, "funnel");
		w_copy(j->arg2, sizeof j->arg2, "--window nope");
		worker_submit(w, j);
	}
	int got = 0, bad = 0;
	double end = now_s() + 10;
	while (got < N && now_s() < end) {
		struct pollfd p = {efd, POLLIN, 0};
		if (poll(&p, 1, 500) > 0) {
			uint64_t n;
			if (read(efd, &n, sizeof n) < 0)
				break;
		}
		job *j;
		while ((j = worker_take(w))) {
			got++;
			bad += j->rc != -1 || !strstr(j->err.msg, "--window \"nope\"");
			job_free(j);
		}
	}
	CHECK_INT(got, N);
	CHECK_INT(bad, 0);
	worker_stop(w); /* idle threads: joined, everything freed */
	close(efd);
}

int main(void)
{
	nbt_suite = "tui_worker";
	RUN(parse_flags);
	RUN(queue_order);
	RUN(cancel);
	RUN(clickhouse_failure_drops_client);
	RUN(threads_hand_back);
	return NBT_DONE();
}
