// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench: one binary, one subcommand per measurement.
 */
#include <stdio.h>
#include <string.h>

#include "pause.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: relive-bench COMMAND [OPTIONS]\n\n"
		"commands:\n"
		"  pause    guest-visible pause of a VMM update, seen from outside\n\n"
		"relive-bench COMMAND --help shows the options of COMMAND.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "pause"))
		return bench_pause_main(argc - 1, argv + 1);
	fprintf(stderr, "relive-bench: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
