/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench: one function per subcommand, dispatched from main.c, and
 * the small things they share (sizes, medians, messages).
 */
#ifndef RELIVE_BENCH_H
#define RELIVE_BENCH_H

#include <glib.h>
#include <stdint.h>

#include "relive/size.h"

/* Subcommands: argv[0] is the subcommand's name. Return: the exit status. */
int bench_io(int argc, char **argv);
int bench_trampoline(int argc, char **argv);
int bench_cpr_exec(int argc, char **argv);
int bench_pause_main(int argc, char **argv);
int bench_restore(int argc, char **argv);
int bench_floor(int argc, char **argv);

/* Return: the median of @n values (sorts @v). */
double bench_median(double *v, unsigned n);
/* Print "relive-bench: PATH: strerror(-err)" on stderr. */
void bench_errno(const char *what, int err);

#endif
