/* sink/status.c — the sink's state for the outside: log lines, the
 * partitions' positions, the status file it writes, and reading that file
 * back for `stack status` and health checks. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t sink_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sink_log(sink *s, const char *fmt, ...)
{
	if (!s->o->log)
		return;
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	s->o->log(s->o->log_ud, line);
}

/* ---- partitions ---- */

sink_part *sink_part_get(sink *s, const char *topic, int32_t partition)
{
	if (s->last_part < s->nparts) { /* consecutive messages mostly share one */
		sink_part *p = &s->parts[s->last_part];
		if (p->partition == partition && !strcmp(p->topic, topic))
			return p;
	}
	for (int i = 0; i < s->nparts; i++)
		if (s->parts[i].partition == partition && !strcmp(s->parts[i].topic, topic)) {
			s->last_part = i;
			return &s->parts[i];
		}
	s->parts = nb_xrealloc(s->parts, (size_t)(s->nparts + 1) * sizeof *s->parts);
	sink_part *p = &s->parts[s->nparts];
	s->last_part = s->nparts++;
	memset(p, 0, sizeof *p);
	p->topic = nb_xstrdup(topic);
	p->partition = partition;
	p->table = nb_sink_schema_table_for_topic(&s->schema, topic);
	p->next = p->committed = p->batch_next = -1;
	return p;
}

/* ---- status file (main thread) ---- */

void sink_status_write(sink *s)
{
	if (!s->o->status_path)
		return;
	int64_t now = sink_now_ms();
	pthread_mutex_lock(&s->mu);
	int pending = s->fill->rows + (s->busy ? s->flight->rows : 0);
	int ch_ok = s->ch_ok;
	char waiting[sizeof s->waiting];
	memcpy(waiting, s->waiting, sizeof waiting);
	pthread_mutex_unlock(&s->mu);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "component", "sink");
	cJSON_AddNumberToObject(j, "pid", getpid());
	cJSON_AddStringToObject(j, "group", s->o->group);
	cJSON_AddNumberToObject(j, "started_at", (double)s->started_s);
	cJSON_AddNumberToObject(j, "updated_at", (double)(now / 1000));
	cJSON_AddNumberToObject(j, "messages", (double)s->msgs);
	cJSON_AddNumberToObject(j, "rows", (double)s->rows);
	cJSON_AddNumberToObject(j, "tombstones", (double)s->tombstones);
	cJSON_AddNumberToObject(j, "truncates", (double)s->truncates);
	cJSON_AddNumberToObject(j, "ignored", (double)s->ignored);
	cJSON_AddNumberToObject(j, "dlq", (double)s->dlq_count);
	cJSON_AddNumberToObject(j, "batches", (double)s->batches);
	cJSON_AddNumberToObject(j, "batch_rows_pending", pending);
	if (s->last_row_ms) {
		cJSON_AddNumberToObject(j, "last_row_at", (double)(s->last_row_ms / 1000));
		cJSON_AddNumberToObject(j, "seconds_since_last_row",
					(double)(now - s->last_row_ms) / 1000.0);
	} else {
		cJSON_AddNullToObject(j, "last_row_at");
		cJSON_AddNullToObject(j, "seconds_since_last_row");
	}
	cJSON *arr = cJSON_AddArrayToObject(j, "partitions");
	int64_t total = 0;
	for (int i = 0; i < s->nparts; i++) {
		sink_part *p = &s->parts[i];
		if (!p->assigned)
			continue; /* another sink of the group holds it now */
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi);
		int64_t base = p->committed >= 0 ? p->committed : lo;
		int64_t lag = hi >= 0 && base >= 0 && hi > base ? hi - base : 0;
		total += lag;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "topic", p->topic);
		cJSON_AddNumberToObject(e, "partition", p->partition);
		cJSON_AddNumberToObject(e, "committed", (double)p->committed);
		cJSON_AddNumberToObject(e, "high_watermark", (double)hi);
		cJSON_AddNumberToObject(e, "lag", (double)lag);
		cJSON_AddNumberToObject(e, "lsn", (double)p->lsn);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddNumberToObject(j, "lag_total", (double)total);
	cJSON_AddNumberToObject(j, "gaps", (double)s->gaps);
	cJSON_AddNumberToObject(j, "lost_messages", (double)s->lost);
	if (s->last_gap[0])
		cJSON_AddStringToObject(j, "last_gap", s->last_gap);
	else
		cJSON_AddNullToObject(j, "last_gap");
	cJSON_AddBoolToObject(j, "clickhouse_ok", ch_ok);
	if (waiting[0])
		cJSON_AddStringToObject(j, "waiting_for", waiting);
	else
		cJSON_AddNullToObject(j, "waiting_for");
	char *text = nb_json_print(j);
	cJSON_Delete(j);
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", s->o->status_path);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fputs(text, f);
		fputc('\n', f);
		if (fclose(f) == 0)
			rename(tmp, s->o->status_path);
	}
	free(text);
}

