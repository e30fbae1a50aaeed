// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * control.h for the monitors: run state, stop/cont/quit, migration
 * parameters and capabilities (a process's own, QEMU's defaults at start),
 * migrate with its blockers checked before anything stops, migrate-incoming
 * for -incoming defer, and the query-* answers with relive's pause breakdown.
 * The JSON is here; the machine is reached through the table relive-vm
 * handed the monitors (machine-ops.h), and through nothing else.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "monitors/control.h"
#include "monitors/json.h"
#include "monitors/machine-ops.h"
#include "monitors/monitor.h"
#include "vm-error.h"

static const struct vm_machine_ops *m;
static int64_t downtime_limit = 300;

void control_attach(const struct vm_machine_ops *machine)
{
	m = machine;
}

const char *control_runstate(void)
{
	return rl_run_state_name(m->run_state());
}

gboolean control_running(void)
{
	return rl_run_state_is_running(m->run_state());
}

gboolean control_stop(GError **errp)
{
	return m->stop(errp);
}

gboolean control_cont(GError **errp)
{
	return m->cont(errp);
}

static gboolean quit_idle(gpointer opaque)
{
	monitor_flush_all();
	m->quit();
	return G_SOURCE_REMOVE;
}

void control_quit(void)
{
	g_idle_add(quit_idle, NULL);
}

static gboolean idle_or_error(GError **errp)
{
	struct vm_migration_info info;

	m->migration_info(&info);
	if (!rl_mig_status_is_idle(info.status)) {
		vm_error(errp, "There's a migration process in progress");
		return FALSE;
	}
	return TRUE;
}

static gboolean set_mode(const char *v, GError **errp)
{
	enum rl_mig_mode mode;

	if (rl_mig_mode_parse(v, &mode) < 0) {
		vm_error(errp, "Parameter 'mode' does not accept value '%s' (normal, cpr-reboot, cpr-transfer, cpr-exec)",
			 v);
		return FALSE;
	}
	m->set_mode(mode);
	return TRUE;
}

/*
 * x-state-writer: io_uring (default) or fallback (pwritev), so the two
 * writers can be compared on the same VM. Belongs to this process only.
 */
static gboolean set_state_writer(const char *v, GError **errp)
{
	if (v && !strcmp(v, "io_uring")) {
		m->set_writer_fallback(FALSE);
		return TRUE;
	}
	if (v && !strcmp(v, "fallback")) {
		m->set_writer_fallback(TRUE);
		return TRUE;
	}
	vm_error(errp, "Parameter 'x-state-writer' expects io_uring or fallback");
	return FALSE;
}

static gboolean set_command(const char *const *argv, GError **errp)
{
	if (m->set_exec_command(argv) < 0) {
		vm_error(errp, "cpr-exec-command: out of memory");
		return FALSE;
	}
	return TRUE;
}

gboolean control_migrate_set_parameter(const char *name, const char *value,
				       GError **errp)
{
	if (!idle_or_error(errp))
		return FALSE;
	if (!strcmp(name, "mode"))
		return set_mode(value, errp);
	if (!strcmp(name, "cpr-exec-command")) {
		g_auto(GStrv) words = g_strsplit_set(value ? value : "", " \t", -1);
		g_autoptr(GPtrArray) argv = g_ptr_array_new();

		for (int i = 0; words[i]; i++)
			if (*words[i])
				g_ptr_array_add(argv, words[i]);
		g_ptr_array_add(argv, NULL);
		return set_command((const char *const *)argv->pdata, errp);
	}
	if (!strcmp(name, "x-state-writer"))
		return set_state_writer(value, errp);
	if (!strcmp(name, "downtime-limit")) {
		char *end;
		gint64 v = g_ascii_strtoll(value ? value : "", &end, 10);

		if (!value || !*value || *end || v < 0) {
			vm_error(errp, "Parameter 'downtime-limit' expects a number of milliseconds");
			return FALSE;
		}
		downtime_limit = v;
		return TRUE;
	}
	vm_error(errp, "Parameter '%s' is unexpected (relive-vm has mode, cpr-exec-command, downtime-limit, x-state-writer)",
		 name);
	return FALSE;
}

