/* stack/super.c — the supervisor: starts the processes of the component table
 * it is given, restarts those that die (with backoff) and stops them all on
 * SIGTERM. Processes are started with stack/proc.c. */
#include "internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct proc {
	const nb_stack_component *c;
	pid_t pid;
	int restarts; /* starts after the first one */
	int started;  /* ever started */
	int fails;    /* deaths since it last stayed healthy */
	int healthy;
	double next_start, started_at, healthy_since, last_check;
};

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s supervisor[%d]: ", ts, (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void write_state(const nb_stack *st, const struct proc *ps, int n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	for (int i = 0; i < n; i++)
		fprintf(m, "%s %d %d\n", ps[i].c->name, (int)ps[i].pid, ps[i].restarts);
	fclose(m);
	char path[NB_PATH_MAX + 64];
	nb_stack_path(st->home, path, sizeof path, "run/state");
	nb_stack_write_file(path, text, NULL);
	free(text);
}

/* Moves a log over 64 MiB aside (to .1) before a start. */
static void rotate_log(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) == 0 && sb.st_size > 64L << 20) {
		char old[NB_PATH_MAX + 80];
		snprintf(old, sizeof old, "%s.1", path);
		rename(path, old);
	}
}

static void start_proc(const nb_stack *st, struct proc *p)
{
	nb_stack_argv a = {0};
	p->c->argv(st, &a);
	char log[NB_PATH_MAX + 64];
	nb_stack_path(st->home, log, sizeof log, "logs/%s.log", p->c->name);
	rotate_log(log);
	nb_err err;
	nb_err_clear(&err);
	/* PostgreSQL gets SIGQUIT (immediate stop) if the supervisor dies unexpectedly. */
	int pds = p->c->stop_signal == SIGINT ? SIGQUIT : SIGTERM;
	pid_t pid = nb_stack_spawn(st->privileged ? p->c->run_as : NULL, a.v, log, pds, &err);
	nb_stack_argv_done(&a);
	double now = nb_stack_now();
	if (pid < 0) {
		logf_("cannot start %s: %s", p->c->name, err.msg);
		p->fails++;
		p->next_start = now + 5;
		return;
	}
	if (p->started)
		p->restarts++;
	p->started = 1;
	p->pid = pid;
	p->healthy = 0;
	p->started_at = now;
	p->last_check = 0;
	logf_("started %s (pid %d%s)", p->c->name, (int)pid, p->restarts ? ", restart" : "");
}

static double backoff(int fails)
{
	static const double steps[] = {0.5, 1, 2, 4, 8, 16, 30};
	int k = fails < 1 ? 0 : fails - 1;
	return steps[k < 6 ? k : 6];
}

static void describe_status(int status, char *out, size_t n)
{
	if (WIFEXITED(status))
		snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, n, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, n, "stopped (status %d)", status);
}

/* The embedded Kafka's messages and offsets die with its process. A relay
 * still running would judge what ClickHouse holds by offsets of the dead
 * Kafka, and a sink would commit offsets of the dead Kafka into the new one:
 * both are killed (no clean shutdown: nothing of theirs may be confirmed or
 * committed now) and restart from what ClickHouse holds. */
static void kill_followers(struct proc *ps, int n, const struct proc *dead)
{
	for (int i = 0; i < n; i++) {
		struct proc *q = &ps[i];
		if (!q->pid || !q->c->follows || strcmp(q->c->follows, dead->c->name))
			continue;
		logf_("%s follows %s: killing it (pid %d) so that it restarts from what ClickHouse "
		      "holds",
		      q->c->name, dead->c->name, (int)q->pid);
		kill(q->pid, SIGKILL);
	}
}

static int reap(const nb_stack *st, struct proc *ps, int n, int stopping)
{
	int changed = 0, status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < n; i++) {
			struct proc *p = &ps[i];
			if (p->pid != pid)
				continue;
			char how[128];
			describe_status(status, how, sizeof how);
			p->pid = 0;
			p->healthy = 0;
			changed = 1;
			if (stopping) {
				logf_("%s %s", p->c->name, how);
				break;
			}
			/* one that had come up and answered is back in 0.5 s; one
			 * that dies before answering backs off 1, 2, 4 … 30 s */
			if (p->healthy_since > 0)
				p->fails = 0;
			p->fails++;
			double d = backoff(p->fails);
			p->next_start = nb_stack_now() + d;
			p->healthy_since = 0;
			logf_("%s (pid %d) %s; restarting in %.1f s (failure %d in a row; log "
			      "%s/logs/%s.log)",
			      p->c->name, (int)pid, how, d, p->fails, st->home, p->c->name);
			kill_followers(ps, n, p);
		}
	}
	return changed;
}

/* Phase 2 starts (and restarts) once phase 1 answers — not counting what does
 * not run here, nor the optional parts of a ClickHouse cluster (components
 * with an `enabled` hook: ZooKeeper, the nodes beyond the first), so that a
 * sink killed while a replica is down comes back at once. */
static int phase1_healthy(const nb_stack *st, const struct proc *ps, int n)
{
	for (int i = 0; i < n; i++)
		if (ps[i].c->phase == 1 && !ps[i].healthy && !ps[i].c->enabled &&
		    nb_stack_comp_on(st, ps[i].c))
			return 0;
	return 1;
}

