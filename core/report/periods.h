/* report/periods.h — the configuration periods of a report (periods.c),
 * attached by report.c, which passes its one-period builder down. */
#ifndef NB_REPORT_PERIODS_H
#define NB_REPORT_PERIODS_H

#include "neonblue/report.h"

typedef int (*rp_build_fn)(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
			   nb_report *out, nb_err *err);

/* Loads e's periods into out; with more than one period that has users,
 * builds each period's report with build (its users, its weights). */
int rp_periods_attach(nb_ch *ch, const nb_an_experiment *e, const nb_report_opts *o,
		      rp_build_fn build, nb_report *out, nb_err *err);

#endif
