/* tests/sdk/lines.h — the main loop of the differential tests' NeonBlue
 * sides (nb_eval.c, nb_flags.c): each line of stdin to one_case, which prints
 * the answer; a line that is no case (one_case < 0) ends it with status 2
 * and a message naming the line. */
#ifndef NB_SDK_LINES_H
#define NB_SDK_LINES_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

static int sdk_lines(const char *prog, int (*one_case)(const char *line))
{
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	while (getline(&line, &cap, stdin) > 0) {
		lineno++;
		if (one_case(line) < 0) {
			fprintf(stderr, "%s: line %ld is not a case\n", prog, lineno);
			free(line);
			return 2;
		}
	}
	free(line);
	return 0;
}

#endif
