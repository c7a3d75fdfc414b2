/* httpload.c — the HTTP load generator of bench/bench_serve.sh (wrk measures
 * throughput at a concurrency; this sends a fixed rate, or a given list of
 * requests exactly once, and counts each answer).
 *
 *   httpload [-c CONNS] [-n REQUESTS | -r RATE -d SECONDS] [-H 'Name: value']...
 *            [-m METHOD] HOST:PORT PATH [BODIES]
 *
 * BODIES: a file with one request body per line (POST; without it: GET, no
 * body). Without -r every line is sent once (or -n requests in all, taking
 * the lines in turn), each connection sending the next
 * line when its previous answer arrived (closed loop). With -r the requests
 * are open-loop: request k is due at start + k/RATE for SECONDS, taking the
 * lines in turn, sent on an idle connection; when none is idle it waits, and
 * its latency still counts from when it was due (no coordinated omission).
 * Prints one line:
 *   requests=N ok=N bad=N secs=S rps=R p50_us=… p90_us=… p99_us=…
 *   p999_us=… max_us=…
 * ok = 2xx answers. Exit 1 on a connection error or an unreadable answer. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
	int fd;
	int busy;
	double due;     /* when the request in flight was due (or sent) */
	char *out;      /* request bytes */
	size_t outlen, outoff;
	char in[65536]; /* answer so far (headers; the body is only counted) */
	size_t inlen;
	long want;      /* body bytes still expected once headers are read; -1: headers */
	int status;
} conn;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "httpload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static struct sockaddr_in g_addr;
static char g_head[8192]; /* request line + headers up to Content-Length */
static char **g_bodies;
static size_t g_nbodies;
static const char *g_method;

static int dial(int ep, conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		die("socket");
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr))
		die("connect");
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl");
	return 0;
}

