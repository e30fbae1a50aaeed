// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The file modes and cpr-exec in the update sequence (update.h): normal and
 * cpr-reboot leave the state on disk, cpr-exec hands the CPR state over
 * through the exec and, incoming, rolls back to the old binary when this
 * one cannot take the guest. Also the CPR state read before anything is
 * created, and what waits until the guest runs (monitors, holder, RAM
 * population).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "machine/machine.h"
#include "update/migrate.h"
#include "update/update.h"
#include "monitors/monitors.h"
#include "relive/cpr.h"
#include "relive/io.h"
#include "relive/stream.h"
#include "vm-error.h"

#define ROLLBACK_VALUE "relive-vm-rollback"

/* the monitors module an older relive-vm hands on in its CPR state */
#define MODULE_FD_NAME "vm-monitors-module"

static bool monitors_adopted;		/* the chardev state was taken over */
/*
 * This process's own executable, held from main() on: a package upgrade
 * renames a new binary over the path, and the rollback must still bring
 * this one back.
 */
static int self_exe = -1;

/* ------------------------------------------------- normal and cpr-reboot */

/* The state is on disk; the guest stays stopped. */
const struct update_ops update_normal_ops = {
	.name = "migration",
	.mode = RL_MODE_NORMAL,
	.sync = true,
};

const struct update_ops update_reboot_ops = {
	.name = "migration",
	.mode = RL_MODE_CPR_REBOOT,
	.sync = true,
};

/* ---------------------------------------------------------------- cpr-exec */

/* The rollback command: this binary, the same arguments, -incoming file:@path. */
static char **rollback_argv(const char *path)
{
	GPtrArray *a = g_ptr_array_new();
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);

	g_ptr_array_add(a, g_strdup(self ? self : vm.argv[0]));
	for (int i = 1; i < vm.argc; i++) {
		if (!strcmp(vm.argv[i], "-incoming") || !strcmp(vm.argv[i], "--incoming")) {
			i++;
			continue;
		}
		g_ptr_array_add(a, g_strdup(vm.argv[i]));
	}
	g_ptr_array_add(a, g_strdup("-incoming"));
	g_ptr_array_add(a, g_strdup_printf("file:%s", path));
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

/*
 * The rollback command, and what it needs of this binary even if a newer
 * one was installed over it: the executable.
 */
static gboolean exec_prepare(struct update *u, GError **errp)
{
	g_auto(GStrv) rb = rollback_argv(u->path);
	int ret = rl_cpr_set_rollback(u->cpr, (const char *const *)rb);

	if (ret < 0) {
		vm_error(errp, "CPR state: rollback command: %s", g_strerror(-ret));
		return FALSE;
	}
	if (self_exe >= 0 && (ret = rl_cpr_set_rollback_exe(u->cpr, self_exe)) < 0) {
		vm_error(errp, "CPR state: this executable (fd %d): %s", self_exe,
			 g_strerror(-ret));
		return FALSE;
	}
	/*
	 * The monitor and serial sockets, with what they have queued, before
	 * the stop: a state the new binary would refuse is refused here, with
	 * the guest running. The last of it is written right before the exec.
	 */
	ret = monitors->cpr_save((struct rl_cpr_table *)u->cpr);
	if (ret < 0) {
		vm_error(errp, "CPR fd table: monitor and serial sockets: %s",
			 ret == -EMSGSIZE ?
			 "their queued input and output is more than an update carries (64 MiB): let the clients read their replies, or close them" :
			 g_strerror(-ret));
		return FALSE;
	}
	/* Its start, a clone of this process, goes before the stop (none: the exec starts one). */
	rl_cpr_exec_hold();
	return TRUE;
}

/* Called off before the exec, or the exec failed: no holder is left waiting. */
static void exec_done(struct update *u)
{
	(void)u;
	rl_cpr_exec_unhold();
}

/* The exec: returns on failure. */
static gboolean exec_hand_over(struct update *u, GError **errp)
{
	char **argv = vm.params.cpr_exec_command;
	int ret;

	machine_set_status(RL_MIG_COMPLETED);
	monitors->flush_all();
	memset(&u->serr, 0, sizeof(u->serr));
	ret = rl_cpr_exec(u->cpr, argv, NULL, &u->serr);
	/* Still here: the exec failed and rl_cpr_exec() undid everything. */
	unlink(u->path);
	vm_error(errp, "cannot execute cpr-exec-command '%s': %s", argv[0],
		 u->serr.msg[0] ? u->serr.msg : g_strerror(-ret));
	return FALSE;
}

const struct update_ops update_exec_ops = {
	.name = "migration",
	.mode = RL_MODE_CPR_EXEC,
	.cpr_state = true,
	.prepare = exec_prepare,
	.hand_over = exec_hand_over,
	.done = exec_done,
};

