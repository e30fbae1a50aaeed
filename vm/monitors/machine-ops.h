/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine as the monitors see it: the one table relive-vm hands them
 * when they start (monitors.h), and their only way to the machine.
 * Everything here runs on the main loop thread; errors are GError with a
 * message a person can act on.
 */
#ifndef VM_MONITORS_MACHINE_OPS_H
#define VM_MONITORS_MACHINE_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "relive/migrate.h"

/* The pause of the last update, in CLOCK_MONOTONIC nanoseconds; 0: unknown. */
struct pause_times {
	uint64_t stop;		/* the stop was asked for */
	uint64_t stopped;	/* every vCPU parked */
	uint64_t written;	/* state committed */
	uint64_t tramp_entry;	/* trampoline main */
	uint64_t tramp_exec;	/* trampoline execs the new binary */
	uint64_t main;		/* new process main() */
	/* the new process's setup, in this order; each one after main */
	uint64_t setup;		/* options, CPR state and -incoming read */
	uint64_t ram_mapped;	/* guest RAM mapped (adopted memfds) */
	uint64_t vm_created;	/* KVM VM created (or the thread accel chosen) */
	uint64_t slots;		/* memory slots set */
	uint64_t vcpus;		/* vCPUs and their threads created */
	uint64_t loaded;	/* state loaded and applied */
	uint64_t resumed;	/* vCPUs running again */
};

/* query-migrate's facts. @error_desc is the machine's: valid until the next call. */
struct vm_migration_info {
	enum rl_mig_status status;
	const char *error_desc;
	struct pause_times t;
	uint64_t state_size;	/* bytes of the last stream written or read */
};

/* One state-blob device (query-migrate's relive-devices). */
struct vm_blob_info {
	const char *id;
	uint64_t size;
	uint64_t loads;
};

struct vm_machine_ops {
	/* run state */
	enum rl_run_state (*run_state)(void);
	gboolean (*stop)(GError **errp);
	gboolean (*cont)(GError **errp);
	void (*quit)(void);	/* leaves the main loop */

	/* migration state */
	void (*migration_info)(struct vm_migration_info *info);
	unsigned (*blob_count)(void);
	void (*blob_info)(unsigned i, struct vm_blob_info *b);

	/* this process's migration parameters and capabilities */
	const struct rl_mig_params *(*params)(void);
	void (*set_mode)(enum rl_mig_mode mode);
	int (*set_exec_command)(const char *const *argv);	/* 0 or -ENOMEM */
	void (*set_capability)(enum rl_mig_cap cap, gboolean on);
	gboolean (*writer_fallback)(void);
	void (*set_writer_fallback)(gboolean on);

	/*
	 * migrate, in two steps so that the monitors can check their own
	 * arguments in between: @uri against the blockers and the mode
	 * (file:, or unix: in cpr-transfer), then the start with the path
	 * parsed and, for cpr-transfer, the cpr channel's socket path.
	 */
	gboolean (*migrate_check)(const char *uri, struct rl_mig_uri *parsed, GError **errp);
	gboolean (*migrate_start)(const char *path, const char *cpr_path, GError **errp);
	/* TRUE if a migration was scheduled and not started yet (now cancelled) */
	gboolean (*migrate_cancel)(void);
	/* -incoming defer: TRUE while the machine waits for migrate-incoming */
	gboolean (*incoming_pending)(void);
	gboolean (*migrate_incoming)(const char *path, GError **errp);
};

/* In the monitors (control.c): the table their commands go through. */
void control_attach(const struct vm_machine_ops *machine);

/* In relive-vm (vm/machine-ops.c): the table it hands the monitors. */
extern const struct vm_machine_ops machine_ops;

#endif
