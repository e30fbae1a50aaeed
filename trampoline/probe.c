// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-exec-probe: a static exec target for the benchmarks. Writes to
 * stdout the CLOCK_MONOTONIC ns at its entry and the RELIVE_TRAMPOLINE_T it
 * was given ("-" when none), one line, and exits 0. Built like the
 * trampoline so that both sides of a comparison exec the same kind of binary.
 */
#include "lib.h"
#include "relive/cpr.h"
#include "sys.h"

int tramp_main(int argc, char **argv, char **envp)
{
	uint64_t entry = t_now();
	const char *t = t_getenv(envp, RL_CPR_TRAMPOLINE_ENV);
	char num[22];

	t_err(t_u64(num, entry));
	t_err(" ");
	t_err(t ? t : "-");
	t_err("\n");
	t_flush_fd(1);
	return 0;
}
