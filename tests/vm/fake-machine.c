// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine below the real control.c and the real table relive-vm hands
 * the monitors (machine-ops.c), for tests and fuzzers that drive the
 * monitors' real commands without a VM: a run state, a migration status and
 * parameters in the real struct machine, and migrations that are only
 * recorded. Nothing is stopped, written or exec'd.
 */
#include <string.h>

#include "machine/machine.h"
#include "monitors/machine-ops.h"
#include "update/migrate.h"
#include "update/transfer.h"
#include "vm-error.h"
#include "fake-machine.h"

struct machine vm;
GString *fake_machine_log;

G_DEFINE_QUARK(relive-vm-error-quark, vm_error)

static void record(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void record(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_string_append_vprintf(fake_machine_log, fmt, ap);
	va_end(ap);
	g_string_append_c(fake_machine_log, '\n');
}

void fake_machine_reset(void)
{
	/* What the commands left queued (quit, incoming) runs and is forgotten. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	if (!fake_machine_log)
		fake_machine_log = g_string_new(NULL);
	g_string_truncate(fake_machine_log, 0);
	if (!vm.loop)
		vm.loop = g_main_loop_new(NULL, FALSE);
	rl_mig_params_free(&vm.params);
	rl_mig_params_init(&vm.params);
	vm.run = RL_RUN_RUNNING;
	vm.status = RL_MIG_NONE;
	vm.incoming_pending = false;
	g_clear_pointer(&vm.incoming_uri, g_free);
	g_clear_pointer(&vm.error_desc, g_free);
	vm.writer_fallback = false;
	control_attach(&machine_ops);
}

void fake_machine_set_run(enum rl_run_state to, bool incoming_pending)
{
	vm.run = to;
	vm.incoming_pending = incoming_pending;
}

void machine_pause(enum rl_run_state to)
{
	record("pause");
	vm.run = to;
}

void machine_resume(void)
{
	record("resume");
	vm.run = RL_RUN_RUNNING;
}

void machine_set_status(enum rl_mig_status to)
{
	vm.status = to;
}

void machine_stream_config(struct rl_stream_config *cfg)
{
	static const char *const devices[] = { "machine", "serial0" };

	*cfg = (struct rl_stream_config){ .nr_vcpus = 1, .ram = &vm.mem.reg,
					  .devices = devices, .nr_devices = 2 };
}

gboolean migrate_start(const char *path, GError **errp)
{
	record("migrate file:%s", path);
	return TRUE;
}

gboolean migrate_cancel_pending(void)
{
	return FALSE;
}

void incoming_load(const char *path)
{
	record("incoming %s", path);
}

gboolean transfer_start(const char *main_path, const char *cpr_path, GError **errp)
{
	record("transfer unix:%s cpr:%s", main_path, cpr_path);
	return TRUE;
}

gboolean transfer_may_run(void)
{
	return TRUE;
}
