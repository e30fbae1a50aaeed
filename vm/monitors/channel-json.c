// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -incoming given as QEMU's MigrationChannel in JSON. Part of the monitors,
 * where the JSON is; relive-vm reaches it as monitors->parse_channel.
 */
#include <string.h>

#include "monitors/json.h"
#include "update/transfer.h"
#include "vm-error.h"

/* QEMU's MigrationChannel as JSON: {"channel-type": ..., "addr": {...}}. */
gboolean incoming_channel_json(const char *arg, struct incoming_spec *in, GError **errp)
{
	g_autoptr(json_t) root = NULL;
	json_error_t je;
	json_t *addr;
	const char *type, *transport, *stype, *path, *filename;

	root = json_loads(arg, MONITOR_JSON_DECODE, &je);
	if (!root) {
		vm_error(errp, "-incoming %s: not JSON: %s", arg, je.text);
		return FALSE;
	}
	type = json_object_string_or(root, "channel-type", NULL);
	addr = json_object_get(root, "addr");
	if (!type || !json_is_object(addr)) {
		vm_error(errp, "-incoming %s: expected {\"channel-type\": \"main\"|\"cpr\", \"addr\": {...}}",
			 arg);
		return FALSE;
	}
	/* a member of another type is as good as missing */
	transport = json_object_string_or(addr, "transport", "");
	stype = json_object_string_or(addr, "type", "");
	path = json_object_string_or(addr, "path", NULL);
	filename = json_object_string_or(addr, "filename", NULL);
	if (!strcmp(type, "cpr")) {
		if (strcmp(transport, "socket") || strcmp(stype, "unix") || !path) {
			vm_error(errp, "-incoming %s: the cpr channel must be a unix socket (\"transport\": \"socket\", \"type\": \"unix\", \"path\": ...)",
				 arg);
			return FALSE;
		}
		g_free(in->cpr_path);
		in->cpr_path = g_strdup(path);
		return TRUE;
	}
	if (strcmp(type, "main")) {
		vm_error(errp, "-incoming %s: unknown channel-type '%s' (main, cpr)", arg, type);
		return FALSE;
	}
	if (!strcmp(transport, "file") && filename) {
		in->file = g_strdup(filename);
		return TRUE;
	}
	if (!strcmp(transport, "socket") && !strcmp(stype, "unix") && path) {
		in->unix_path = g_strdup(path);
		return TRUE;
	}
	vm_error(errp, "-incoming %s: relive-vm's main channel is a file or a unix socket", arg);
	return FALSE;
}
