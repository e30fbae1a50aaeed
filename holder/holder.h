/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the exec interposer (preload.c) and the holder tasks (task.c) share:
 * one page at the bottom of the mapping that also holds the tasks' stacks.
 * The interposer fills it before the first clone; the tasks only read it,
 * except the intermediate task, which writes pidfd and holder_pid before it
 * exits.
 */
#ifndef RELIVE_HOLDER_H
#define RELIVE_HOLDER_H

#include <stdint.h>

#define HOLDER_MAX_OLD 128	/* threads of the old image remembered by TID */
#define HOLDER_NAME "relive-holder"

/* The holder's exit status: why it let the old address space go. */
enum holder_exit {
	HOLDER_RELEASED = 0, /* the new image runs its vCPUs: the guest has resumed */
	HOLDER_BOUND = 1,    /* the time bound passed first */
	HOLDER_GONE = 2,     /* the process exited */
};

typedef int (*holder_clone_fn)(int (*fn)(void *), void *stack, int flags, void *arg, ...);

struct holder_args {
	int pid;		  /* the process about to exec */
	int holder_pid;		  /* written by the intermediate task, 0 until then */
	int pidfd;		  /* the process's pidfd, in the tasks' descriptor table */
	int nold;
	int old_tids[HOLDER_MAX_OLD]; /* its other threads before the exec */
	uint64_t deadline_ns;	  /* CLOCK_MONOTONIC: the holder exits at the latest then */
	uint64_t poll_ns;	  /* between two looks at /proc/PID/task */
	holder_clone_fn clone_fn; /* libc's clone(), resolved before anything runs */
	void *holder_stack_top;
};

/* The intermediate task (see task.c); hidden, called through clone(). */
int holder_intermediate_main(void *arg) __attribute__((visibility("hidden")));

#endif
