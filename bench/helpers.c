// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench: the small things the subcommands share (medians,
 * messages), declared in bench.h; sizes are librelive's rl_size_parse()
 * and rl_size_format(). Depends on nothing else of the bench.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_errno(const char *what, int err)
{
	fprintf(stderr, "relive-bench: %s: %s\n", what, g_strerror(err < 0 ? -err : err));
}
