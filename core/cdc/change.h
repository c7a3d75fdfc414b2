/* cdc/change.h — the date/time helpers of cdc/change.c that the renderer
 * (cdc/render.c) and the parser (cdc/parse.c) share (not public). */
#ifndef NB_CDC_CHANGE_H
#define NB_CDC_CHANGE_H

#include <stdint.h>

#define US_PER_DAY 86400000000LL

/* a / b rounded towards minus infinity. */
int64_t cdc_floor_div(int64_t a, int64_t b);
/* The proleptic Gregorian date of a day number (days from 1970-01-01). */
void cdc_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* "YYYY-MM-DD" at *p → days since epoch; *p moves past it. */
int cdc_parse_date_part(const char **p, int64_t *days);
/* "HH:MM[:SS[.ffffff]]" at *p → µs since midnight; *p moves past it. */
int cdc_parse_time_part(const char **p, int64_t *us);

#endif
