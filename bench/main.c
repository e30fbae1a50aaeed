// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench: dispatches `relive-bench SUBCOMMAND ...` to one function
 * per subcommand (one file each); helpers.c holds what they share.
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
	{ "restore", bench_restore, "restore of a normal-mode state file against fio reading it" },
	{ "floor", bench_floor, "the floor of a cpr-exec update: execs, VM, slots, vCPUs" },
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
