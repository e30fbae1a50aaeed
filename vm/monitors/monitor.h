/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitors: HMP (human) and QMP (JSON) servers on chardevs, and QMP
 * events. Implemented by hmp.c, qmp.c and monitor.c; the machine side calls
 * these.
 */
#ifndef VM_MONITOR_H
#define VM_MONITOR_H

#include <glib.h>
#include <jansson.h>

struct rl_cpr_table;

/* -monitor SPEC and -qmp SPEC: "stdio" or "unix:PATH,server,nowait" (and server=on,wait=off). */
gboolean monitor_hmp_add(const char *spec, GError **errp);
gboolean monitor_qmp_add(const char *spec, GError **errp);

/*
 * Broadcasts a QMP event to every QMP client past the capabilities
 * handshake, with QEMU's timestamp. Takes ownership of @data (may be NULL).
 */
void monitor_event(const char *name, json_t *data);

/* Writes every queued reply and event out before an exec. */
void monitor_flush_all(void);

/*
 * cpr-exec and cpr-transfer: register the listening sockets and every
 * connected client in @table so they survive the update; in the new process,
 * adopt them back instead of creating new ones (called before
 * monitor_*_add, which then skip what was adopted).
 * @table is librelive's struct rl_cpr_state (include/relive/cpr.h), passed as
 * this opaque type. Every chardev goes across (the serial port too), with
 * each client's handshake state and its unprocessed input and unsent output.
 * Return: 0 or -errno.
 */
int monitor_cpr_save(struct rl_cpr_table *table);
int monitor_cpr_restore(const struct rl_cpr_table *table);

#endif
