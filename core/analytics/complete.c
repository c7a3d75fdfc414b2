/* analytics/complete.c — "complete up to T": the newest heartbeat the sink
 * found in ClickHouse (neonblue.cdc_complete; docs/report.md, docs/sink.md). */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int nb_an_complete_get(nb_ch *ch, const nb_an_scope *s, nb_an_complete *out, nb_err *err)
{
	memset(out, 0, sizeof *out);
	nb_buf sql;
	nb_buf_init(&sql);
	an_sql_complete(&sql, s);
	nb_ch_rows r;
	int rc = an_rows(ch, &sql, &r, err);
	nb_buf_done(&sql);
	if (rc < 0) {
		/* A ClickHouse whose migrations predate 007: nothing is known. */
		if (strstr(err->msg, "UNKNOWN_TABLE") || strstr(err->msg, "Code: 60,") ||
		    strstr(err->msg, "Code: 60."))
			return 0;
		return -1;
	}
	if (r.nrows == 1 && r.ncols == 4 && strtoull(nb_ch_cell(&r, 0, 0), NULL, 10) > 0) {
		out->known = 1;
		out->ts_ms = strtoll(nb_ch_cell(&r, 0, 1), NULL, 10);
		out->lsn = strtoull(nb_ch_cell(&r, 0, 2), NULL, 10);
		out->recorded_at = strtoll(nb_ch_cell(&r, 0, 3), NULL, 10);
	}
	nb_ch_rows_done(&r);
	return 0;
}

void nb_an_complete_iso(const nb_an_complete *c, char out[40])
{
	out[0] = 0;
	if (!c->known)
		return;
	time_t t = (time_t)(c->ts_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(c->ts_ms % 1000));
}