static gboolean strings_only(json_t *a)
{
	size_t i;
	json_t *e;

	json_array_foreach(a, i, e)
		if (!json_is_string(e))
			return FALSE;
	return TRUE;
}

/* One member of migrate-set-parameters' arguments, checked. */
static gboolean check_parameter(const char *key, json_t *n, GError **errp)
{
	enum rl_mig_mode mode;
	const char *v = json_str(n);

	if (!strcmp(key, "mode")) {
		if (v && rl_mig_mode_parse(v, &mode) == 0)
			return TRUE;
		vm_error(errp, "Parameter 'mode' expects one of normal, cpr-reboot, cpr-transfer, cpr-exec");
	} else if (!strcmp(key, "cpr-exec-command")) {
		if (json_is_array(n) && strings_only(n))
			return TRUE;
		vm_error(errp, "Parameter 'cpr-exec-command' expects a list of strings");
	} else if (!strcmp(key, "x-state-writer")) {
		if (v && (!strcmp(v, "io_uring") || !strcmp(v, "fallback")))
			return TRUE;
		vm_error(errp, "Parameter 'x-state-writer' expects io_uring or fallback");
	} else if (!strcmp(key, "downtime-limit")) {
		if (json_is_integer(n) && json_integer_value(n) >= 0)
			return TRUE;
		vm_error(errp, "Parameter 'downtime-limit' expects a number of milliseconds");
	} else {
		vm_error(errp, "Parameter '%s' is unexpected", key);
	}
	return FALSE;
}

gboolean control_migrate_set_parameters(json_t *args, GError **errp)
{
	const char *key;
	json_t *n;

	if (!idle_or_error(errp))
		return FALSE;
	/* Check everything first: a refused command changes nothing. */
	json_object_foreach(args, key, n)
		if (!check_parameter(key, n, errp))
			return FALSE;
	json_object_foreach(args, key, n) {
		if (!strcmp(key, "mode")) {
			set_mode(json_string_value(n), NULL);
		} else if (!strcmp(key, "cpr-exec-command")) {
			g_autoptr(GPtrArray) argv = g_ptr_array_new();
			size_t i;
			json_t *e;

			json_array_foreach(n, i, e)
				g_ptr_array_add(argv, (gpointer)json_string_value(e));
			g_ptr_array_add(argv, NULL);
			if (!set_command((const char *const *)argv->pdata, errp))
				return FALSE;
		} else if (!strcmp(key, "x-state-writer")) {
			set_state_writer(json_string_value(n), NULL);
		} else {
			downtime_limit = json_integer_value(n);
		}
	}
	return TRUE;
}

gboolean control_migrate_set_capability(const char *name, gboolean on,
					GError **errp)
{
	enum rl_mig_cap cap;

	if (!idle_or_error(errp))
		return FALSE;
	if (rl_mig_cap_parse(name, &cap) < 0) {
		vm_error(errp, "Invalid parameter '%s': unknown migration capability", name);
		return FALSE;
	}
	m->set_capability(cap, on);
	return TRUE;
}

static void add_us(json_t *o, const char *name, uint64_t from, uint64_t to)
{
	json_object_set_new(o, name, json_integer(from && to >= from ? (to - from) / 1000 : 0));
}

/*
 * The new process's setup stamps, kept in order between main and loaded:
 * a process that set up before the pause (cpr-transfer's, started before
 * the migrate) counts none of it, its whole part goes to state-loaded.
 */
static void setup_chain(const struct pause_times *t, uint64_t out[5])
{
	const uint64_t in[5] = { t->setup, t->ram_mapped, t->vm_created, t->slots, t->vcpus };
	uint64_t prev = t->main;

	for (int i = 0; i < 5; i++) {
		prev = in[i] > prev && in[i] <= t->loaded ? in[i] : prev;
		out[i] = prev;
	}
}

