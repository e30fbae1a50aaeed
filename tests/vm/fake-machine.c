// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine below the real control.c, for tests and fuzzers that drive
 * the monitors' real commands without a VM: a struct vm_machine_ops with a
 * run state, a migration status and parameters, the real blocker check and
 * URI parsing, and migrations that are only recorded. Nothing is stopped,
 * written or exec'd.
 */
#include <errno.h>
#include <string.h>

#include "monitors/machine-ops.h"
#include "relive/stream.h"
#include "fake-machine.h"

GString *fake_machine_log;

static enum rl_run_state run = RL_RUN_RUNNING;
static struct rl_mig_params params;
static bool writer_fb, pending;

static void record(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void record(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_string_append_vprintf(fake_machine_log, fmt, ap);
	va_end(ap);
	g_string_append_c(fake_machine_log, '\n');
}

static enum rl_run_state run_state(void)
{
	return run;
}

static gboolean stop(GError **errp)
{
	record("stop");
	if (run == RL_RUN_RUNNING)
		run = RL_RUN_PAUSED;
	return TRUE;
}

static gboolean cont(GError **errp)
{
	record("cont");
	if (run == RL_RUN_INMIGRATE) {
		g_set_error(errp, g_quark_from_static_string("fake-machine"), 0, "Guest is in inmigrate state");
		return FALSE;
	}
	run = RL_RUN_RUNNING;
	return TRUE;
}

static void quit(void)
{
	record("quit");
}

static void migration_info(struct vm_migration_info *info)
{
	memset(info, 0, sizeof(*info));
}

static unsigned blob_count(void)
{
	return 0;
}

static void blob_info(unsigned i, struct vm_blob_info *b)
{
	memset(b, 0, sizeof(*b));
}

static const struct rl_mig_params *get_params(void)
{
	return &params;
}

static void set_mode(enum rl_mig_mode mode)
{
	params.mode = mode;
}

static int set_exec_command(const char *const *argv)
{
	return rl_mig_params_set_exec_command(&params, argv);
}

static void set_capability(enum rl_mig_cap cap, gboolean on)
{
	params.caps[cap] = on;
}

static gboolean writer_fallback(void)
{
	return writer_fb;
}

static void set_writer_fallback(gboolean on)
{
	writer_fb = on;
}

/* The real blockers and URI rules, for a VM of one shared memfd block. */
static gboolean migrate_check(const char *uri, struct rl_mig_uri *parsed, GError **errp)
{
	static const char *const devices[] = { "machine", "serial0" };
	struct rl_stream_config cfg = { .nr_vcpus = 1, .devices = devices, .nr_devices = 2 };
	struct rl_mig_vm mv = { .aux_ram_share = true, .stream = &cfg };
	struct rl_error err = { { 0 } };
	int ret = rl_mig_check_blockers(&mv, &params, uri, &err);

	if (!ret)
		ret = rl_mig_uri_parse(uri, parsed, &err);
	if (ret < 0) {
		g_set_error(errp, g_quark_from_static_string("fake-machine"), 0, "%s",
			    err.msg[0] ? err.msg : g_strerror(-ret));
		return FALSE;
	}
	return TRUE;
}

static gboolean migrate_start(const char *path, const char *cpr_path, GError **errp)
{
	record("migrate %s cpr=%s", path, cpr_path ? cpr_path : "-");
	return TRUE;
}

static gboolean migrate_cancel(void)
{
	return FALSE;
}

static gboolean incoming_pending(void)
{
	return pending;
}

static gboolean migrate_incoming(const char *path, GError **errp)
{
	record("incoming %s", path);
	pending = false;
	return TRUE;
}

static const struct vm_machine_ops fake_ops = {
	.run_state = run_state,
	.stop = stop,
	.cont = cont,
	.quit = quit,
	.migration_info = migration_info,
	.blob_count = blob_count,
	.blob_info = blob_info,
	.params = get_params,
	.set_mode = set_mode,
	.set_exec_command = set_exec_command,
	.set_capability = set_capability,
	.writer_fallback = writer_fallback,
	.set_writer_fallback = set_writer_fallback,
	.migrate_check = migrate_check,
	.migrate_start = migrate_start,
	.migrate_cancel = migrate_cancel,
	.incoming_pending = incoming_pending,
	.migrate_incoming = migrate_incoming,
};

void fake_machine_reset(void)
{
	/* What the commands left queued runs and is forgotten. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	if (!fake_machine_log)
		fake_machine_log = g_string_new(NULL);
	g_string_truncate(fake_machine_log, 0);
	rl_mig_params_free(&params);
	rl_mig_params_init(&params);
	run = RL_RUN_RUNNING;
	pending = false;
	writer_fb = false;
	control_attach(&fake_ops);
}

void fake_machine_set_run(enum rl_run_state to, bool incoming_pending)
{
	run = to;
	pending = incoming_pending;
}
