// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine side of the monitors (monitors/machine-ops.h): what HMP and
 * QMP may ask of the machine and of the updates, with QEMU's semantics and
 * messages. The monitors get this table when they start and nothing
 * else of relive-vm. Beside main(), the top of relive-vm: it calls the
 * modes (update/) and the machine, and nothing calls it but through the
 * table.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "monitors/machine-ops.h"
#include "update/migrate.h"
#include "update/transfer.h"
#include "vm-error.h"

static enum rl_run_state run_state(void)
{
	return vm.run;
}

static gboolean stop(GError **errp)
{
	if (vm.run == RL_RUN_RUNNING)
		machine_pause(RL_RUN_PAUSED);
	return TRUE;
}

static gboolean cont(GError **errp)
{
	if (vm.run == RL_RUN_INMIGRATE) {
		vm_error(errp, "Guest is in inmigrate state: wait for the incoming migration (migrate_incoming) to finish");
		return FALSE;
	}
	if (vm.run == RL_RUN_FINISH_MIGRATE) {
		vm_error(errp, "Migration is in progress");
		return FALSE;
	}
	if (!transfer_may_run()) {
		vm_error(errp, "The guest runs in the new process (cpr-transfer): it holds the guest's lock");
		return FALSE;
	}
	if (vm.cpus.failed) {
		vm_error(errp, "The vCPUs stopped on an error: %s",
			 vm.cpus.fail_msg ? vm.cpus.fail_msg : "unknown");
		return FALSE;
	}
	if (vm.run != RL_RUN_RUNNING)
		machine_resume();
	return TRUE;
}

static void quit(void)
{
	g_main_loop_quit(vm.loop);
}

static void migration_info(struct vm_migration_info *info)
{
	info->status = vm.status;
	info->error_desc = vm.error_desc;
	info->t = vm.t;
	info->state_size = vm.state_size;
}

static unsigned blob_count(void)
{
	return vm.blobs ? vm.blobs->len : 0;
}

static void blob_info(unsigned i, struct vm_blob_info *bi)
{
	struct state_blob *b = g_ptr_array_index(vm.blobs, i);

	bi->id = b->id;
	bi->size = b->size;
	bi->loads = g_atomic_int_get(&b->loads);
}

static const struct rl_mig_params *params(void)
{
	return &vm.params;
}

static void set_mode(enum rl_mig_mode mode)
{
	vm.params.mode = mode;
}

static int set_exec_command(const char *const *argv)
{
	return rl_mig_params_set_exec_command(&vm.params, argv);
}

static void set_capability(enum rl_mig_cap cap, gboolean on)
{
	vm.params.caps[cap] = on;
}

static gboolean writer_fallback(void)
{
	return vm.writer_fallback;
}

static void set_writer_fallback(gboolean on)
{
	vm.writer_fallback = on;
}

static gboolean migrate_check(const char *uri, struct rl_mig_uri *parsed, GError **errp)
{
	struct rl_mig_vm mv = { &vm.mem.reg, vm.mem.aux_ram_share, vm.mem.has_implicit };
	struct rl_stream_config cfg;
	struct rl_error err = { { 0 } };
	int ret;

	/* a state the loader would refuse is refused here, the guest running */
	machine_stream_config(&cfg);
	mv.stream = &cfg;
	ret = rl_mig_check_blockers(&mv, &vm.params, uri, &err);
	if (ret < 0) {
		vm_error(errp, "%s", err.msg[0] ? err.msg : g_strerror(-ret));
		return FALSE;
	}
	ret = rl_mig_uri_parse(uri, parsed, &err);
	if (vm.params.mode == RL_MODE_CPR_TRANSFER) {
		if (ret < 0 || parsed->kind != RL_URI_UNIX) {
			vm_error(errp, "%s: in mode cpr-transfer the main channel is a unix socket (unix:PATH)",
				 ret < 0 && err.msg[0] ? err.msg : uri);
			return FALSE;
		}
		return TRUE;
	}
	if (ret < 0 || parsed->kind != RL_URI_FILE) {
		vm_error(errp, "%s: relive-vm migrates to file: URIs only (unix: in mode cpr-transfer)",
			 ret < 0 && err.msg[0] ? err.msg : uri);
		return FALSE;
	}
	return TRUE;
}

static gboolean migrate_begin(const char *path, const char *cpr_path, GError **errp)
{
	gboolean ok = vm.params.mode == RL_MODE_CPR_TRANSFER ?
		      transfer_start(path, cpr_path, errp) : migrate_start(path, errp);

	if (!ok)
		return FALSE;
	g_clear_pointer(&vm.error_desc, g_free);
	machine_set_status(RL_MIG_SETUP);
	return TRUE;
}

static gboolean migrate_cancel(void)
{
	if (!migrate_cancel_pending())
		return FALSE;
	machine_set_status(RL_MIG_CANCELLED);
	return TRUE;
}

static gboolean incoming_pending(void)
{
	return vm.run == RL_RUN_INMIGRATE && vm.incoming_pending;
}

static gboolean incoming_idle(gpointer path)
{
	incoming_load(path);
	return G_SOURCE_REMOVE;
}

static gboolean migrate_incoming(const char *path, GError **errp)
{
	if (access(path, R_OK) < 0) {
		/* still waiting: the user can give the right file */
		vm_error(errp, "%s: %s", path, g_strerror(errno));
		return FALSE;
	}
	vm.incoming_pending = false;
	vm.incoming_uri = g_strdup(path);
	g_idle_add(incoming_idle, vm.incoming_uri);
	return TRUE;
}

const struct vm_machine_ops machine_ops = {
	.run_state = run_state,
	.stop = stop,
	.cont = cont,
	.quit = quit,
	.migration_info = migration_info,
	.blob_count = blob_count,
	.blob_info = blob_info,
	.params = params,
	.set_mode = set_mode,
	.set_exec_command = set_exec_command,
	.set_capability = set_capability,
	.writer_fallback = writer_fallback,
	.set_writer_fallback = set_writer_fallback,
	.migrate_check = migrate_check,
	.migrate_start = migrate_begin,
	.migrate_cancel = migrate_cancel,
	.incoming_pending = incoming_pending,
	.migrate_incoming = migrate_incoming,
};
