// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The entry table of relive-vm-monitors.so (monitors.h): what relive-vm
 * looks up after dlopen().
 */
#include "monitors/chardev.h"
#include "monitors/json.h"
#include "update/transfer.h"
#include "monitors/monitor.h"
#include "monitors/machine-ops.h"
#include "monitors/monitors.h"
#include "relive/version.h"

static void event(const char *name, const char *status)
{
	json_t *data = NULL;

	if (status) {
		data = json_object();
		json_object_set_str(data, "status", status);
	}
	monitor_event(name, data);
}

const struct vm_monitors_ops relive_vm_monitors = {
	.abi = VM_MONITORS_ABI,
	.version = RELIVE_VERSION,
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
