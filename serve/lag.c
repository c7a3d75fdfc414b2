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

/* One gauge family: its HELP and TYPE lines, then a sample per component
 * (NaN when the figure is unknown). */
static void lag_family(nb_buf *b, const char *name, const char *help, int n,
		       const char *const *components, const double *values)
{
	nb_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (int i = 0; i < n; i++) {
		if (isnan(values[i]))
			nb_buf_printf(b, "%s{component=\"%s\"} NaN\n", name, components[i]);
		else
			nb_buf_printf(b, "%s{component=\"%s\"} %.15g\n", name, components[i],
				      values[i]);
	}
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
	static const char *const cdc[] = {"cdc"}, *const sink[] = {"sink"},
			 *const both[] = {"cdc", "sink"};
	lag_family(b, "nb_pipeline_lag_bytes",
		   "WAL bytes the relay's replication slot is behind (stack status).", 1, cdc,
		   (double[]){l.wal_bytes});
	lag_family(b, "nb_pipeline_lag_messages",
		   "Messages not yet in ClickHouse: sent by the relay and not yet stored (cdc), "
		   "Kafka consumer lag (sink).",
		   2, both, (double[]){l.cdc_messages, l.sink_messages});
	lag_family(b, "nb_pipeline_seconds_since_last_row",
		   "Seconds since the sink stored its last row in ClickHouse.", 1, sink,
		   (double[]){l.sink_idle_s});
	lag_family(b, "nb_pipeline_status_age_seconds",
		   "Age of the component's status file (rewritten every second while it runs).", 2,
		   both, (double[]){l.cdc_age_s, l.sink_age_s});
}
