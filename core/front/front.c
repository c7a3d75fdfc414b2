/* front/front.c — the helpers every front end shares (neonblue/front.h). */
#include "neonblue/front.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int nb_front_fail(const nb_err *err)
{
	fprintf(stderr, "neonblue: %s\n", err->msg[0] ? err->msg : "failed");
	return err->code ? err->code : 1;
}

int nb_front_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "neonblue %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see `neonblue %s --help`)\n", cmd);
	va_end(ap);
	return 2;
}

int nb_front_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	}
	return 0;
}

void nb_front_log_line(void *ud, const char *line)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char ts[32];
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s: %s\n", ts, ud ? (const char *)ud : "neonblue", line);
}

int nb_front_positive_int(const char *cmd, const char *flag, const char *v, int *out)
{
	char *end;
	errno = 0;
	long n = v ? strtol(v, &end, 10) : 0;
	if (!v || errno || *end || n <= 0 || n > 10000000)
		return nb_front_usage_error(cmd, "%s needs a positive number, got '%s'", flag,
				       v ? v : "");
	*out = (int)n;
	return 0;
}

void nb_front_print_json(const cJSON *item)
{
	char *s = nb_json_print(item);
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
}

int nb_front_attr_add(cJSON *attrs, const char *kv, nb_err *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return nb_err_set(err, NB_EINPUT, "--attr \"%s\" is not KEY=VALUE", kv);
	char *key = strndup(kv, (size_t)(eq - kv));
	const char *val = eq + 1;
	cJSON *v = cJSON_ParseWithOpts(val, NULL, 1);
	if (v && !cJSON_IsNumber(v) && !cJSON_IsBool(v) && !cJSON_IsNull(v)) {
		cJSON_Delete(v);
		v = NULL;
	}
	if (!v)
		v = cJSON_CreateString(val);
	cJSON_DeleteItemFromObjectCaseSensitive(attrs, key);
	cJSON_AddItemToObject(attrs, key, v);
	free(key);
	return 0;
}

void nb_front_user_line_parse(nb_front_user_line *l, char *text)
{
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	if (text[0] != '{') {
		l->user = nb_xstrdup(text);
		return;
	}
	cJSON *j = cJSON_Parse(text);
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user_id");
	if (!j) {
		l->error = nb_xstrdup("not valid JSON");
	} else if (!cJSON_IsString(u) || !u->valuestring[0]) {
		l->error = nb_xstrdup("user_id must be a non-empty string");
	} else {
		l->user = nb_xstrdup(u->valuestring);
		cJSON *a = cJSON_DetachItemFromObjectCaseSensitive(j, "attributes");
		if (a && !cJSON_IsObject(a)) {
			l->error = nb_xstrdup("attributes must be an object");
			cJSON_Delete(a);
		} else if (a) {
			l->attrs = a;
		} else {
			cJSON_DeleteItemFromObjectCaseSensitive(j, "user_id");
			l->attrs = j;
			j = NULL;
		}
	}
	cJSON_Delete(j);
}

void nb_front_user_line_done(nb_front_user_line *l)
{
	free(l->user);
	free(l->error);
	cJSON_Delete(l->attrs);
	memset(l, 0, sizeof *l);
}
