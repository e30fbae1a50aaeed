/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keeping the observer off the CPU where the VMM does an update's work.
 * While the guest stands still the VMM's main thread works alone, and an
 * observer that wakes every few tens of microseconds on that thread's CPU
 * preempts it at each read: on a host that is itself a guest each of those
 * preemptions also costs the VMM its TLB, and the pause the observer
 * measures grows by its own doing (docs/bench.md, "The observer"). So while
 * a stall lasts the observer sleeps on another CPU. Depends on nothing else.
 */
#ifndef BENCH_STEER_H
#define BENCH_STEER_H

#include <sched.h>
#include <stdbool.h>
#include <sys/types.h>

struct steer {
	int statfd;	/* /proc/PID/stat of the VMM, or -1 */
	bool on;	/* may move: not pinned, and another CPU to go to */
	bool moved;	/* the affinity is narrowed */
	cpu_set_t all;	/* the affinity to go back to */
};

/* Steering for the calling thread; off when @pinned or with one CPU. */
void steer_init(struct steer *st, bool pinned);

/* Watches the main thread of @pid (again, after the VMM was replaced). */
void steer_watch(struct steer *st, pid_t pid);

/*
 * If the VMM's main thread last ran on the caller's CPU, moves the caller
 * to the others. Return: the CPU moved away from, or -1.
 */
int steer_away(struct steer *st);

/* Undoes steer_away(): the whole affinity again. */
void steer_back(struct steer *st);

void steer_close(struct steer *st);

/*
 * The CPU a task last ran on, from the text of its /proc/PID/stat (field
 * 39, counted after the command's closing parenthesis, which may itself
 * hold spaces and parentheses). Return: the CPU or -1.
 */
int steer_stat_cpu(const char *stat);

#endif
