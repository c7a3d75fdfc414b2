/* fuzz_pgoutput.c — libFuzzer harness of the pgoutput decoder, as the relay
 * drives it: one decoder (relation cache) for a stream of messages, each row
 * message turned into a change (nb_pgoutput_change) and rendered as the
 * Debezium value and key the relay would produce.
 * Input: a stream of messages, each a 2-byte big-endian length and that many
 * bytes (the last one may be short). Every message is copied into a buffer of
 * its exact size, so that a read past its end is caught. */
#include "neonblue/cdc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Renders a change both ways the relay can (with and without the schema). */
static void render(const nb_change *ch, int with_schema)
{
	nb_err err = {0};
	char *key = nb_debezium_key(ch, with_schema, &err);
	char *val = nb_debezium_value(ch, with_schema, &err);
	free(key);
	free(val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nb_pgoutput d;
	nb_pgoutput_init(&d);
	nb_change ch;
	nb_change_init(&ch);
	size_t i = 0;
	int nmsg = 0;
	while (i + 2 <= size) {
		size_t len = (size_t)data[i] << 8 | data[i + 1];
		i += 2;
		if (len > size - i)
			len = size - i;
		uint8_t *msg = malloc(len ? len : 1);
		memcpy(msg, data + i, len);
		i += len;
		nb_err err = {0};
		const nb_pgo_msg *m = nb_pgoutput_decode(&d, msg, len, &err);
		if (m && (m->kind == NB_PGO_INSERT || m->kind == NB_PGO_UPDATE ||
			  m->kind == NB_PGO_DELETE) &&
		    nb_pgoutput_change(m, &ch, &err) == 0)
			render(&ch, nmsg & 1);
		nb_change_done(&ch);
		free(msg);
		nmsg++;
	}
	nb_pgoutput_done(&d);
	return 0;
}
