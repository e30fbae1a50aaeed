// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench: the small things the subcommands share (sizes, medians,
 * messages), declared in bench.h. Depends on nothing else of the bench.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

gboolean bench_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return FALSE;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || (shift && v > (~0ull >> shift)))
		return FALSE;
	*out = (uint64_t)v << shift;
	return TRUE;
}

const char *bench_size_str(uint64_t bytes, char *buf)
{
	static const char units[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		uint64_t u = 1ull << (10 * (i + 1));

		if (bytes >= u && bytes % u == 0) {
			snprintf(buf, 32, "%llu%c", (unsigned long long)(bytes / u), units[i]);
			return buf;
		}
	}
	snprintf(buf, 32, "%llu", (unsigned long long)bytes);
	return buf;
}

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
