/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench as the reaper of its descendants' orphans: a process a VMM
 * leaves behind across its update (the address-space holder that QEMU's
 * LD_PRELOAD module makes) comes to the bench instead of to PID 1, which in a container may
 * never reap it, and the bench reaps it. Depends on nothing else.
 */
#ifndef BENCH_REAPER_H
#define BENCH_REAPER_H

#include <stddef.h>
#include <sys/types.h>

/* Makes the calling process a child subreaper. Return: 0 or a negative errno. */
int reaper_become(void);

/*
 * Reaps every child that has exited, except @keep (the bench's own
 * children, reaped where they are managed), without waiting.
 * Return: how many were reaped.
 */
unsigned reaper_reap_adopted(const pid_t *keep, size_t n_keep);

/*
 * Waits up to @timeout_ms for every remaining child to exit, reaping it.
 * Only once the bench has reaped its own children.
 * Return: how many children are still running at the end.
 */
unsigned reaper_drain(unsigned timeout_ms);

#endif