/* The pause breakdown of the last update as query-migrate's "relive-pause". */
static json_t *migrate_pause_json(const struct pause_times *t)
{
	static const char *const setup_names[5] = {
		"main-setup-us", "ram-mapped-us", "vm-created-us", "memory-slots-us",
		"vcpus-created-us",
	};
	/* in their order in time: the total is their sum */
	static const char *const parts[] = {
		"stop-us", "state-written-us", "exec-us", "trampoline-us", "new-main-us",
		"main-setup-us", "ram-mapped-us", "vm-created-us", "memory-slots-us",
		"vcpus-created-us", "state-loaded-us", "resumed-us",
	};
	json_t *o;
	uint64_t exec_end, tramp_end, setup[5], from;
	gint64 total = 0;

	if (!t->stop || !t->resumed)
		return NULL;
	o = json_object();
	exec_end = t->tramp_entry ? t->tramp_entry : t->main;
	tramp_end = t->tramp_entry ? t->tramp_exec : t->main;
	add_us(o, "stop-us", t->stop, t->stopped);
	add_us(o, "state-written-us", t->stopped, t->written);
	add_us(o, "exec-us", t->written, exec_end);
	add_us(o, "trampoline-us", exec_end, tramp_end);
	add_us(o, "new-main-us", tramp_end, t->main);
	setup_chain(t, setup);
	from = t->main;
	for (int i = 0; i < 5; i++) {
		add_us(o, setup_names[i], from, setup[i]);
		from = setup[i];
	}
	add_us(o, "state-loaded-us", from, t->loaded);
	add_us(o, "resumed-us", t->loaded, t->resumed);
	for (size_t i = 0; i < G_N_ELEMENTS(parts); i++)
		total += json_integer_value(json_object_get(o, parts[i]));
	json_object_set_new(o, "total-us", json_integer(total));
	return o;
}

json_t *control_query_migrate(void)
{
	json_t *o = json_object();
	struct vm_migration_info info;
	json_t *devs;

	m->migration_info(&info);
	if (info.status != RL_MIG_NONE)
		json_object_set_str(o, "status", rl_mig_status_name(info.status));
	if (info.status == RL_MIG_FAILED && info.error_desc)
		json_object_set_str(o, "error-desc", info.error_desc);
	if (info.status == RL_MIG_COMPLETED) {
		json_t *p = migrate_pause_json(&info.t);

		if (p) {
			gint64 total = json_integer_value(json_object_get(p, "total-us"));

			json_object_set_new(o, "downtime", json_integer((total + 999) / 1000));
			json_object_set_new(o, "total-time", json_integer((total + 999) / 1000));
			json_object_set_new(o, "relive-pause", p);
		}
		if (info.state_size)
			json_object_set_new(o, "relive-state-bytes", json_integer(info.state_size));
	}
	devs = json_array();
	for (unsigned i = 0; i < m->blob_count(); i++) {
		struct vm_blob_info b;
		json_t *d = json_object();

		m->blob_info(i, &b);
		json_object_set_str(d, "id", b.id);
		json_object_set_str(d, "type", "state-blob");
		json_object_set_new(d, "size", json_integer(b.size));
		json_object_set_new(d, "verified-loads", json_integer(b.loads));
		json_array_append_new(devs, d);
	}
	json_object_set_new(o, "relive-devices", devs);
	return o;
}

json_t *control_query_migrate_parameters(void)
{
	const struct rl_mig_params *p = m->params();
	json_t *o = json_object();
	json_t *cmd = json_array();

	json_object_set_str(o, "mode", rl_mig_mode_name(p->mode));
	for (char **a = p->cpr_exec_command; a && *a; a++)
		json_array_append_new(cmd, json_string_or_null(*a));
	json_object_set_new(o, "cpr-exec-command", cmd);
	json_object_set_new(o, "downtime-limit", json_integer(downtime_limit));
	json_object_set_str(o, "x-state-writer",
			    m->writer_fallback() ? "fallback" : "io_uring");
	return o;
}

json_t *control_query_migrate_capabilities(void)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < RL_CAP__MAX; i++) {
		json_t *c = json_object();

		json_object_set_str(c, "capability", rl_mig_cap_name(i));
		json_object_set_new(c, "state", json_boolean(m->params()->caps[i]));
		json_array_append_new(a, c);
	}
	return a;
}

