/* cdc/status.c — the relay's state: the clock, the log, the one-line state
 * and the JSON status file (--status) that `stack status` and the dashboard read. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t cdc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cdc_log(cdc *c, const char *fmt, ...)
{
	if (!c->o->log)
		return;
	char line[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	c->o->log(c->o->log_ud, line);
}

void cdc_set_state(cdc *c, const char *fmt, ...)
{
	char s[sizeof c->state];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (strcmp(s, c->state)) {
		snprintf(c->state, sizeof c->state, "%s", s);
		cdc_log(c, "%s", s);
	}
}

char *cdc_lsn_str(uint64_t lsn, char out[32])
{
	nb_lsn_format(lsn, out);
	return out;
}

void cdc_write_status_file(cdc *c)
{
	int64_t now = cdc_now_ms();
	if (!c->o->status_path || now - c->last_file_ms < 1000)
		return;
	c->last_file_ms = now;
	char a[32], b[32];
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "component", "cdc");
	cJSON_AddNumberToObject(j, "pid", getpid());
	cJSON_AddStringToObject(j, "slot", c->slot);
	cJSON_AddStringToObject(j, "state", c->state);
	cJSON_AddStringToObject(j, "received_lsn", cdc_lsn_str(c->received_lsn, a));
	cJSON_AddStringToObject(j, "confirmed_lsn", cdc_lsn_str(c->confirmed_lsn, b));
	cJSON_AddNumberToObject(j, "changes", (double)c->changes);
	cJSON_AddNumberToObject(j, "messages", (double)c->messages);
	cJSON_AddNumberToObject(j, "unacknowledged", (double)(c->messages - c->acked));
	int64_t pending = 0;
	for (int i = 0; i < c->ntps; i++)
		pending += c->tps[i].msgs;
	cJSON_AddNumberToObject(j, "not_in_clickhouse", c->embedded ? (double)pending : 0);
	cJSON_AddBoolToObject(j, "embedded", c->embedded);
	cJSON_AddNumberToObject(j, "updated_at", (double)(now / 1000));
	char *s = nb_json_print(j);
	cJSON_Delete(j);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", c->o->status_path);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fprintf(f, "%s\n", s);
		if (fclose(f) == 0)
			rename(tmp, c->o->status_path);
	}
	free(s);
}
