/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The observer: a separate process that maps guest RAM read-only and watches
 * every vCPU's heartbeat (a little-endian u64 at guest-physical
 * 0x1000 + 64 * i) in a tight CLOCK_MONOTONIC loop. It reports the longest
 * stall of each vCPU in a measurement window and the heartbeat rate in the
 * second before the stall and the second after it. Used by run.c and
 * update.c; knows nothing of scenarios or VMMs.
 */
#ifndef BENCH_OBSERVER_H
#define BENCH_OBSERVER_H

#include <gio/gio.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define OBS_MAX_VCPUS 16
#define OBS_HEARTBEAT_BASE 0x1000u
#define OBS_HEARTBEAT_STRIDE 64u

enum obs_source {
	OBS_SRC_MEMFD,	/* a memfd of the VMM, found in /proc/PID/fd by its size */
	OBS_SRC_PATH,	/* a file (memory-backend-file), opened by path */
	OBS_SRC_PROCMEM, /* private RAM: read through /proc/PID/mem */
};

struct obs_config {
	enum obs_source source;
	char path[256];		/* OBS_SRC_PATH */
	uint64_t ram_size;	/* to recognise the RAM memfd or mapping */
	unsigned vcpus;		/* heartbeats to watch */
	int cpu;		/* pin the observer to this CPU, or -1 */
	unsigned rate_window_ms; /* for the rates before and after; 1000 */
	unsigned sleep_us;	/* between two reads; 0: a tight loop */
};

struct obs_vcpu_result {
	uint64_t stall_ns;	 /* longest interval without an increment */
	uint64_t stall_start_ns; /* last increment before it (CLOCK_MONOTONIC) */
	uint64_t stall_end_ns;	 /* first increment after it */
	double rate_before;	 /* increments per second before stall_start */
	double rate_after;	 /* increments per second after stall_end */
	/*
	 * rate_before of the first update this observer watched: the guest's
	 * rate before any update disturbed it. The next update may start while
	 * the guest still recovers from the last one, so its rate_before can
	 * hide a slowdown that outlasts the time between two updates.
	 */
	double rate_base;
	/*
	 * From stall_end until the rate over OBS_RECOVER_WINDOW_MS is back to
	 * OBS_RECOVER_PERCENT of rate_base; OBS_NOT_RECOVERED when that did
	 * not happen within the rate window.
	 */
	uint64_t recover_ns;
};

#define OBS_RECOVER_WINDOW_MS 10
#define OBS_RECOVER_PERCENT 95
#define OBS_NOT_RECOVERED UINT64_MAX

struct obs_result {
	unsigned vcpus;
	struct obs_vcpu_result v[OBS_MAX_VCPUS];
	uint64_t pause_ns; /* the longest stall of any vCPU */
	/*
	 * The longest interval in which no vCPU moved: the whole guest stood
	 * still. With one vCPU it is pause_ns. With more busy vCPUs than host
	 * CPUs, each vCPU also waits for a CPU all the time, update or not, and
	 * pause_ns measures the host's scheduler; this measures the update.
	 */
	uint64_t vm_stall_ns;
};

struct observer;

/* Forks the observer. It watches nothing until observer_attach(). */
struct observer *observer_start(const struct obs_config *cfg, GError **errp);

/*
 * Points the observer at the guest RAM of @pid (again, after a VMM was
 * replaced by a new process) and waits until every heartbeat has moved.
 * Keeps the stall that is running across the switch.
 */
gboolean observer_attach(struct observer *o, pid_t pid, int timeout_ms, GError **errp);

/* Opens the measurement window: stalls that end from now on count. */
gboolean observer_arm(struct observer *o, GError **errp);

/*
 * Closes the window: the bench saw the VM resumed at @resumed_ns. Waits for
 * an increment of every vCPU after that, then for the rate window, and
 * fills @res.
 */
gboolean observer_finish(struct observer *o, uint64_t resumed_ns, int timeout_ms,
			 struct obs_result *res, GError **errp);

void observer_stop(struct observer *o);

/*
 * While @quiet, the observer reads once a millisecond: for work the bench
 * times between updates (the floor), which the observer's reads would slow.
 */
void observer_quiet(struct observer *o, bool quiet);

/* The observer's pid (for a signal handler), or -1. */
pid_t observer_pid(const struct observer *o);

#endif
