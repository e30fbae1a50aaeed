/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench pause, the results: the table on stdout, the JSON file with
 * every sample (report.c), and the plot (plot.c). Used by pause.c; reads
 * only scenario.h: a report never runs anything.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <gio/gio.h>
#include <glib.h>
#include <stdio.h>

#include "scenario.h"

void report_table(FILE *out, const struct pause_opts *o);
gboolean report_json(const struct pause_opts *o, const char *path, GError **errp);
/*
 * Writes pause.dat and pause.gp into @dir and runs gnuplot there for
 * pause.svg. Return: TRUE if the plot was written; FALSE with @errp set
 * otherwise.
 */
gboolean report_plot(const struct pause_opts *o, const char *dir, GError **errp);

#endif
