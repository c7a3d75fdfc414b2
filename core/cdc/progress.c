/* cdc/progress.c — reads the sink's committed positions back from ClickHouse
 * (neonblue.cdc_progress) for the relay's embedded mode. */
#include "neonblue/cdc.h"
#include "neonblue/ch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nb_cdc_progress_read(const char *clickhouse, nb_cdc_progress **out, size_t *n, nb_err *err)
{
	*out = NULL;
	*n = 0;
	nb_ch *ch = nb_ch_new(clickhouse, err);
	if (!ch)
		return -1;
	nb_buf b;
	nb_buf_init(&b);
	int rc = nb_ch_query(ch,
			     "SELECT topic, partition, source_table, next_offset, lsn, epoch FROM "
			     "neonblue.cdc_progress FINAL ORDER BY topic, partition FORMAT "
			     "TabSeparated",
			     &b, err);
	nb_ch_free(ch);
	nb_ch_rows r;
	if (rc == 0)
		rc = nb_ch_tsv_parse(b.data ? b.data : "", b.len, &r, err);
	nb_buf_done(&b);
	if (rc < 0)
		return -1;
	if (r.nrows && r.ncols == 6) {
		*out = nb_xcalloc(r.nrows, sizeof **out);
		for (size_t i = 0; i < r.nrows; i++) {
			nb_cdc_progress *p = &(*out)[i];
			snprintf(p->topic, sizeof p->topic, "%s", nb_ch_cell(&r, i, 0));
			p->partition = atoi(nb_ch_cell(&r, i, 1));
			snprintf(p->source_table, sizeof p->source_table, "%s", nb_ch_cell(&r, i, 2));
			p->next_offset = strtoll(nb_ch_cell(&r, i, 3), NULL, 10);
			p->lsn = strtoull(nb_ch_cell(&r, i, 4), NULL, 10);
			p->epoch = strtoull(nb_ch_cell(&r, i, 5), NULL, 10);
		}
		*n = r.nrows;
	}
	nb_ch_rows_done(&r);
	return 0;
}

int nb_cdc_committed_lsn(const char *clickhouse, uint64_t *lsn, nb_err *err)
{
	nb_cdc_progress *p;
	size_t n;
	*lsn = 0;
	if (nb_cdc_progress_read(clickhouse, &p, &n, err) < 0)
		return -1;
	/* per table: the highest lsn over its partitions; then the minimum */
	uint64_t best = UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!p[i].source_table[0])
			continue;
		uint64_t tmax = 0;
		for (size_t j = 0; j < n; j++)
			if (!strcmp(p[j].source_table, p[i].source_table) && p[j].lsn > tmax)
				tmax = p[j].lsn;
		if (tmax < best)
			best = tmax;
	}
	*lsn = best == UINT64_MAX ? 0 : best;
	free(p);
	return 0;
}
