/* fuzz_theme.c — libFuzzer harness of the dashboard's theme parser: the input
 * is the text of a themes/NAME.theme file, parsed as theme_apply parses it
 * (parse_theme), then every colour mapped at each terminal depth (map_color).
 * tui/theme.c is private to the dashboard: it is compiled into this harness
 * (the path comes from FUZZ_THEME in the Makefile). The two widget functions
 * theme.c refers to are stand-ins here: the parser never calls them. */
#include FUZZ_THEME_C

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

w_style w_cur;

void w_style_mono(w_style *s, int ascii)
{
	(void)s, (void)ascii;
}

void w_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65535) /* read_theme reads at most 64 KiB */
		return 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	theme_spec t;
	memset(&t, 0, sizeof t);
	nb_err err = {0};
	if (parse_theme("fuzz", text, &t, &err) == 0) {
		static const int depths[] = {8, 16, 256, 0x1000000};
		for (size_t d = 0; d < sizeof depths / sizeof *depths; d++)
			for (int r = 0; r < R_NROLES; r++) {
				map_color(t.fg[r][0], t.fg[r][1], depths[d]);
				map_color(t.bg[r][0], t.bg[r][1], depths[d]);
			}
	}
	free(text);
	return 0;
}
