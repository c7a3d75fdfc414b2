/* stack/proc.c — starting processes for the stack: argv building, spawning a
 * child (as another user, log appended, stdin from /dev/null) and running one
 * to completion. Used by the supervisor, the components' preparation and `up`. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

void nb_stack_argv_add(nb_stack_argv *a, const char *fmt, ...)
{
	if (a->n >= NB_STACK_MAX_ARGS)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = nb_xstrdup("");
	va_end(ap);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void nb_stack_argv_done(nb_stack_argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
	a->v[0] = NULL;
}

/* In the child after fork: only async-signal-safe calls until exec. */
static void child_exec(int logfd, int nullfd, const uid_t *uid, const gid_t *gid, int pdeathsig,
		       char *const argv[])
{
	setsid();
	dup2(nullfd, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	if (uid) {
		if (setgroups(0, NULL) != 0 || setgid(*gid) != 0 || setuid(*uid) != 0) {
			static const char m[] = "neonblue: cannot switch user before exec\n";
			(void)!write(2, m, sizeof m - 1);
			_exit(126);
		}
	}
	if (pdeathsig)
		prctl(PR_SET_PDEATHSIG, pdeathsig);
	execv(argv[0], argv);
	static const char m[] = "neonblue: exec failed: ";
	(void)!write(2, m, sizeof m - 1);
	(void)!write(2, argv[0], strlen(argv[0]));
	(void)!write(2, "\n", 1);
	_exit(127);
}

pid_t nb_stack_spawn(const char *user, char *const argv[], const char *log, int pdeathsig,
		     nb_err *err)
{
	uid_t uid;
	gid_t gid;
	if (user && nb_stack_user(user, &uid, &gid))
		return nb_err_set(err, NB_ESERVER,
				  "system user '%s' does not exist: install the package that "
				  "creates it (make deps)",
				  user);
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		return nb_err_set(err, NB_ESERVER, "cannot open log %s: %s", log, strerror(errno));
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child_exec(logfd, nullfd, user ? &uid : NULL, user ? &gid : NULL, pdeathsig, argv);
	int e = errno;
	close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	if (pid < 0)
		return nb_err_set(err, NB_ESERVER, "cannot fork for %s: %s", argv[0], strerror(e));
	return pid;
}

int nb_stack_run(const char *user, char *const argv[], const char *log, nb_err *err)
{
	pid_t pid = nb_stack_spawn(user, argv, log, 0, err);
	if (pid < 0)
		return -1;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	char tail[1024];
	nb_stack_log_tail(log, tail, sizeof tail, 5);
	return nb_err_set(err, NB_ESERVER, "%s failed (see %s): %s", argv[0], log, tail);
}
