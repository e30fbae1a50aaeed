// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control.h stub the monitor tests link instead of the machine: canned
 * migration state, recorded calls, and the STOP/RESUME events the real
 * machine sends, so the monitors can be tested without a VM.
 */
#include <string.h>

#include "monitors/control.h"
#include "monitors/monitor.h"
#include "control-stub.h"

GString *stub_log;
gboolean (*stub_migrate_hook)(const char *uri, JsonArray *channels, GError **errp);
void (*stub_quit_hook)(void);

static const char *runstate = "running";
static JsonObject *params;
static gboolean ignore_shared;

static void record(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void record(const char *fmt, ...)
{
	va_list ap;

	if (!stub_log)
		stub_log = g_string_new(NULL);
	va_start(ap, fmt);
	g_string_append_vprintf(stub_log, fmt, ap);
	va_end(ap);
	g_string_append_c(stub_log, '\n');
}

static JsonObject *get_params(void)
{
	if (!params) {
		params = json_object_new();
		json_object_set_string_member(params, "mode", "normal");
		json_object_set_array_member(params, "cpr-exec-command", json_array_new());
		json_object_set_int_member(params, "downtime-limit", 300);
	}
	return params;
}

void stub_reset(void)
{
	if (stub_log)
		g_string_truncate(stub_log, 0);
	runstate = "running";
	ignore_shared = FALSE;
	if (params)
		json_object_unref(params);
	params = NULL;
}

void stub_set_runstate(const char *state)
{
	runstate = g_intern_string(state);
}

const char *control_runstate(void)
{
	return runstate;
}

gboolean control_running(void)
{
	return !strcmp(runstate, "running");
}

gboolean control_stop(GError **errp)
{
	record("stop");
	if (control_running()) {
		runstate = "paused";
		monitor_event("STOP", NULL);
	}
	return TRUE;
}

gboolean control_cont(GError **errp)
{
	record("cont");
	if (!strcmp(runstate, "inmigrate")) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "Migration is not finalized yet");
		return FALSE;
	}
	if (!control_running()) {
		runstate = "running";
		monitor_event("RESUME", NULL);
	}
	return TRUE;
}

void control_quit(void)
{
	record("quit");
	if (stub_quit_hook)
		stub_quit_hook();
}

gboolean control_migrate_set_parameter(const char *name, const char *value,
				       GError **errp)
{
	record("set-parameter %s=%s", name, value);
	if (!strcmp(name, "mode")) {
		json_object_set_string_member(get_params(), "mode", value);
		return TRUE;
	}
	if (!strcmp(name, "downtime-limit")) {
		json_object_set_int_member(get_params(), name, g_ascii_strtoll(value, NULL, 10));
		return TRUE;
	}
	g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "Invalid parameter '%s'", name);
	return FALSE;
}

gboolean control_migrate_set_parameters(JsonObject *args, GError **errp)
{
	JsonObjectIter it;
	const char *name;
	JsonNode *m;

	json_object_iter_init_ordered(&it, args);
	while (json_object_iter_next_ordered(&it, &name, &m)) {
		if (!strcmp(name, "cpr-exec-command") && JSON_NODE_HOLDS_ARRAY(m)) {
			JsonArray *a = json_node_get_array(m);
			GString *s = g_string_new(NULL);

			for (guint i = 0; i < json_array_get_length(a); i++)
				g_string_append_printf(s, "[%s]",
						       json_array_get_string_element(a, i));
			record("set-parameters %s=%s", name, s->str);
			g_string_free(s, TRUE);
			json_object_set_member(get_params(), name, json_node_copy(m));
		} else if (!strcmp(name, "mode") && JSON_NODE_HOLDS_VALUE(m) &&
			   json_node_get_value_type(m) == G_TYPE_STRING) {
			record("set-parameters mode=%s", json_node_get_string(m));
			json_object_set_member(get_params(), name, json_node_copy(m));
		} else {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "Parameter '%s' is unexpected", name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean control_migrate_set_capability(const char *name, gboolean on, GError **errp)
{
	record("set-capability %s=%s", name, on ? "on" : "off");
	if (strcmp(name, "x-ignore-shared")) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "Capability '%s' not found", name);
		return FALSE;
	}
	ignore_shared = on;
	return TRUE;
}

JsonNode *control_query_migrate(void)
{
	g_autoptr(JsonParser) p = json_parser_new();

	record("query-migrate");
	json_parser_load_from_data(p,
		"{\"status\": \"completed\", \"total-time\": 120, \"setup-time\": 2,"
		" \"downtime\": 9, \"pause\": {\"stop-us\": 100, \"save-us\": 4000,"
		" \"exec-us\": 3000, \"resume-us\": 1500}}", -1, NULL);
	return json_node_copy(json_parser_get_root(p));
}

JsonNode *control_query_migrate_parameters(void)
{
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);

	record("query-migrate-parameters");
	json_node_set_object(n, get_params());
	return n;
}

JsonNode *control_query_migrate_capabilities(void)
{
	JsonArray *a = json_array_new();
	JsonObject *o = json_object_new();
	JsonNode *n = json_node_new(JSON_NODE_ARRAY);

	record("query-migrate-capabilities");
	json_object_set_string_member(o, "capability", "x-ignore-shared");
	json_object_set_boolean_member(o, "state", ignore_shared);
	json_array_add_object_element(a, o);
	json_node_take_array(n, a);
	return n;
}

gboolean control_migrate(const char *uri, JsonArray *channels, GError **errp)
{
	record("migrate uri=%s channels=%u", uri ? uri : "(null)",
	     channels ? json_array_get_length(channels) : 0);
	if (uri && g_str_has_prefix(uri, "tcp:")) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
			    "cpr-exec mode requires a file: URI");
		return FALSE;
	}
	if (stub_migrate_hook)
		return stub_migrate_hook(uri, channels, errp);
	return TRUE;
}

gboolean control_migrate_incoming(const char *uri, JsonArray *channels, GError **errp)
{
	record("migrate-incoming uri=%s channels=%u", uri ? uri : "(null)",
	     channels ? json_array_get_length(channels) : 0);
	return TRUE;
}

gboolean control_migrate_cancel(GError **errp)
{
	record("migrate-cancel");
	return TRUE;
}