/* The table of @mode's outgoing side (cpr-transfer starts in transfer.c). */
static const struct update_ops *ops_of(enum rl_mig_mode mode)
{
	switch (mode) {
	case RL_MODE_CPR_EXEC:
		return &update_exec_ops;
	case RL_MODE_CPR_REBOOT:
		return &update_reboot_ops;
	default:
		return &update_normal_ops;
	}
}

gboolean migrate_start(const char *path, GError **errp)
{
	return update_start(ops_of(vm.params.mode), path, path, NULL, errp);
}

gboolean migrate_cancel_pending(void)
{
	return update_cancel_pending();
}

/* ---------------------------------------------------------------- incoming */

/*
 * A state this process cannot read holds the rollback command too: the old
 * process left a copy in the environment. The old binary reads the state
 * itself; if it cannot either, it has no copy to roll back with, so this
 * cannot loop. Returns only if there is no copy or the exec failed.
 */
static void rollback_without_state(const char *why)
{
	char **argv;
	int exe, ret = rl_cpr_rollback_from_env(&argv, &exe);

	if (ret == -ENOENT)
		return;
	unsetenv(RL_CPR_ROLLBACK_ENV);
	if (ret < 0) {
		fprintf(stderr, "relive-vm: %s=...: %s; cannot roll back\n",
			RL_CPR_ROLLBACK_ENV, g_strerror(-ret));
		return;
	}
	fprintf(stderr, "relive-vm: %s\nrelive-vm: rolling back without the CPR state: %s",
		why, argv[0]);
	for (unsigned i = 1; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	if (exe >= 0)
		fprintf(stderr, " (through fd %d)", exe);
	fputc('\n', stderr);
	if (exe >= 0)
		execveat(exe, "", argv, environ, AT_EMPTY_PATH);
	execv(argv[0], argv);
	fprintf(stderr, "relive-vm: rollback failed: cannot exec %s: %s\n", argv[0],
		g_strerror(errno));
	free(argv);
}

gboolean cpr_incoming_begin(GError **errp)
{
	struct rl_error err = { { 0 } };
	const char *tt = getenv(RL_CPR_TRAMPOLINE_ENV);
	struct rl_cpr_state *cpr;
	int ret;

	/*
	 * Readable where the file allows it rather than O_PATH: ppoll() cannot
	 * see an O_PATH fd, and the trampoline counts the fds it inherits that
	 * way (an fd it does not see sends it to list /proc/self/fd instead).
	 */
	self_exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self_exe < 0)
		self_exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (tt) {
		unsigned long long a, b;

		if (sscanf(tt, "%llu,%llu", &a, &b) == 2) {
			vm.t.tramp_entry = a;
			vm.t.tramp_exec = b;
		}
		unsetenv(RL_CPR_TRAMPOLINE_ENV);
	}
	cpr = rl_cpr_state_new();
	ret = cpr ? rl_cpr_state_load(cpr, &err) : -ENOMEM;
	if (ret == -ENOENT) {
		rl_cpr_state_free(cpr);
		return TRUE;
	}
	if (ret < 0) {
		vm_error(errp, "CPR state (%s): %s", RL_CPR_ENV,
			 err.msg[0] ? err.msg : g_strerror(-ret));
		rl_cpr_state_free(cpr);
		rollback_without_state((*errp)->message);
		return FALSE;
	}
	rl_cpr_time_get(cpr, "stop-request", &vm.t.stop);
	rl_cpr_time_get(cpr, RL_CPR_T_STOP, &vm.t.stopped);
	rl_cpr_time_get(cpr, RL_CPR_T_STATE, &vm.t.written);
	update_incoming_set_cpr(cpr);
	return TRUE;
}

gboolean cpr_incoming(void)
{
	return update_incoming_cpr() != NULL;
}

int cpr_ram_fd(const char *name, void *opaque)
{
	struct rl_cpr_state *cpr = update_incoming_cpr();
	struct rl_error err = { { 0 } };
	int fd;

	if (!cpr)
		return -1;
	fd = rl_cpr_verify_fd(cpr, name, 0, &err);
	if (fd == -ENOENT)
		return -1;
	if (fd < 0) {
		fprintf(stderr, "relive-vm: RAM block %s: %s\n", name,
			err.msg[0] ? err.msg : g_strerror(-fd));
		return MEMORY_FD_UNUSABLE;
	}
	return fd;
}

int cpr_preserved_fd(const char *name, struct rl_error *err, void *opaque)
{
	struct rl_cpr_state *cpr = update_incoming_cpr();

	if (!cpr)
		return -ENOENT;
	return rl_cpr_verify_fd(cpr, name, 0, err);
}