/* QMP's MigrationAddress to a URI: file and unix only. */
/* @channels: checked by qmp.c against QEMU's MigrationChannel. */
static char *channel_uri(json_t *channels, const char *type, GError **errp)
{
	size_t i;
	json_t *c;

	json_array_foreach(channels, i, c) {
		json_t *addr = json_object_get(c, "addr");
		const char *t;

		if (!json_is_object(c) || !json_object_get(c, "channel-type") || !addr)
			continue;
		if (strcmp(json_object_string_or(c, "channel-type", ""), type))
			continue;
		t = json_object_string_or(addr, "transport", "");
		if (!strcmp(t, "file") && json_object_string_or(addr, "filename", NULL))
			return g_strdup_printf("file:%s",
					       json_object_string_or(addr, "filename", NULL));
		if (!strcmp(t, "socket") && json_object_string_or(addr, "path", NULL))
			return g_strdup_printf("unix:%s",
					       json_object_string_or(addr, "path", NULL));
		vm_error(errp, "channels: the %s channel's address must be a file or a unix socket",
			 type);
		return NULL;
	}
	vm_error(errp, "channels: no '%s' channel", type);
	return NULL;
}

/* The cpr channel of a cpr-transfer: a unix socket, nothing else. */
static char *cpr_channel_path(json_t *channels, GError **errp)
{
	size_t i;
	json_t *c;

	json_array_foreach(channels, i, c) {
		json_t *addr = json_object_get(c, "addr");

		if (!json_is_object(c) ||
		    g_strcmp0(json_object_string_or(c, "channel-type", ""), "cpr"))
			continue;
		if (!json_is_object(addr) ||
		    g_strcmp0(json_object_string_or(addr, "transport", ""), "socket") ||
		    g_strcmp0(json_object_string_or(addr, "type", ""), "unix") ||
		    !json_object_string_or(addr, "path", NULL)) {
			vm_error(errp, "channels: the cpr channel must be a unix socket ({\"transport\": \"socket\", \"type\": \"unix\", \"path\": ...})");
			return NULL;
		}
		return g_strdup(json_object_string_or(addr, "path", NULL));
	}
	vm_error(errp, "mode cpr-transfer needs a 'cpr' channel in \"channels\"");
	return NULL;
}

gboolean control_migrate(const char *uri, json_t *channels, GError **errp)
{
	g_autofree char *u = NULL;
	g_autofree char *cpr_path = NULL;
	struct rl_mig_uri parsed;

	if (!idle_or_error(errp))
		return FALSE;
	if (m->run_state() == RL_RUN_INMIGRATE) {
		vm_error(errp, "Guest is waiting for an incoming migration");
		return FALSE;
	}
	u = channels ? channel_uri(channels, "main", errp) : g_strdup(uri);
	if (!u)
		return FALSE;
	if (!m->migrate_check(u, &parsed, errp))
		return FALSE;
	if (m->params()->mode == RL_MODE_CPR_TRANSFER) {
		cpr_path = channels ? cpr_channel_path(channels, errp) : NULL;
		if (!cpr_path) {
			if (!channels)
				vm_error(errp, "mode cpr-transfer needs a 'cpr' channel: use QMP migrate with \"channels\" (a 'main' and a 'cpr' entry); HMP migrate cannot give one");
			return FALSE;
		}
	}
	return m->migrate_start(parsed.path, cpr_path, errp);
}

gboolean control_migrate_incoming(const char *uri, json_t *channels,
				  GError **errp)
{
	g_autofree char *u = NULL;
	struct rl_error err = { { 0 } };
	struct rl_mig_uri parsed;

	if (!m->incoming_pending()) {
		vm_error(errp, "'-incoming' was not specified on the command line");
		return FALSE;
	}
	u = channels ? channel_uri(channels, "main", errp) : g_strdup(uri);
	if (!u)
		return FALSE;
	if (rl_mig_uri_parse(u, &parsed, &err) < 0 || parsed.kind != RL_URI_FILE) {
		vm_error(errp, "%s: relive-vm takes incoming migrations from file: URIs only",
			 err.msg[0] ? err.msg : u);
		return FALSE;
	}
	return m->migrate_incoming(parsed.path, errp);
}

gboolean control_migrate_cancel(GError **errp)
{
	m->migrate_cancel();
	return TRUE;
}
