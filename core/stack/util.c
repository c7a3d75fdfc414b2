/* stack/util.c — small helpers of the embedded stack: paths, pids, ports, probes. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void nb_stack_path(const char *home, char *out, size_t n, const char *fmt, ...)
{
	int k = snprintf(out, n, "%s/", home);
	if (k < 0 || (size_t)k >= n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out + k, n - (size_t)k, fmt, ap);
	va_end(ap);
}

double nb_stack_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void nb_stack_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Reads /proc/PID/cmdline with NULs turned into spaces. */
static int read_cmdline(int pid, char *out, size_t n)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, out, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	for (ssize_t i = 0; i < r; i++)
		if (!out[i])
			out[i] = ' ';
	out[r] = '\0';
	return 0;
}

static int is_zombie(int pid)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/%d/stat", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return 1;
	size_t r = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[r] = '\0';
	char *rp = strrchr(buf, ')');
	return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}

int nb_stack_pid_alive(int pid, const char *needle)
{
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 0;
	if (is_zombie(pid))
		return 0;
	if (!needle)
		return 1;
	char *cmd = nb_xmalloc(65536); /* no static buffer: the dashboard asks from a thread */
	int hit = 0;
	if (read_cmdline(pid, cmd, 65536) == 0) {
		/* the needle as a whole path: /x/s must not match /x/s2 */
		size_t l = strlen(needle);
		for (const char *p = strstr(cmd, needle); p && !hit; p = strstr(p + 1, needle))
			hit = p[l] == '\0' || p[l] == ' ' || p[l] == '/';
	}
	free(cmd);
	return hit;
}

int nb_stack_read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long pid = 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > 1 << 22)
		pid = 0;
	fclose(f);
	return (int)pid;
}

int nb_stack_write_file(const char *path, const char *text, nb_err *err)
{
	char tmp[NB_PATH_MAX + 16];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return nb_err_set(err, NB_ESERVER, "cannot write %s: %s", tmp, strerror(errno));
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return nb_err_set(err, NB_ESERVER, "cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

static int loopback_socket(int port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

int nb_stack_port_free(int port)
{
	struct sockaddr_in sin;
	int fd = loopback_socket(port, &sin);
	if (fd < 0)
		return 0;
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); /* as the servers do */
	int ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 1) == 0;
	close(fd);
	return ok;
}

/* The kernel's range for outgoing connections' local ports. */
static void ephemeral_range(int *lo, int *hi)
{
	*lo = 32768;
	*hi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d %d", lo, hi) != 2) {
			*lo = 32768;
			*hi = 60999;
		}
		fclose(f);
	}
}

static int kernel_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd = loopback_socket(0, &sin);
	if (fd < 0)
		return 0;
	int port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* Below the ephemeral range, so that no outgoing connection of another
 * program takes the port between this choice and the server's bind. */
int nb_stack_pick_port(void)
{
	int lo, hi;
	ephemeral_range(&lo, &hi);
	int top = lo - 1, bottom = 15000;
	if (top - bottom < 1000)
		return kernel_port();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned seed = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec;
	for (int i = 0; i < 200; i++) {
		int p = bottom + (int)(rand_r(&seed) % (unsigned)(top - bottom + 1));
		if (nb_stack_port_free(p))
			return p;
	}
	return kernel_port();
}

static int connect_timeout(int port, int timeout_ms)
{
	struct sockaddr_in sin;
	int fd = loopback_socket(port, &sin);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct pollfd p = {fd, POLLOUT, 0};
	int e = 0;
	socklen_t el = sizeof e;
	if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
		close(fd);
		return -1;
	}
	return fd;
}

int nb_stack_tcp_probe(int port, int timeout_ms)
{
	int fd = connect_timeout(port, timeout_ms);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int nb_stack_tcp_ask(int port, const char *req, size_t len, char *out, size_t n, int timeout_ms)
{
	int fd = connect_timeout(port, timeout_ms);
	if (fd < 0)
		return -1;
	if (write(fd, req, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	size_t got = 0;
	double end = nb_stack_now() + timeout_ms / 1000.0;
	while (got < n - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		int left = (int)((end - nb_stack_now()) * 1000);
		if (left <= 0 || poll(&p, 1, left) != 1)
			break;
		ssize_t r = read(fd, out + got, n - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	out[got] = '\0';
	return 0;
}

int nb_stack_http(int port, const char *path, const char *post, char *out, size_t n, int timeout_ms)
{
	char req[4096];
	int len = snprintf(req, sizeof req,
			   "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
			   "Content-Length: %zu\r\n\r\n%s",
			   post ? "POST" : "GET", path, post ? strlen(post) : 0, post ? post : "");
	char buf[8192];
	if (len < 0 || len >= (int)sizeof req ||
	    nb_stack_tcp_ask(port, req, (size_t)len, buf, sizeof buf, timeout_ms) < 0)
		return -1;
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.", 7) || !body) {
		snprintf(out, n, "no HTTP answer");
		return -1;
	}
	snprintf(out, n, "%s", body + 4);
	return strncmp(buf + 8, " 200", 4) ? -1 : 0;
}

int nb_stack_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int nb_stack_make_traversable(const char *path, nb_stack_say_fn say, void *ud, nb_err *err)
{
	char p[NB_PATH_MAX];
	snprintf(p, sizeof p, "%s", path);
	for (;;) {
		struct stat sb;
		if (stat(p, &sb) != 0)
			return nb_err_set(err, NB_ESERVER, "cannot stat %s: %s", p,
					  strerror(errno));
		if (S_ISDIR(sb.st_mode) && !(sb.st_mode & S_IXOTH)) {
			if (chmod(p, (sb.st_mode & 07777) | S_IXOTH) != 0)
				return nb_err_set(
				    err, NB_ESERVER,
				    "cannot make %s traversable for the database users "
				    "(chmod o+x): %s; choose a home under /tmp or /var/tmp",
				    p, strerror(errno));
			if (say) {
				char m[NB_PATH_MAX + 128];
				snprintf(
				    m, sizeof m,
				    "made %s traversable (o+x) so that the database users reach "
				    "their data",
				    p);
				say(ud, m);
			}
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	return 0;
}

int nb_stack_state_get(const char *home, const char *name, int *pid, int *restarts)
{
	char path[NB_PATH_MAX + 64], line[256], n[64];
	nb_stack_path(home, path, sizeof path, "run/state");
	*pid = 0;
	*restarts = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int found = -1;
	while (fgets(line, sizeof line, f)) {
		int p, r;
		if (sscanf(line, "%63s %d %d", n, &p, &r) == 3 && !strcmp(n, name)) {
			*pid = p;
			*restarts = r;
			found = 0;
		}
	}
	fclose(f);
	return found;
}

void nb_stack_log_tail(const char *path, char *out, size_t n, int lines)
{
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char buf[16384];
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	long from = sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0;
	fseek(f, from, SEEK_SET);
	size_t r = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[r] = '\0';
	while (r && buf[r - 1] == '\n')
		buf[--r] = '\0';
	char *p = buf + r;
	int k = 0;
	while (p > buf && k < lines) {
		p--;
		if (*p == '\n')
			k++;
	}
	if (*p == '\n')
		p++;
	snprintf(out, n, "%s", p);
}
