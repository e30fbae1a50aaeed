// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench: dispatches `relive-bench SUBCOMMAND ...` to one function
 * per subcommand (one file each), and holds the helpers they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "relive/version.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Add a subcommand: one line here, one file with its function. */
static const struct subcommand subcommands[] = {
	{ "io", bench_io, "state writer bandwidth against fio and a 32 KiB pwrite loop" },
	{ "trampoline", bench_trampoline, "exec through relive-trampoline against a direct exec" },
	{ "cpr-exec", bench_cpr_exec, "rl_cpr_exec with and without the address-space holder" },
	{ "pause", bench_pause_main, "guest-visible pause of a VMM update, seen from outside" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: relive-bench SUBCOMMAND [OPTIONS]\n"
		   "       relive-bench SUBCOMMAND --help\n\nsubcommands:\n");
	for (i = 0; i < G_N_ELEMENTS(subcommands); i++)
		fprintf(f, "  %-12s %s\n", subcommands[i].name, subcommands[i].summary);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("relive-bench %s\n", rl_version());
		return 0;
	}
	for (i = 0; i < G_N_ELEMENTS(subcommands); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "relive-bench: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

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
