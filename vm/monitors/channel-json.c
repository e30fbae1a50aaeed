// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -incoming given as QEMU's MigrationChannel in JSON. Part of the monitors,
 * where the JSON is; relive-vm reaches it as monitors->parse_channel.
 */
#include <string.h>
#include <json-glib/json-glib.h>

#include "update/transfer.h"
#include "vm-error.h"

/* QEMU's MigrationChannel as JSON: {"channel-type": ..., "addr": {...}}. */
gboolean incoming_channel_json(const char *arg, struct incoming_spec *in, GError **errp)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) je = NULL;
	JsonObject *o, *addr;
	JsonNode *root;
	const char *type, *transport, *stype;

	if (!json_parser_load_from_data(p, arg, -1, &je)) {
		vm_error(errp, "-incoming %s: not JSON: %s", arg, je->message);
		return FALSE;
	}
	root = json_parser_get_root(p);
	o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	type = o ? json_object_get_string_member_with_default(o, "channel-type", NULL) : NULL;
	addr = o && json_object_has_member(o, "addr") &&
	       JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "addr")) ?
	       json_object_get_object_member(o, "addr") : NULL;
	if (!type || !addr) {
		vm_error(errp, "-incoming %s: expected {\"channel-type\": \"main\"|\"cpr\", \"addr\": {...}}",
			 arg);
		return FALSE;
	}
	transport = json_object_get_string_member_with_default(addr, "transport", "");
	stype = json_object_get_string_member_with_default(addr, "type", "");
	if (!strcmp(type, "cpr")) {
		if (strcmp(transport, "socket") || strcmp(stype, "unix") ||
		    !json_object_has_member(addr, "path")) {
			vm_error(errp, "-incoming %s: the cpr channel must be a unix socket (\"transport\": \"socket\", \"type\": \"unix\", \"path\": ...)",
				 arg);
			return FALSE;
		}
		g_free(in->cpr_path);
		in->cpr_path = g_strdup(json_object_get_string_member(addr, "path"));
		return TRUE;
	}
	if (strcmp(type, "main")) {
		vm_error(errp, "-incoming %s: unknown channel-type '%s' (main, cpr)", arg, type);
		return FALSE;
	}
	if (!strcmp(transport, "file") && json_object_has_member(addr, "filename")) {
		in->file = g_strdup(json_object_get_string_member(addr, "filename"));
		return TRUE;
	}
	if (!strcmp(transport, "socket") && !strcmp(stype, "unix") &&
	    json_object_has_member(addr, "path")) {
		in->unix_path = g_strdup(json_object_get_string_member(addr, "path"));
		return TRUE;
	}
	vm_error(errp, "-incoming %s: relive-vm's main channel is a file or a unix socket", arg);
	return FALSE;
}