int nb_stack_comp_on(const nb_stack *st, const nb_stack_component *c)
{
	if (c->sink_index > (st->sinks > 0 ? st->sinks : 1))
		return 0; /* an extra sink beyond `up --sinks N` */
	if (c->enabled && !c->enabled(st))
		return 0; /* ZooKeeper or a ClickHouse node of a cluster this stack is not */
	return c->phase == 1 || !st->no_pipeline;
}

static void check_health(const nb_stack *st, struct proc *p, double now)
{
	if (!p->pid || now - p->last_check < 1.0)
		return;
	p->last_check = now;
	char why[256] = "";
	int ok = p->c->health(st, p->pid, why, sizeof why) == 0;
	if (ok && !p->healthy) {
		logf_("%s answers (pid %d, %.1f s after start)", p->c->name, (int)p->pid,
		      now - p->started_at);
		if (!p->healthy_since)
			p->healthy_since = now; /* answered since this start */
	} else if (!ok && p->healthy) {
		logf_("%s stopped answering: %s", p->c->name, why);
	}
	p->healthy = ok;
}

static void stop_all(const nb_stack *st, struct proc *ps, int n)
{
	for (int phase = 2; phase >= 1; phase--) {
		double deadline = 0;
		for (int i = n - 1; i >= 0; i--) {
			if (ps[i].c->phase != phase || !ps[i].pid)
				continue;
			logf_("stopping %s (pid %d)", ps[i].c->name, (int)ps[i].pid);
			kill(ps[i].pid, ps[i].c->stop_signal);
			double d = nb_stack_now() + ps[i].c->stop_timeout_s;
			deadline = d > deadline ? d : deadline;
		}
		for (;;) {
			reap(st, ps, n, 1);
			int left = 0;
			for (int i = 0; i < n; i++)
				left += ps[i].c->phase == phase && ps[i].pid;
			if (!left)
				break;
			if (nb_stack_now() > deadline) {
				for (int i = 0; i < n; i++)
					if (ps[i].c->phase == phase && ps[i].pid) {
						logf_("%s did not stop in time; killing it",
						      ps[i].c->name);
						kill(ps[i].pid, SIGKILL);
					}
				deadline = nb_stack_now() + 5;
			}
			nb_stack_sleep_ms(50);
		}
	}
}

/* 1 unless c names a component (running in this stack) that does not answer yet. */
static int after_healthy(const nb_stack *st, const struct proc *ps, int n,
			 const nb_stack_component *c)
{
	if (!c->after)
		return 1;
	for (int i = 0; i < n; i++)
		if (!strcmp(ps[i].c->name, c->after))
			return !nb_stack_comp_on(st, ps[i].c) || (ps[i].pid && ps[i].healthy);
	return 1;
}

static int ready_marker(const nb_stack *st)
{
	char p[NB_PATH_MAX + 64];
	nb_stack_path(st->home, p, sizeof p, "run/ready");
	return access(p, F_OK) == 0;
}

/* The supervisor's loop over the table comps[0..n) for the stack st: runs
 * until SIGTERM, SIGINT or SIGHUP, then stops the components. */
int nb_stack_super_run(const nb_stack *st, const nb_stack_component *comps, int n, nb_err *err)
{
	if (n > NB_STACK_MAX_COMPONENTS)
		return nb_err_set(err, NB_EINPUT, "%d components, at most %d can be supervised", n,
				  NB_STACK_MAX_COMPONENTS);
	if (chdir(st->home) != 0)
		return nb_err_set(err, NB_ESERVER, "cannot enter the stack home %s", st->home);
	umask(022);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	char pidpath[NB_PATH_MAX + 64], pidtext[32];
	nb_stack_path(st->home, pidpath, sizeof pidpath, "run/supervisor.pid");
	snprintf(pidtext, sizeof pidtext, "%d\n", (int)getpid());
	if (nb_stack_write_file(pidpath, pidtext, err))
		return -1;
	logf_("supervising the stack in %s", st->home);

	struct proc ps[NB_STACK_MAX_COMPONENTS];
	memset(ps, 0, sizeof ps);
	for (int i = 0; i < n; i++)
		ps[i].c = &comps[i];
	write_state(st, ps, n);

	while (!stop_requested) {
		int changed = reap(st, ps, n, 0);
		double now = nb_stack_now();
		int p2 = phase1_healthy(st, ps, n) && ready_marker(st);
		for (int i = 0; i < n && !stop_requested; i++) {
			struct proc *p = &ps[i];
			if (!p->pid && now >= p->next_start && (p->c->phase == 1 || p2) &&
			    nb_stack_comp_on(st, p->c) && after_healthy(st, ps, n, p->c)) {
				start_proc(st, p);
				changed = 1;
			}
			check_health(st, p, now);
		}
		if (changed)
			write_state(st, ps, n);
		nb_stack_sleep_ms(100);
	}
	logf_("stop requested");
	stop_all(st, ps, n);
	write_state(st, ps, n);
	unlink(pidpath);
	char ready[NB_PATH_MAX + 64];
	nb_stack_path(st->home, ready, sizeof ready, "run/ready");
	unlink(ready);
	logf_("stopped");
	return 0;
}
