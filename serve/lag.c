/* lag.c — the pipeline's lag on /metrics: the figures `stack status` shows
 * for the relay and the sink (nb_stack_lag_get), as Prometheus gauges; NaN
 * when a figure is unknown, nothing when the server runs outside a stack
 * (docs/api.md). */
#include "serve.h"

#include "neonblue/stack.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static struct {
	pthread_mutex_t mu;
	time_t at; /* when looked (0: never) */
	int have;
	nb_stack_lag lag;
} lag_cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void lag_gauge(nb_buf *b, const char *name, const char *component, double v)
{
	if (isnan(v))
		nb_buf_printf(b, "%s{component=\"%s\"} NaN\n", name, component);
	else
		nb_buf_printf(b, "%s{component=\"%s\"} %.15g\n", name, component, v);
}

void lag_metrics(nb_buf *b, const char *home)
{
	pthread_mutex_lock(&lag_cache.mu);
	time_t now = time(NULL);
	if (!lag_cache.at || now != lag_cache.at) {
		nb_err err;
		nb_err_clear(&err);
		lag_cache.have = home && home[0] && nb_stack_lag_get(home, &lag_cache.lag, &err) == 0;
		lag_cache.at = now;
	}
	int have = lag_cache.have;
	nb_stack_lag l = lag_cache.lag;
	pthread_mutex_unlock(&lag_cache.mu);
	if (!have)
		return;
	nb_buf_puts(b, "# HELP nb_pipeline_lag_bytes WAL bytes the relay's replication slot is "
		       "behind (stack status).\n"
		       "# TYPE nb_pipeline_lag_bytes gauge\n");
	lag_gauge(b, "nb_pipeline_lag_bytes", "cdc", l.wal_bytes);
	nb_buf_puts(b, "# HELP nb_pipeline_lag_messages Messages not yet in ClickHouse: sent by "
		       "the relay and not yet stored (cdc), Kafka consumer lag (sink).\n"
		       "# TYPE nb_pipeline_lag_messages gauge\n");
	lag_gauge(b, "nb_pipeline_lag_messages", "cdc", l.cdc_messages);
	lag_gauge(b, "nb_pipeline_lag_messages", "sink", l.sink_messages);
	nb_buf_puts(b, "# HELP nb_pipeline_seconds_since_last_row Seconds since the sink stored "
		       "its last row in ClickHouse.\n"
		       "# TYPE nb_pipeline_seconds_since_last_row gauge\n");
	lag_gauge(b, "nb_pipeline_seconds_since_last_row", "sink", l.sink_idle_s);
	nb_buf_puts(b, "# HELP nb_pipeline_status_age_seconds Age of the component's status "
		       "file (rewritten every second while it runs).\n"
		       "# TYPE nb_pipeline_status_age_seconds gauge\n");
	lag_gauge(b, "nb_pipeline_status_age_seconds", "cdc", l.cdc_age_s);
	lag_gauge(b, "nb_pipeline_status_age_seconds", "sink", l.sink_age_s);
}
