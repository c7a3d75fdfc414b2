/* sink/map.h — what the mapping's files share: the value formatting of
 * values.c (Debezium column → TSV cell, as ClickHouse's type says) used by
 * both the general path (map.c) and the zero-copy path (fast.c), and fast.c's
 * entry. Calls go map.c → fast.c → values.c, schema.c stands alone. */
#ifndef NB_SINK_MAP_H
#define NB_SINK_MAP_H

#include "neonblue/cdc.h"
#include "neonblue/sink.h"

#include <stdint.h>

/* ---- values.c ---- */
void sink_map_datetime(nb_buf *b, int64_t us);
void sink_map_default(nb_buf *b, const nb_sink_col *col);
void sink_map_float(nb_buf *b, double v);
int sink_map_is_unavailable(const nb_col *c);
int sink_map_int_fits(const nb_sink_col *col, int64_t x);
int sink_map_uuid_ok(const char *s, size_t n);
void sink_map_u64(nb_buf *b, uint64_t v, int width);
int sink_map_value(nb_buf *b, const nb_sink_col *col, const nb_col *v, nb_err *err);

/* ---- fast.c ---- */
int sink_map_fast(const nb_sink_table *t, const char *value, size_t len, nb_buf *out, nb_sink_out *res);

#endif
