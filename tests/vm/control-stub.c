// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control.h stub the monitor tests link instead of the machine: canned
 * migration state, recorded calls, and the STOP/RESUME events the real
 * machine sends, so the monitors can be tested without a VM.
 */
#include <string.h>

#include "monitors/control.h"
#include "monitors/json.h"
#include "monitors/monitor.h"
#include "control-stub.h"
#include "vm-error.h"

GString *stub_log;
gboolean (*stub_migrate_hook)(const char *uri, json_t *channels, GError **errp);
void (*stub_quit_hook)(void);

static const char *runstate = "running";
static json_t *params;
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

static json_t *get_params(void)
{
	if (!params)
		params = json_pack("{s:s,s:[],s:i}", "mode", "normal",
				   "cpr-exec-command", "downtime-limit", 300);
	return params;
}

void stub_reset(void)
{
	if (stub_log)
		g_string_truncate(stub_log, 0);
	runstate = "running";
	ignore_shared = FALSE;
	json_decref(params);
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
		vm_error(errp, "Migration is not finalized yet");
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
		json_object_set_str(get_params(), "mode", value);
		return TRUE;
	}
	if (!strcmp(name, "downtime-limit")) {
		json_object_set_new(get_params(), name,
				    json_integer(g_ascii_strtoll(value, NULL, 10)));
		return TRUE;
	}
	vm_error(errp, "Invalid parameter '%s'", name);
	return FALSE;
}

gboolean control_migrate_set_parameters(json_t *args, GError **errp)
{
	const char *name;
	json_t *m;

	json_object_foreach(args, name, m) {
		if (!strcmp(name, "cpr-exec-command") && json_is_array(m)) {
			GString *s = g_string_new(NULL);
			size_t i;
			json_t *e;

			json_array_foreach(m, i, e)
				g_string_append_printf(s, "[%s]", json_str(e));
			record("set-parameters %s=%s", name, s->str);
			g_string_free(s, TRUE);
			json_object_set_new(get_params(), name, json_deep_copy(m));
		} else if (!strcmp(name, "mode") && json_is_string(m)) {
			record("set-parameters mode=%s", json_string_value(m));
			json_object_set_new(get_params(), name, json_deep_copy(m));
		} else {
			vm_error(errp, "Parameter '%s' is unexpected", name);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean control_migrate_set_capability(const char *name, gboolean on, GError **errp)
{
	record("set-capability %s=%s", name, on ? "on" : "off");
	if (strcmp(name, "x-ignore-shared")) {
		vm_error(errp, "Capability '%s' not found", name);
		return FALSE;
	}
	ignore_shared = on;
	return TRUE;
}

json_t *control_query_migrate(void)
{
	record("query-migrate");
	return json_loads("{\"status\": \"completed\", \"total-time\": 120, \"setup-time\": 2,"
			  " \"downtime\": 9, \"pause\": {\"stop-us\": 100, \"save-us\": 4000,"
			  " \"exec-us\": 3000, \"resume-us\": 1500}}", 0, NULL);
}

json_t *control_query_migrate_parameters(void)
{
	record("query-migrate-parameters");
	return json_incref(get_params());
}

json_t *control_query_migrate_capabilities(void)
{
	record("query-migrate-capabilities");
	return json_pack("[{s:s,s:b}]", "capability", "x-ignore-shared",
			 "state", ignore_shared);
}

gboolean control_migrate(const char *uri, json_t *channels, GError **errp)
{
	record("migrate uri=%s channels=%u", uri ? uri : "(null)",
	     (guint)json_array_size(channels));
	if (uri && g_str_has_prefix(uri, "tcp:")) {
		vm_error(errp, "cpr-exec mode requires a file: URI");
		return FALSE;
	}
	if (stub_migrate_hook)
		return stub_migrate_hook(uri, channels, errp);
	return TRUE;
}

gboolean control_migrate_incoming(const char *uri, json_t *channels, GError **errp)
{
	record("migrate-incoming uri=%s channels=%u", uri ? uri : "(null)",
	     (guint)json_array_size(channels));
	return TRUE;
}

gboolean control_migrate_cancel(GError **errp)
{
	record("migrate-cancel");
	return TRUE;
}
