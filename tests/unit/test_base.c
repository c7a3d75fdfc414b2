/* test_base.c — nb_buf, nb_json and nb_config. */
#include "nbtest.h"
#include "neonblue/base.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static void buf_grows_and_formats(void)
{
	nb_buf b;
	nb_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		nb_buf_printf(&b, "%d,", i);
	CHECK_INT(b.len, 3890);
	CHECK(!strncmp(b.data, "0,1,2,", 6));
	char *s = nb_buf_steal(&b);
	CHECK(b.data == NULL);
	free(s);
}

static void buf_reads_whole_files(void)
{
	char path[] = "/tmp/nbbufXXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	nb_buf b;
	nb_buf_init(&b);
	for (int i = 0; i < 5000; i++)
		nb_buf_printf(&b, "line %d\n", i);
	CHECK_INT(write(fd, b.data, b.len), b.len);
	close(fd);
	char *text = nb_buf_read_file(path);
	CHECK(text && !strcmp(text, b.data));
	free(text);
	nb_buf_done(&b);
	unlink(path);
	errno = 0;
	CHECK(nb_buf_read_file(path) == NULL);
	CHECK_INT(errno, ENOENT);
	FILE *empty = tmpfile();
	nb_buf_init(&b);
	CHECK_INT(nb_buf_read_stream(&b, empty), 0);
	CHECK_STR(b.data, "");
	fclose(empty);
	nb_buf_done(&b);
}

static void json_numbers_full_precision(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "a", 0.1);
	cJSON_AddNumberToObject(o, "b", 1e6);
	cJSON_AddItemToObject(o, "c", nb_json_number_or_null(NAN));
	cJSON_AddStringToObject(o, "d", "q\"\n");
	char *s = nb_json_print(o);
	CHECK_STR(s, "{\"a\":0.1,\"b\":1000000,\"c\":null,\"d\":\"q\\\"\\n\"}");
	free(s);
	cJSON_Delete(o);
	/* full precision kept where it matters */
	nb_buf b;
	nb_buf_init(&b);
	double third = 1.0 / 3.0, tiny = 1.2345678901234567e-300;
	nb_json_write_number(&b, third);
	nb_buf_putc(&b, ' ');
	nb_json_write_number(&b, tiny);
	char *end;
	CHECK(strtod(b.data, &end) == third);
	CHECK(strtod(end, NULL) == tiny);
	nb_buf_done(&b);
}

static void config_precedence(void)
{
	char dir[] = "/tmp/nbcfgXXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/stack.env", dir);
	FILE *f = fopen(path, "w");
	fputs("# comment\nNEONBLUE_PG='host=127.0.0.1 port=1'\nNEONBLUE_KAFKA=127.0.0.1:9\n", f);
	fclose(f);
	unsetenv("NEONBLUE_PG");
	unsetenv("PGHOST");
	unsetenv("PGPORT");
	unsetenv("PGDATABASE");
	unsetenv("PGSERVICE");
	setenv("XDG_CONFIG_HOME", dir, 1); /* no config file there */
	setenv("NEONBLUE_KAFKA", "127.0.0.1:10", 1);
	nb_config c;
	nb_config_flags fl = {.home = dir};
	nb_err e;
	CHECK_INT(nb_config_load(&c, &fl, &e), 0);
	CHECK_STR(c.pg, "host=127.0.0.1 port=1");
	CHECK_STR(c.kafka, "127.0.0.1:10"); /* environment beats stack.env */
	CHECK_INT(nb_config_require_clickhouse(&c, &e), -1);
	CHECK(strstr(e.msg, "ClickHouse") != NULL);
	fl.kafka = "127.0.0.1:11";
	nb_config_load(&c, &fl, &e);
	CHECK_STR(c.kafka, "127.0.0.1:11"); /* flag beats environment */
	unsetenv("NEONBLUE_KAFKA");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	nbt_suite = "base";
	RUN(buf_grows_and_formats);
	RUN(buf_reads_whole_files);
	RUN(json_numbers_full_precision);
	RUN(config_precedence);
	return NBT_DONE();
}
