// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitors' entry table (monitors.h) and their start: after a cpr-exec
 * update, once the guest runs again.
 */
#include <errno.h>

#include "failpoint.h"

#include "monitors/chardev.h"
#include "monitors/json.h"
#include "update/transfer.h"
#include "monitors/monitor.h"
#include "monitors/machine-ops.h"
#include "monitors/monitors.h"
#include "vm-error.h"

static void event(const char *name, const char *status)
{
	json_t *data = NULL;

	if (status) {
		data = json_object();
		json_object_set_str(data, "status", status);
	}
	monitor_event(name, data);
}

static const struct vm_monitors_ops table = {
	.attach = control_attach,
	.hmp_add = monitor_hmp_add,
	.qmp_add = monitor_qmp_add,
	.event = event,
	.flush_all = monitor_flush_all,
	.cpr_save = monitor_cpr_save,
	.cpr_restore = monitor_cpr_restore,
	.parse_channel = incoming_channel_json,
	.chardev_new = chardev_new,
	.chardev_write_all = chardev_write_all,
	.chardev_conn_take = chardev_conn_take,
	.chardev_files_append = chardev_files_append,
};

const struct vm_monitors_ops *monitors;
static const struct vm_machine_ops *machine;

void monitors_init(const struct vm_machine_ops *m)
{
	machine = m;
}

gboolean monitors_load(GError **errp)
{
	int err;

	if (monitors)
		return TRUE;
	err = RL_FAILPOINT("vm.monitors.load");
	if (err) {
		vm_error(errp, "cannot start the monitors: %s", g_strerror(-err));
		return FALSE;
	}
	table.attach(machine);
	monitors = &table;
	return TRUE;
}

void monitors_event(const char *name, const char *status)
{
	if (monitors)
		monitors->event(name, status);
}
