/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitors as a module. HMP, QMP, the chardevs under them and the
 * commands behind them (control.c) are built into relive-vm-monitors.so, the
 * one part of relive-vm that needs jansson. Linking it into the
 * binary would put its dynamic loading inside every cpr-exec update's
 * pause (docs/vm.md has what it costs). As a module they load before
 * the guest starts on every path but one: after a cpr-exec update they load
 * once the guest runs again, and a module that cannot load then hands the
 * guest back to the old binary (migrate.c).
 *
 * The two sides meet through two tables and nothing else: the module's
 * struct vm_monitors_ops (looked up by name once the file is open), and the
 * machine's struct vm_machine_ops (machine-ops.h), handed to the module by
 * @attach once its version is checked. relive-vm exports no symbols; the
 * module links its own copy of the librelive it needs.
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

/* Bumped whenever this structure or struct vm_machine_ops changes meaning. */
#define VM_MONITORS_ABI 3
#define VM_MONITORS_SYMBOL "relive_vm_monitors"
#define VM_MONITORS_FILE "relive-vm-monitors.so"

struct vm_monitors_ops {
	uint32_t abi;
	const char *version;	/* RELIVE_VERSION the module was built as */
	/* Called once, before anything else: the machine, for the module's life. */
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

/*
 * Before anything loads the module: @machine, the table it is handed, and
 * @rollback_fd, in a process that a rollback started the module the old
 * binary had loaded (loaded instead of any file), else -1.
 */
void monitors_init(const struct vm_machine_ops *machine, int rollback_fd);

/*
 * Loads the module (once): the rollback's (monitors_init()), else next to
 * this binary first, then from the directory relive-vm was installed to
 * load it from.
 * Return: TRUE with @monitors set, or FALSE with a message naming the file.
 */
gboolean monitors_load(GError **errp);

/* The open file the module was loaded from (an update hands it on), or -1. */
int monitors_module_fd(void);

/*
 * A QMP event from the machine side (@status: as in @event); nothing while
 * the module is not loaded. main() hands it to the machine (vm.event).
 */
void monitors_event(const char *name, const char *status);

#endif
