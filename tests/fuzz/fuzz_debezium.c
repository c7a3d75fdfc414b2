/* fuzz_debezium.c — libFuzzer harness of the Debezium envelope parser, as the
 * sink drives it: the input is a Kafka value (nb_debezium_parse), and every
 * column of the parsed row images is read with each accessor the sink uses;
 * the same bytes are also parsed as a Kafka key (nb_debezium_parse_key). */
#include "neonblue/cdc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every accessor on every column of t. */
static void read_cols(const nb_tuple *t)
{
	for (int i = 0; i < t->n; i++) {
		const nb_col *c = &t->cols[i];
		nb_err err = {0};
		int64_t i64;
		int32_t days;
		double d;
		int b;
		char *text = NULL;
		nb_debezium_col_epoch_us(c, &i64, &err);
		nb_debezium_col_days(c, &days, &err);
		nb_debezium_col_int(c, &i64, &err);
		nb_debezium_col_double(c, &d, &err);
		nb_debezium_col_bool(c, &b, &err);
		if (nb_debezium_col_text(c, &text, &err) == 0)
			free(text);
		(void)nb_tuple_find(t, c->name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: the parser is given a length, not a C string */
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	nb_change ch;
	nb_change_init(&ch);
	nb_err err = {0};
	if (nb_debezium_parse(buf, size, &ch, &err) == 0) {
		read_cols(&ch.before);
		read_cols(&ch.after);
	}
	nb_change_done(&ch);
	nb_tuple key = {0};
	if (nb_debezium_parse_key(buf, size, &key, &err) == 0)
		read_cols(&key);
	nb_tuple_done(&key);
	free(buf);
	return 0;
}