void sink_status_tick(sink *s)
{
	int64_t now = sink_now_ms();
	if (now - s->status_ms >= 1000) {
		s->status_ms = now;
		sink_status_write(s);
	}
}

void sink_set_waiting(sink *s, const char *fmt, ...)
{
	pthread_mutex_lock(&s->mu);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->waiting, sizeof s->waiting, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->mu);
}

/* True once a stop was requested and the grace period for storing is over. */
int sink_gave_up(sink *s)
{
	pthread_mutex_lock(&s->mu);
	if (*s->stop && !s->stop_ms)
		s->stop_ms = sink_now_ms();
	int over = *s->stop && sink_now_ms() - s->stop_ms > SINK_STOP_GRACE_MS;
	pthread_mutex_unlock(&s->mu);
	return over;
}

/* Sleeps up to ms in small steps; returns early once sink_gave_up(). */
void sink_sleep(sink *s, int ms)
{
	int64_t end = sink_now_ms() + ms;
	while (sink_now_ms() < end && !sink_gave_up(s)) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* ---- status for `stack status` ---- */

static cJSON *sink_status_load(const char *path)
{
	char *text = path ? nb_buf_read_file(path) : NULL;
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	return j;
}

static void sink_status_copy(cJSON *obj, const cJSON *st, const char *from, const char *to)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, from);
	cJSON_AddItemToObject(obj, to, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
}

void nb_sink_status_describe(const char *status_path, cJSON *obj)
{
	cJSON *st = sink_status_load(status_path);
	if (!st) {
		cJSON_AddStringToObject(obj, "status", "no status file yet");
		return;
	}
	sink_status_copy(obj, st, "lag_total", "kafka_lag");
	sink_status_copy(obj, st, "seconds_since_last_row", "seconds_since_last_row");
	sink_status_copy(obj, st, "rows", "rows");
	sink_status_copy(obj, st, "dlq", "dlq");
	sink_status_copy(obj, st, "truncates", "truncates");
	sink_status_copy(obj, st, "ignored", "ignored");
	sink_status_copy(obj, st, "lost_messages", "lost_messages");
	sink_status_copy(obj, st, "waiting_for", "waiting_for");
	sink_status_copy(obj, st, "partitions", "partitions");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(st, "updated_at");
	if (cJSON_IsNumber(u))
		cJSON_AddNumberToObject(obj, "status_age_s",
					(double)(sink_now_ms() / 1000) - u->valuedouble);
	cJSON_Delete(st);
}

int nb_sink_status_health(const char *status_path, int max_age_s, char *why, size_t n)
{
	cJSON *st = sink_status_load(status_path);
	if (!st) {
		snprintf(why, n, "no status file %s yet", status_path ? status_path : "");
		return -1;
	}
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(st, "updated_at");
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(st, "clickhouse_ok");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(st, "waiting_for");
	int rc = 0;
	double age = cJSON_IsNumber(u) ? (double)(sink_now_ms() / 1000) - u->valuedouble : 1e9;
	if (age > max_age_s) {
		snprintf(why, n, "status not updated for %.0f s", age);
		rc = -1;
	} else if (!cJSON_IsTrue(ok)) {
		snprintf(why, n, "waiting for %s", cJSON_IsString(w) ? w->valuestring : "ClickHouse");
		rc = -1;
	}
	cJSON_Delete(st);
	return rc;
}
