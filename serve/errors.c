/* errors.c — the error answers every route gives (docs/api.md, "Statuses
 * and errors"): {"error", "field"} with its status, and a library error
 * mapped to one. Below api.c and flags.c, which both answer with them. */
#include "serve.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void api_error(serve_resp *rs, int status, const char *field, const char *msg)
{
	rs->status = status;
	cJSON_Delete(rs->body);
	rs->body = cJSON_CreateObject();
	cJSON_AddStringToObject(rs->body, "error", msg);
	if (field)
		cJSON_AddStringToObject(rs->body, "field", field);
}

/* A library error as an answer: input → 400 with the field the message
 * starts with ("name: …", or a path such as "rules[0].coverage must …"),
 * else prefix; a missing thing → 404; a server → 503. */
void api_fail(serve_resp *rs, const nb_err *err, const char *prefix)
{
	if (err->code != NB_EINPUT) {
		api_error(rs, 503, NULL, err->msg[0] ? err->msg : "PostgreSQL failed");
		return;
	}
	char field[128] = "", msg[1200];
	size_t n = strcspn(err->msg, ": ");
	int path = n < 64 && memchr(err->msg, '[', n) && err->msg[n] == ' ';
	if (n && n < 64 && (err->msg[n] == ':' || path)) {
		int ident = 1;
		for (size_t i = 0; i < n; i++)
			ident &= isalnum((unsigned char)err->msg[i]) || err->msg[i] == '_' ||
				 err->msg[i] == '.' || err->msg[i] == '[' || err->msg[i] == ']';
		if (ident)
			snprintf(field, sizeof field, "%.*s", (int)n, err->msg);
	}
	if (!field[0] && prefix)
		snprintf(field, sizeof field, "%s", prefix);
	snprintf(msg, sizeof msg, "%s", err->msg);
	int status = strstr(err->msg, "no experiment") || strstr(err->msg, "unknown experiment") ||
			     strstr(err->msg, "no flag") || strstr(err->msg, "unknown flag") ||
			     strstr(err->msg, "not found") || strstr(err->msg, "no such")
			 ? 404
			 : 400;
	api_error(rs, status, field[0] ? field : NULL, msg);
}