/* The old binary, through the rollback command, with the same CPR state. */
static void rollback(struct update *u)
{
	struct rl_cpr_state *cpr = update_incoming_cpr();
	struct rl_cpr_exec_opts opts = { .no_holder = true, .rollback = true };
	struct rl_error err = { { 0 } };
	GPtrArray *argv;
	g_autofree char *exe_path = NULL;
	uint64_t done = 0;
	const char *p;
	int exe;

	if (!cpr || !rl_cpr_rollback_argc(cpr))
		return;
	if (rl_cpr_value_get(cpr, ROLLBACK_VALUE, &done) == 0 && done) {
		fprintf(stderr, "relive-vm: this is already the rollback; giving up\n");
		return;
	}
	argv = g_ptr_array_new();
	for (unsigned i = 0; (p = rl_cpr_rollback_arg(cpr, i)); i++)
		g_ptr_array_add(argv, (gpointer)p);
	g_ptr_array_add(argv, NULL);
	fprintf(stderr, "relive-vm: rolling back: %s", (char *)argv->pdata[0]);
	for (unsigned i = 1; i + 1 < argv->len; i++)
		fprintf(stderr, " %s", (char *)argv->pdata[i]);
	exe = rl_cpr_rollback_exe(cpr);
	if (exe >= 0) {
		/* the binary that wrote the state, whatever its path names now */
		exe_path = g_strdup_printf("/proc/self/fd/%d", exe);
		argv->pdata[0] = exe_path;
		fprintf(stderr, " (through fd %d)", exe);
	}
	fputc('\n', stderr);
	rl_cpr_exec_release_holder(cpr);
	rl_cpr_value_set(cpr, ROLLBACK_VALUE, 1);
	/*
	 * With -incoming defer the monitors already took their sockets over
	 * (and consumed the chardev state): describe them afresh.
	 */
	if (monitors_adopted && monitors->cpr_save((struct rl_cpr_table *)cpr) < 0)
		fprintf(stderr, "relive-vm: rollback: cannot hand the monitor sockets on\n");
	rl_cpr_exec(cpr, (char *const *)argv->pdata, &opts, &err);
	fprintf(stderr, "relive-vm: rollback failed: %s\n", err.msg);
	g_ptr_array_free(argv, TRUE);
}

/*
 * Incoming from a file: normal and cpr-reboot after a restart, cpr-exec
 * after the exec. Only cpr-exec has somewhere to give the guest back to.
 */
const struct update_ops update_file_in_ops = {
	.name = "migration",
	.mode = RL_MODE_CPR_EXEC,
	.give_back = rollback,
};

void incoming_load(const char *path)
{
	update_incoming(&update_file_in_ops, path, NULL);
	if (vm.loop) /* -incoming defer: the monitors exist already */
		cpr_incoming_finish();
}

/*
 * The kernel tears the old address space down in the holder's context when
 * it exits: at the lowest priority, so the vCPUs that just resumed keep
 * their CPUs.
 */
static gpointer holder_thread(gpointer opaque)
{
	uint64_t pid;

	if (rl_cpr_value_get(opaque, RL_CPR_V_HOLDER, &pid) == 0 && pid > 0)
		setpriority(PRIO_PROCESS, (id_t)pid, 19);
	rl_cpr_exec_release_holder(opaque);
	return NULL;
}

void cpr_incoming_finish(void)
{
	struct rl_cpr_state *cpr = update_incoming_cpr();

	machine_load_release();
	if (cpr) {
		/* the guest is this binary's now: the old one's files can go */
		int fd = rl_cpr_rollback_exe(cpr);

		if (fd >= 0)
			close(fd);
		/* an older relive-vm hands on its monitors module: unused here */
		fd = rl_cpr_find_fd(cpr, MODULE_FD_NAME, 0);
		if (fd >= 0)
			close(fd);
	}
	if (vm.run == RL_RUN_RUNNING)
		monitors_event("RESUME", NULL);
	monitors_event("MIGRATION", "completed");
	if (cpr) {
		uint64_t holder;

		if (rl_cpr_value_get(cpr, RL_CPR_V_HOLDER, &holder) == 0)
			g_thread_unref(g_thread_new("holder", holder_thread, cpr));
	}
	memory_populate_background(&vm.mem);
}

/* ------------------------------------------------ monitors across the exec */

gboolean cpr_restore_monitors(GError **errp)
{
	int ret = monitors->cpr_restore((const struct rl_cpr_table *)update_incoming_cpr());

	monitors_adopted = ret == 0;

	if (ret < 0) {
		vm_error(errp, "taking the monitor and serial sockets over: %s", g_strerror(-ret));
		return FALSE;
	}
	return TRUE;
}
