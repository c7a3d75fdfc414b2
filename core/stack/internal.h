/* stack/internal.h — helpers shared by the stack's core files (not public). */
#ifndef NB_STACK_INT_H
#define NB_STACK_INT_H

#include "neonblue/stack.h"

#include <stddef.h>
#include <sys/types.h>

/* HOME-relative path: nb_stack_path(st, out, n, "logs/%s.log", name). */
void nb_stack_path(const char *home, char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when pid is a live (non-zombie) process whose command line mentions
 * the path needle (NULL: any), followed by '/', a space or the end. Guards
 * against recycled pids. */
int nb_stack_pid_alive(int pid, const char *needle);
/* Reads a pid file; 0 when missing or malformed. */
int nb_stack_read_pid(const char *path);
int nb_stack_write_file(const char *path, const char *text, nb_err *err);

/* 1 when a TCP listener could bind 127.0.0.1:port now. */
int nb_stack_port_free(int port);
/* A port the kernel considers free on 127.0.0.1; 0 on failure. */
int nb_stack_pick_port(void);
/* 0 when something accepts a TCP connection on 127.0.0.1:port. */
int nb_stack_tcp_probe(int port, int timeout_ms);
/* Sends req (len bytes) to 127.0.0.1:port and reads the answer into out
 * (NUL-terminated) until the peer closes or timeout_ms; -1 when it cannot
 * connect or send. */
int nb_stack_tcp_ask(int port, const char *req, size_t len, char *out, size_t n, int timeout_ms);
/* One HTTP request on 127.0.0.1:port (GET, or POST of post when not NULL);
 * 0 with the body in out on status 200, else -1 with the body in out. */
int nb_stack_http(int port, const char *path, const char *post, char *out, size_t n,
		  int timeout_ms);

/* uid/gid of a system user; -1 when it does not exist. */
int nb_stack_user(const char *name, uid_t *uid, gid_t *gid);
/* Makes path and its parents traversable (o+x) for another user; say()s what it changed. */
int nb_stack_make_traversable(const char *path, nb_stack_say_fn say, void *ud, nb_err *err);

/* ---- stack/super.c ---- */
/* 1 when the component runs in this stack (phase 2 is off with --no-pipeline). */
int nb_stack_comp_on(const nb_stack *st, const nb_stack_component *c);
/* The supervisor's loop over the components comps[0..n) of the loaded stack
 * st (nb_stack_supervise passes nb_stack_components): runs until SIGTERM,
 * then stops them. */
int nb_stack_super_run(const nb_stack *st, const nb_stack_component *comps, int n, nb_err *err);

/* Supervisor's record of each component: "NAME PID RESTARTS" lines in HOME/run/state. */
int nb_stack_state_get(const char *home, const char *name, int *pid, int *restarts);

/* Prepares data dirs and configs of the servers (initdb, ClickHouse XML). */
int nb_stack_prepare(const nb_stack *st, nb_stack_say_fn say, void *ud, nb_err *err);
/* After PostgreSQL answers: the neonblue database exists; ClickHouse's too. */
int nb_stack_bootstrap_db(const nb_stack *st, nb_err *err);

/* ---- stack/proc.c ---- */
/* Starts argv in a new process as user (NULL: same user) with stdout and
 * stderr appended to log and stdin from /dev/null; pdeathsig is sent to it if
 * the calling thread dies (0: none). Returns the pid or -1. */
pid_t nb_stack_spawn(const char *user, char *const argv[], const char *log, int pdeathsig,
		     nb_err *err);
/* Runs argv as user to completion; 0 when it exits with status 0. */
int nb_stack_run(const char *user, char *const argv[], const char *log, nb_err *err);

/* Last lines of a log file, for error messages. */
void nb_stack_log_tail(const char *path, char *out, size_t n, int lines);

/* Monotonic seconds. */
double nb_stack_now(void);
void nb_stack_sleep_ms(int ms);

/* components.c: the sinks' group lag from Kafka (nb_sink_group_lag). */
cJSON *nb_stack_pipe_group_lag(const nb_stack *st, nb_err *err);

#endif
