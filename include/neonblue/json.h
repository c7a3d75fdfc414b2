/* json.h — the one JSON writer: cJSON trees printed with full-precision numbers. */
#ifndef NEONBLUE_JSON_H
#define NEONBLUE_JSON_H

#include <cjson/cJSON.h>
#include "neonblue/buf.h"

/* Appends the compact JSON of item to b. Numbers: integers that fit exactly
 * print as integers, others with %.17g; NaN and infinities print as null. */
void nb_json_write(nb_buf *b, const cJSON *item);
/* Same, returning a string the caller frees. */
char *nb_json_print(const cJSON *item);
/* Appends s as a JSON string literal (with quotes). */
void nb_json_write_string(nb_buf *b, const char *s);
/* Appends a number with the rules above. */
void nb_json_write_number(nb_buf *b, double v);
/* A number item, or a JSON null when v is NaN or infinite. */
cJSON *nb_json_number_or_null(double v);

#endif