/* Starts request number k on c (body k modulo the list). */
static void start(int ep, conn *c, size_t k, double due)
{
	const char *body = g_nbodies ? g_bodies[k % g_nbodies] : NULL;
	size_t bl = body ? strlen(body) : 0;
	size_t hl = strlen(g_head);
	free(c->out);
	c->out = malloc(hl + bl + 64);
	if (!c->out)
		die("malloc");
	int n = body ? sprintf(c->out, "%sContent-Length: %zu\r\n\r\n", g_head, bl)
		     : sprintf(c->out, "%s\r\n", g_head);
	memcpy(c->out + n, body ? body : "", bl);
	c->outlen = (size_t)n + bl;
	c->outoff = 0;
	c->inlen = 0;
	c->want = -1;
	c->busy = 1;
	c->due = due;
	ssize_t w = write(c->fd, c->out, c->outlen);
	if (w < 0 && errno != EAGAIN)
		die("write");
	c->outoff = w > 0 ? (size_t)w : 0;
	struct epoll_event ev = {.events = EPOLLIN | (c->outoff < c->outlen ? EPOLLOUT : 0),
				 .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Reads what c has; 1 when its answer is complete. */
static int advance(int ep, conn *c)
{
	if (c->outoff < c->outlen) {
		ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w < 0 && errno != EAGAIN)
			die("write");
		if (w > 0)
			c->outoff += (size_t)w;
		if (c->outoff == c->outlen) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
	for (;;) {
		char buf[65536];
		char *dst = c->want < 0 ? c->in + c->inlen : buf;
		size_t room = c->want < 0 ? sizeof c->in - c->inlen - 1 : sizeof buf;
		if (!room) {
			fprintf(stderr, "httpload: headers larger than %zu bytes\n", sizeof c->in);
			exit(1);
		}
		ssize_t r = read(c->fd, dst, room);
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r <= 0) {
			fprintf(stderr, "httpload: the server closed a connection\n");
			exit(1);
		}
		if (c->want >= 0) {
			c->want -= r;
		} else {
			c->inlen += (size_t)r;
			c->in[c->inlen] = '\0';
			char *end = strstr(c->in, "\r\n\r\n");
			if (!end)
				continue;
			if (sscanf(c->in, "HTTP/1.%*d %d", &c->status) != 1) {
				fprintf(stderr, "httpload: not an HTTP answer\n");
				exit(1);
			}
			long len = -1;
			for (char *h = strstr(c->in, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
				if (!strncasecmp(h + 2, "Content-Length:", 15))
					len = strtol(h + 17, NULL, 10);
			if (len < 0) {
				fprintf(stderr, "httpload: an answer without Content-Length\n");
				exit(1);
			}
			c->want = len - (long)(c->inlen - (size_t)(end + 4 - c->in));
		}
		if (c->want == 0) {
			c->busy = 0;
			return 1;
		}
		if (c->want < 0) {
			fprintf(stderr, "httpload: more bytes than Content-Length (pipelining?)\n");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	int conns = 8;
	double rate = 0, secs = 0;
	long nreq = 0;
	char hdrs[4096] = "";
	g_method = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "c:n:r:d:H:m:")) != -1) {
		if (opt == 'c')
			conns = atoi(optarg);
		else if (opt == 'n')
			nreq = atol(optarg);
		else if (opt == 'r')
			rate = atof(optarg);
		else if (opt == 'd')
			secs = atof(optarg);
		else if (opt == 'H')
			snprintf(hdrs + strlen(hdrs), sizeof hdrs - strlen(hdrs), "%s\r\n", optarg);
		else if (opt == 'm')
			g_method = optarg;
		else
			return 2;
	}
	if (argc - optind < 2 || conns < 1 || (rate > 0) != (secs > 0)) {
		fprintf(stderr, "usage: httpload [-c CONNS] [-n REQUESTS | -r RATE -d SECONDS] [-H HEADER]... "
				"[-m METHOD] HOST:PORT PATH [BODIES]\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(argv[optind], ':');
	if (!colon || colon - argv[optind] >= (long)sizeof host)
		return 2;
	snprintf(host, sizeof host, "%.*s", (int)(colon - argv[optind]), argv[optind]);
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1)
		return 2;
	const char *path = argv[optind + 1];
	if (argc - optind > 2) {
		FILE *f = fopen(argv[optind + 2], "r");
		if (!f)
			die(argv[optind + 2]);
		char *line = NULL;
		size_t cap = 0;
		ssize_t l;
		size_t room = 0;
		while ((l = getline(&line, &cap, f)) > 0) {
			if (line[l - 1] == '\n')
				line[--l] = '\0';
			if (g_nbodies == room) {
				room = room ? room * 2 : 1024;
				g_bodies = realloc(g_bodies, room * sizeof *g_bodies);
			}
			g_bodies[g_nbodies++] = strdup(line);
		}
		free(line);
		fclose(f);
		if (!g_nbodies) {
			fprintf(stderr, "httpload: %s has no lines\n", argv[optind + 2]);
			return 2;
		}
	}
	if (!g_method)
		g_method = g_nbodies ? "POST" : "GET";
	snprintf(g_head, sizeof g_head, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s", g_method, path,
		 argv[optind], g_nbodies ? "Content-Type: application/json\r\n" : "", hdrs);

	int ep = epoll_create1(0);
	conn *cs = calloc((size_t)conns, sizeof *cs);
	for (int i = 0; i < conns; i++)
		dial(ep, &cs[i]);
	size_t total = rate > 0	 ? (size_t)(rate * secs)
		       : nreq > 0 ? (size_t)nreq
		       : g_nbodies ? g_nbodies
				   : 1;
	uint32_t *lat = calloc(total, sizeof *lat);
	size_t sent = 0, done = 0, ok = 0;
	double t0 = now_s();
	struct epoll_event evs[256];
	while (done < total) {
		double t = now_s();
		/* start what is due on idle connections */
		for (int i = 0; i < conns && sent < total; i++) {
			if (cs[i].busy)
				continue;
			double due = rate > 0 ? t0 + (double)sent / rate : t;
			if (due > t)
				break;
			start(ep, &cs[i], sent++, due);
		}
		/* until the next request is due, to the microsecond (epoll_wait's
		 * milliseconds would round 100 µs down to 0: a spinning generator
		 * takes a core from the server it measures) */
		struct timespec ts, *tmo = NULL;
		if (rate > 0 && sent < total) {
			double next = t0 + (double)sent / rate - now_s();
			if (next < 0)
				next = 0;
			ts.tv_sec = (time_t)next;
			ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
			tmo = &ts;
		}
		int n = epoll_pwait2(ep, evs, 256, tmo, NULL);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			conn *c = evs[i].data.ptr;
			if (!c->busy)
				continue;
			if (advance(ep, c)) {
				double us = (now_s() - c->due) * 1e6;
				lat[done++] = us > 4e9 ? 4000000000u : (uint32_t)us;
				ok += c->status >= 200 && c->status < 300;
			}
		}
	}
	double el = now_s() - t0;
	qsort(lat, done, sizeof *lat, cmp_u32);
#define PCT(p) (done ? lat[(size_t)((double)(done - 1) * (p))] : 0)
	printf("requests=%zu ok=%zu bad=%zu secs=%.3f rps=%.0f p50_us=%u p90_us=%u "
	       "p99_us=%u p999_us=%u max_us=%u\n",
	       done, ok, done - ok, el, (double)done / el, PCT(0.5), PCT(0.9), PCT(0.99),
	       PCT(0.999), done ? lat[done - 1] : 0);
	return 0;
}
