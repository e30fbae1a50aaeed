/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Timing one exec from the outside, shared by `relive-bench trampoline`,
 * `cpr-exec` and `floor`: a forked child notes the time and execs; the
 * static probe (trampoline/probe.c) at the end writes its entry time and
 * the trampoline's timestamps back through a pipe.
 */
#ifndef BENCH_EXEC_TIMING_H
#define BENCH_EXEC_TIMING_H

#include "relive/cpr.h"

struct timed {
	double total_ns; /* before the exec -> the probe's entry */
	double tramp_ns; /* inside the trampoline (exec - entry), 0 without it */
	double to_tramp_ns; /* before the exec -> the trampoline's entry, 0 without it */
};

/* Finds a sibling build output or an installed program. Return: a new string or NULL. */
char *find_tool(const char *subdir, const char *name);

/*
 * Forks; the child runs @prep(@arg), notes the time and execs @argv
 * (through rl_cpr_exec() when @cpr) with @envp, or our environment when
 * NULL. Return: 0 with @out filled, or a
 * negative errno (-EIO: the child or the probe failed).
 */
int timed_exec(char *const argv[], char *const envp[], struct rl_cpr_state *cpr,
	       const struct rl_cpr_exec_opts *opts, int (*prep)(void *), void *arg,
	       struct timed *out);

/*
 * A CPR state of @nfds preserved fds (memfds and sockets, as a VMM's would
 * be) in a memfd whose number is put in RL_CPR_ENV, for relive-trampoline
 * to check. Return: 0 with *@stp and *@sfdp set, or a negative errno.
 * exec_timing_state_free() undoes it.
 */
int exec_timing_state(int nfds, struct rl_cpr_state **stp, int *sfdp);
void exec_timing_state_free(struct rl_cpr_state *st, int sfd);

#endif
