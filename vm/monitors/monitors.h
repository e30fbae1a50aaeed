/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitors: HMP, QMP, the chardevs under them and the commands behind
 * them (control.c). They start before the guest does on every path but
 * one: after a cpr-exec update they start once the guest runs again, off
 * the pause, and if they cannot, the process hands the guest back to the
 * old binary (update.c).
 *
 * The rest of relive-vm reaches them through struct vm_monitors_ops, and
 * they reach the machine through struct vm_machine_ops (machine-ops.h),
 * handed to them when they start: neither side calls into the other
 * otherwise.
 */
#ifndef VM_MONITORS_H
#define VM_MONITORS_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "monitors/chardev.h"

struct incoming_spec;
struct rl_cpr_table;
struct vm_machine_ops;

struct vm_monitors_ops {
	/* Called once, before anything else: the machine, for the monitors' life. */
	void (*attach)(const struct vm_machine_ops *machine);

	/* -monitor SPEC and -qmp SPEC */
	gboolean (*hmp_add)(const char *spec, GError **errp);
	gboolean (*qmp_add)(const char *spec, GError **errp);
	/* A QMP event; @status non-NULL adds {"status": @status} (MIGRATION). */
	void (*event)(const char *name, const char *status);
	/* Writes every queued reply and event out before an exec or exit. */
	void (*flush_all)(void);
	/* The monitor and serial sockets across cpr-exec and cpr-transfer (monitor.h). */
	int (*cpr_save)(struct rl_cpr_table *table);
	int (*cpr_restore)(const struct rl_cpr_table *table);
	/* -incoming '{"channel-type": ..., "addr": {...}}' into @in. */
	gboolean (*parse_channel)(const char *arg, struct incoming_spec *in, GError **errp);
	/* The serial port's backend (chardev.h). */
	Chardev *(*chardev_new)(const char *id, const char *spec,
				const struct chardev_ops *ops, void *opaque,
				gboolean multi, GError **errp);
	void (*chardev_write_all)(Chardev *chr, const void *buf, size_t len);
	size_t (*chardev_conn_take)(ChardevConn *conn, void *buf, size_t max);
	/* A process started by an update: "file:" backends append (chardev.h). */
	void (*chardev_files_append)(void);
};

/* NULL until monitors_load() succeeded. */
extern const struct vm_monitors_ops *monitors;

/* Before anything starts the monitors: @machine, the table they are handed. */
void monitors_init(const struct vm_machine_ops *machine);

/*
 * Starts the monitors (once). Return: TRUE with @monitors set, or FALSE
 * with a message (only under fault injection).
 */
gboolean monitors_load(GError **errp);

/*
 * A QMP event from the machine side (@status: as in @event); nothing while
 * the monitors have not started. main() hands it to the machine (vm.event).
 */
void monitors_event(const char *name, const char *status);

#endif
