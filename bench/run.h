/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench pause, running the scenarios: for each, a VMM, an observer
 * and N updates (update.c), leaving the samples, or why there are none,
 * in the scenario. Used by pause.c; reads scenario.h; never prints a
 * report.
 */
#ifndef BENCH_RUN_H
#define BENCH_RUN_H

#include "scenario.h"

/*
 * Runs every scenario of @o in order, with a progress line on stderr.
 * An interrupt kills the VMM and the observer and removes the scenario's
 * files before the bench exits.
 */
void run_scenarios(const struct pause_opts *o);

#endif
