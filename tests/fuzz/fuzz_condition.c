/* fuzz_condition.c — libFuzzer harness of the targeting condition evaluator
 * (nb_eval_condition), its version padding (nb_version_pad) and a decision
 * under the condition (nb_assign_decide).
 * Input: condition JSON, a NUL byte, attributes JSON, optionally a NUL byte
 * and saved groups JSON ({"group id": [values]}). Text that is not JSON is
 * evaluated as a missing (NULL) document. */
#include "neonblue/assign.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-separated part of [*p, end) parsed as JSON, or NULL. */
static cJSON *next_part(const char **p, const char *end, int *present)
{
	*present = *p < end;
	if (!*present)
		return NULL;
	const char *z = memchr(*p, 0, (size_t)(end - *p));
	size_t len = (size_t)((z ? z : end) - *p);
	cJSON *j = cJSON_ParseWithLength(*p, len);
	*p = z ? z + 1 : end;
	return j;
}

/* Pads every string of j as a version, as $veq/$vgt… do. */
static void pad_strings(const cJSON *j)
{
	char out[256];
	if (cJSON_IsString(j)) {
		nb_version_pad(j->valuestring, out, sizeof out);
		nb_version_pad(j->valuestring, out, 3);
	}
	for (const cJSON *c = j ? j->child : NULL; c; c = c->next)
		pad_strings(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	int has_cond, has_attrs, has_groups;
	cJSON *cond = next_part(&p, end, &has_cond);
	cJSON *attrs = next_part(&p, end, &has_attrs);
	cJSON *groups = next_part(&p, end, &has_groups);
	if (cond) {
		nb_eval_condition(cond, attrs, groups);
		nb_eval_condition(cond, attrs, NULL);
		static const double w[2] = {0.5, 0.5};
		nb_assign_exp e = {.key = "fuzz",
				   .hash_version = 2,
				   .coverage = 1,
				   .condition = cond,
				   .nvariants = 2,
				   .weights = w,
				   .saved_groups = groups};
		nb_assign_result r;
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(attrs, "id");
		nb_assign_decide(&e, cJSON_IsString(id) ? id->valuestring : "user-1", attrs, &r);
	}
	pad_strings(cond);
	pad_strings(attrs);
	cJSON_Delete(cond);
	cJSON_Delete(attrs);
	cJSON_Delete(groups);
	return 0;
}
