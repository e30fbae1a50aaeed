// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What both monitors share at the process level: writing every queued reply
 * and event out before an exec, and handing every chardev (monitor sockets,
 * their clients with flags and unprocessed bytes, the serial port) across it
 * through librelive's CPR fd table.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "relive/cpr.h"

#include "monitors/monitor.h"
#include "monitors/monitor-int.h"
#include "vm-error.h"

/*
 * The state memfd registered by monitor_cpr_save(), from then until the exec
 * (the main loop does not run in between); closed again if the exec failed.
 */
static int saved_state_fd = -1;

/*
 * Outside an update: wait (bounded) until the peers have everything, so a
 * quit does not cut replies off. Inside one (between monitor_cpr_save() and
 * the exec, with the guest paused): never wait for a peer. What it does not
 * take now goes into the state and the new binary sends it; the state is
 * rewritten here so that nothing is sent twice and nothing queued since the
 * save (events) is lost.
 */
void monitor_flush_all(void)
{
	g_autoptr(GError) err = NULL;

	if (saved_state_fd < 0) {
		chardev_flush_all(MONITOR_FLUSH_TIMEOUT_MS);
		return;
	}
	chardev_flush_all(0);
	if (!chardev_cpr_rewrite(saved_state_fd, &err))
		g_warning("%s", err->message);
}

/* Runs only if the exec failed and the main loop came back. */
static gboolean cpr_save_abandoned(gpointer unused)
{
	if (saved_state_fd >= 0)
		close(saved_state_fd);
	saved_state_fd = -1;
	return G_SOURCE_REMOVE;
}

/*
 * monitor_cpr_save - @table is the struct rl_cpr_state the exec will carry.
 * Registers every chardev fd and the chardev state memfd (which owns the
 * per-connection flags and queued bytes) under their names; the table only
 * borrows them. Call monitor_flush_all() last thing before the exec: it
 * brings the state up to date. Return: 0 or -errno (-ENOSPC: table full).
 */
int monitor_cpr_save(struct rl_cpr_table *table)
{
	struct rl_cpr_state *s = (struct rl_cpr_state *)table;
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct chardev_cpr_fd));
	g_autoptr(GError) err = NULL;
	int mfd;

	/* What peers do not take now goes into the state: no waiting in the pause. */
	chardev_flush_all(0);
	if (saved_state_fd >= 0) {
		rl_cpr_del_fd(s, "chardev-state", 0);
		close(saved_state_fd);
		saved_state_fd = -1;
	}
	mfd = chardev_cpr_export(fds, &err);
	if (mfd < 0) {
		g_warning("%s", err->message);
		return g_error_matches(err, VM_ERROR, VM_ERROR_TOO_LARGE) ?
		       -EMSGSIZE : -EIO;
	}
	saved_state_fd = mfd;
	g_idle_add(cpr_save_abandoned, NULL);
	for (guint i = 0; i < fds->len; i++) {
		struct chardev_cpr_fd *f = &g_array_index(fds, struct chardev_cpr_fd, i);
		int ret;

		/* A second save into the same table (exec failed, retried) replaces. */
		rl_cpr_del_fd(s, f->name, f->id);
		ret = rl_cpr_add_fd(s, f->name, f->id, f->fd);
		if (ret < 0) {
			g_warning("CPR fd table: %s %d (fd %d): %s", f->name, f->id,
				  f->fd, g_strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int table_lookup(const char *name, int id, void *opaque)
{
	struct rl_error err = { 0 };
	int fd = rl_cpr_verify_fd(opaque, name, id, &err);

	if (fd == -ESTALE || fd == -EBADF)
		g_warning("CPR fd %s %d: %s", name, id,
			  err.msg[0] ? err.msg : g_strerror(-fd));
	return fd < 0 ? -1 : fd;
}

/*
 * monitor_cpr_restore - in the new process, before monitor_*_add and the
 * serial port: take over what monitor_cpr_save() registered. Each fd is
 * verified against the table (same file) before it is adopted.
 * Return: 0 (also when the table has no chardevs), or -EIO with a warning
 * naming the fd that is wrong.
 */
int monitor_cpr_restore(const struct rl_cpr_table *table)
{
	g_autoptr(GError) err = NULL;

	if (!chardev_cpr_import(table_lookup, (void *)table, &err)) {
		g_warning("%s", err->message);
		return -EIO;
	}
	return 0;
}

gboolean monitor_chardev_add(GPtrArray **list, const char *kind, const char *opt,
			     const char *spec, const struct chardev_ops *ops,
			     GError **errp)
{
	g_autofree char *id = NULL;
	Chardev *chr;

	if (!*list)
		*list = g_ptr_array_new();
	id = g_strdup_printf("%s%u", kind, (*list)->len);
	chr = chardev_new(id, spec, ops, NULL, TRUE, errp);
	if (!chr) {
		g_prefix_error(errp, "%s %s: ", opt, spec);
		return FALSE;
	}
	g_ptr_array_add(*list, chr);
	return TRUE;
}
