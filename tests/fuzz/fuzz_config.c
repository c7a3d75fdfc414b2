/* fuzz_config.c — libFuzzer harness of the configuration reader: the input is
 * the text of a config file ($XDG_CONFIG_HOME/neonblue/config) and of
 * HOME/stack.env at once, read by nb_config_load (nb_config_read_kv and the
 * settings it applies). The files are symbolic links to a memory file that
 * holds the input, so that no run touches the disk. */
#include "neonblue/base.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char home[256];

/* Makes DIR/neonblue/config and DIR/stack.env point at the memory file. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(home, sizeof home, "%s/nbfuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	memfd = memfd_create("nbfuzz-config", 0);
	if (!mkdtemp(home) || memfd < 0) {
		perror("fuzz_config: setup");
		exit(2);
	}
	char dir[300], link[320], target[64];
	snprintf(target, sizeof target, "/proc/self/fd/%d", memfd);
	snprintf(dir, sizeof dir, "%s/neonblue", home);
	snprintf(link, sizeof link, "%s/config", dir);
	int ok = mkdir(dir, 0700) == 0 && symlink(target, link) == 0;
	snprintf(link, sizeof link, "%s/stack.env", home);
	ok = ok && symlink(target, link) == 0;
	if (!ok) {
		perror("fuzz_config: setup");
		exit(2);
	}
	setenv("XDG_CONFIG_HOME", home, 1);
	static const char *clear[] = {"NEONBLUE_PG", "NEONBLUE_KAFKA", "NEONBLUE_CLICKHOUSE",
				      "NEONBLUE_TOPIC_PREFIX", "PGHOST", "PGPORT", "PGSERVICE",
				      "PGDATABASE"};
	for (size_t i = 0; i < sizeof clear / sizeof *clear; i++)
		unsetenv(clear[i]);
	return 0;
}

/* The callback of nb_config_read_kv: touches every byte of key and value. */
static void kv(const char *k, const char *v, void *ud)
{
	size_t *n = ud;
	*n += strlen(k) + strlen(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ftruncate(memfd, 0) || (size && pwrite(memfd, data, size, 0) != (ssize_t)size))
		abort();
	nb_config_flags fl = {.home = home};
	static nb_config cfg; /* 7 KiB: not on the stack */
	nb_err err = {0};
	nb_config_load(&cfg, &fl, &err);
	nb_config_require_pg(&cfg, &err);
	nb_config_require_kafka(&cfg, &err);
	nb_config_require_clickhouse(&cfg, &err);
	char path[320];
	snprintf(path, sizeof path, "%s/stack.env", home);
	size_t n = 0;
	nb_config_read_kv(path, kv, &n);
	return 0;
}
