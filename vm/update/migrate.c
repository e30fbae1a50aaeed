// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Migration on the machine side. Outgoing: from the main loop, after the
 * command's reply went out: state writer opened while the guest runs, stop,
 * save, and for cpr-exec the CPR fd table and the exec; any failure resumes
 * the guest here. Incoming: the CPR state read before anything is created,
 * the load, resume, then everything that can wait (monitors, holder, RAM
 * population), and rollback to the old binary when the load fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "machine/machine.h"
#include "update/migrate.h"
#include "monitors/monitors.h"
#include "relive/cpr.h"
#include "relive/io.h"
#include "relive/stream.h"
#include "vm-error.h"

#define ROLLBACK_VALUE "relive-vm-rollback"

static struct rl_cpr_state *cpr;	/* the state this process came with */
static bool monitors_adopted;		/* the chardev state was taken over */
static char *pending_path;		/* migrate scheduled, not started */
static struct rl_stream_saver *pending_saver;	/* its file, opened by migrate_start() */
static struct rl_error saver_err;
static guint pending_source;

/* ---------------------------------------------------------------- outgoing */

static void fail(const char *path, GError *e)
{
	g_free(vm.error_desc);
	vm.error_desc = g_strdup(e->message);
	fprintf(stderr, "relive-vm: migration to %s failed: %s\n", path, e->message);
	machine_set_status(RL_MIG_FAILED);
	g_error_free(e);
}

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

/* The part of the CPR state known before the stop: RAM memfds, rollback command. */
static struct rl_cpr_state *cpr_table_begin(const char *path, GError **errp)
{
	struct rl_cpr_state *s = rl_cpr_state_new();
	g_auto(GStrv) rb = rollback_argv(path);
	int ret;

	if (!s) {
		vm_error(errp, "CPR state: %s", g_strerror(ENOMEM));
		return NULL;
	}
	rl_cpr_state_set_mode(s, RL_MODE_CPR_EXEC);
	for (unsigned i = 0; i < vm.mem.reg.count; i++) {
		struct rl_ram_block *b = &vm.mem.reg.blocks[i];

		if (b->backing != RL_RAM_MEMFD)
			continue; /* file backends are reopened by path */
		ret = rl_cpr_add_fd(s, b->name, 0, b->fd);
		if (ret < 0) {
			vm_error(errp, "CPR fd table: RAM block %s (fd %d): %s", b->name,
				 b->fd, g_strerror(-ret));
			goto err;
		}
	}
	ret = rl_cpr_set_rollback(s, (const char *const *)rb);
	if (ret < 0) {
		vm_error(errp, "CPR state: rollback command: %s", g_strerror(-ret));
		goto err;
	}
	return s;
err:
	rl_cpr_state_free(s);
	return NULL;
}

/* After the state is written: the sockets with what they have queued, the times. */
static gboolean cpr_table_finish(struct rl_cpr_state *s, GError **errp)
{
	int ret = monitors->cpr_save((struct rl_cpr_table *)s);

	if (ret < 0) {
		vm_error(errp, "CPR fd table: monitor and serial sockets: %s", g_strerror(-ret));
		return FALSE;
	}
	rl_cpr_time_set(s, "stop-request", vm.t.stop);
	rl_cpr_time_set(s, RL_CPR_T_STOP, vm.t.stopped);
	rl_cpr_time_set(s, RL_CPR_T_STATE, vm.t.written);
	return TRUE;
}

gboolean migrate_stop_and_save(struct rl_stream_saver *s, const char *path,
			       const struct rl_error *serr, GError **errp)
{
	int ret;

	vm.t.stop = rl_cpr_now_ns();
	vm.save_running = rl_run_state_is_running(vm.run);
	machine_pause(RL_RUN_FINISH_MIGRATE);
	vm.t.stopped = rl_cpr_now_ns();

	ret = machine_save(s, errp);
	if (ret < 0) {
		g_prefix_error(errp, "%s: ", path);
		rl_stream_save_abort(s);
		return FALSE;
	}
	vm.state_size = rl_stream_save_size(s);
	ret = rl_stream_save_commit(s);
	if (ret < 0) {
		vm_error(errp, "%s: %s", path, serr->msg[0] ? serr->msg : g_strerror(-ret));
		return FALSE;
	}
	vm.t.written = rl_cpr_now_ns();
	return TRUE;
}

static gboolean migrate_run(gpointer opaque)
{
	g_autofree char *path = pending_path;
	struct rl_stream_saver *s = pending_saver;
	struct rl_error *err = &saver_err;
	g_autoptr(RlCprState) st = NULL;
	GError *e = NULL;
	bool was_running = rl_run_state_is_running(vm.run);
	int ret;

	pending_path = NULL;
	pending_saver = NULL;
	pending_source = 0;
	memset(&vm.t, 0, sizeof(vm.t));

	/* Everything that can happen before the stop does. */
	for (unsigned i = 0; i < vm.blobs->len; i++)
		state_blob_reseed(g_ptr_array_index(vm.blobs, i));
	if (vm.params.mode == RL_MODE_CPR_EXEC) {
		st = cpr_table_begin(path, &e);
		if (!st) {
			rl_stream_save_abort(s);
			fail(path, e);
			return G_SOURCE_REMOVE;
		}
	}
	machine_set_status(RL_MIG_ACTIVE);
	if (!migrate_stop_and_save(s, path, err, &e))
		goto resume;

	if (st) {
		char **argv = vm.params.cpr_exec_command;

		if (!cpr_table_finish(st, &e)) {
			unlink(path);
			goto resume;
		}
		machine_set_status(RL_MIG_COMPLETED);
		monitors->flush_all();
		ret = rl_cpr_exec(st, argv, NULL, err);
		/* Still here: the exec failed and rl_cpr_exec() undid everything. */
		unlink(path);
		vm_error(&e, "cannot execute cpr-exec-command '%s': %s", argv[0],
			 err->msg[0] ? err->msg : g_strerror(-ret));
		goto resume;
	}
	/* normal and cpr-reboot: the state is on disk, the guest stays stopped */
	machine_set_run(RL_RUN_POSTMIGRATE);
	machine_set_status(RL_MIG_COMPLETED);
	return G_SOURCE_REMOVE;

resume:
	memset(&vm.t, 0, sizeof(vm.t));
	if (was_running)
		machine_resume();
	else
		machine_set_run(RL_RUN_PAUSED);
	fail(path, e);
	return G_SOURCE_REMOVE;
}

/* A writer that could not use io_uring says so once per process. */
static void report_fallback(const struct rl_writer *w)
{
	static bool reported;
	int reason = rl_writer_fallback_reason(w);

	if (reported || rl_writer_backend(w) != RL_IO_FALLBACK || !reason)
		return;
	reported = true;
	fprintf(stderr, "relive-vm: io_uring cannot be used (%s); the state is written with pwritev\n",
		g_strerror(-reason));
}

/*
 * A RAM section (its descriptor and page bitmap, up to 256 KiB for big
 * blocks) has to fit in one stream buffer: beyond about 3.8 GiB of RAM in a
 * block the default 128 KiB buffers are too small. Return: 0 (the default
 * will do) or the buffer size to ask for.
 */
static size_t stream_buf_size(void)
{
	size_t need = RL_STREAM_BUF_SIZE, bsz = RL_STREAM_BUF_SIZE;

	for (unsigned i = 0; i < vm.mem.reg.count; i++) {
		uint64_t bm = vm.mem.reg.blocks[i].size / (4096 * 8);
		size_t n = (size_t)MIN(bm, 256u * 1024) + 64 + 4160;

		need = MAX(need, n);
	}
	while (bsz < need)
		bsz *= 2;
	return bsz == RL_STREAM_BUF_SIZE ? 0 : bsz;
}

gboolean migrate_start(const char *path, GError **errp)
{
	struct rl_stream_save_opts so = { 0 };
	int ret;

	/* An unwritable file is refused here, while the guest runs. */
	memset(&saver_err, 0, sizeof(saver_err));
	so.mode = vm.params.mode;
	so.ignore_shared = vm.params.caps[RL_CAP_X_IGNORE_SHARED];
	so.io.force_fallback = vm.writer_fallback;
	so.io.buf_size = stream_buf_size();
	/*
	 * As QEMU, x-ignore-shared keeps only RAM a restarted process can open
	 * again by name: a memfd dies with this process, so its pages are written.
	 */
	for (unsigned i = 0; vm.params.mode == RL_MODE_CPR_REBOOT && i < vm.mem.reg.count; i++)
		if (vm.mem.reg.blocks[i].shared && vm.mem.reg.blocks[i].backing != RL_RAM_FILE)
			so.ignore_shared = false;
	/* a file that outlives this process is on disk when migrate completes */
	so.io.sync = vm.params.mode == RL_MODE_NORMAL || vm.params.mode == RL_MODE_CPR_REBOOT;
	ret = rl_stream_save_begin(&pending_saver, path, &so, &saver_err);
	if (ret < 0) {
		vm_error(errp, "%s: %s", path, saver_err.msg[0] ? saver_err.msg : g_strerror(-ret));
		return FALSE;
	}
	report_fallback(rl_stream_save_writer(pending_saver));
	pending_path = g_strdup(path);
	/* the rest after the command's reply has been written */
	pending_source = g_idle_add(migrate_run, NULL);
	return TRUE;
}

gboolean migrate_cancel_pending(void)
{
	if (!pending_source)
		return FALSE;
	g_source_remove(pending_source);
	pending_source = 0;
	g_clear_pointer(&pending_path, g_free);
	rl_stream_save_abort(pending_saver);
	pending_saver = NULL;
	return TRUE;
}

/* ---------------------------------------------------------------- incoming */

gboolean cpr_incoming_begin(GError **errp)
{
	struct rl_error err = { { 0 } };
	const char *tt = getenv(RL_CPR_TRAMPOLINE_ENV);
	int ret;

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
		g_clear_pointer(&cpr, rl_cpr_state_free);
		return TRUE;
	}
	if (ret < 0) {
		vm_error(errp, "CPR state (%s): %s", RL_CPR_ENV,
			 err.msg[0] ? err.msg : g_strerror(-ret));
		g_clear_pointer(&cpr, rl_cpr_state_free);
		return FALSE;
	}
	rl_cpr_time_get(cpr, "stop-request", &vm.t.stop);
	rl_cpr_time_get(cpr, RL_CPR_T_STOP, &vm.t.stopped);
	rl_cpr_time_get(cpr, RL_CPR_T_STATE, &vm.t.written);
	return TRUE;
}

void cpr_incoming_set(struct rl_cpr_state *s)
{
	rl_cpr_state_free(cpr);
	cpr = s;
}

gboolean cpr_incoming(void)
{
	return cpr != NULL;
}

int cpr_ram_fd(const char *name, void *opaque)
{
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
		return -1;
	}
	return fd;
}

/* The old binary, through the rollback command, with the same CPR state. */
static void rollback(void)
{
	struct rl_cpr_exec_opts opts = { .no_holder = true };
	struct rl_error err = { { 0 } };
	GPtrArray *argv;
	uint64_t done = 0;
	const char *p;

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

/*
 * After a cpr-exec update the monitors module loads once the guest runs
 * again (monitors.h). When it cannot, this process cannot be managed: it
 * hands the guest back to the old binary the way an update would, by
 * stopping it, saving its state again and executing the rollback command.
 * If even that fails the guest keeps running here, without monitors.
 */
static void incoming_undo(const char *path, GError *why)
{
	struct rl_stream_save_opts so = { .mode = RL_MODE_CPR_EXEC };
	struct rl_stream_saver *s = NULL;
	bool was_running = rl_run_state_is_running(vm.run);
	GError *e = NULL;
	int ret;

	fprintf(stderr, "relive-vm: %s\n", why->message);
	g_error_free(why);
	so.io.buf_size = stream_buf_size();
	memset(&saver_err, 0, sizeof(saver_err));
	ret = rl_stream_save_begin(&s, path, &so, &saver_err);
	if (ret < 0)
		vm_error(&e, "%s: %s", path, saver_err.msg[0] ? saver_err.msg : g_strerror(-ret));
	else if (migrate_stop_and_save(s, path, &saver_err, &e))
		rollback(); /* returns only if it failed, having said why */
	if (e)
		fprintf(stderr, "relive-vm: cannot save the state for the rollback: %s\n",
			e->message);
	g_clear_error(&e);
	fprintf(stderr, "relive-vm: the guest stays in this process, without monitors\n");
	if (was_running)
		machine_resume();
	else
		machine_set_run(RL_RUN_PAUSED);
}

void incoming_load(const char *path)
{
	GError *e = NULL;
	bool was_running = false;

	if (!machine_load(path, &was_running, &e)) {
		fprintf(stderr, "relive-vm: cannot load the incoming state: %s\n", e->message);
		g_error_free(e);
		rollback();
		exit(1);
	}
	vm.t.loaded = rl_cpr_now_ns();
	/*
	 * "resumed" is the release of the vCPU threads: taken before it, as
	 * afterwards this thread may well wait behind the vCPUs for a CPU.
	 */
	if (was_running) {
		machine_set_run(RL_RUN_RUNNING);
		vm.t.resumed = rl_cpr_now_ns();
		/* the vCPUs take the CPU first: monitors and the rest can wait */
		cpus_resume_handoff(&vm.cpus, CPUS_HANDOFF_US);
	} else {
		machine_set_run(RL_RUN_PAUSED);
		vm.t.resumed = rl_cpr_now_ns();
	}
	vm.status = RL_MIG_COMPLETED;
	if (!monitors_load(&e))
		incoming_undo(path, e);
	if (vm.loop) /* -incoming defer: the monitors exist already */
		cpr_incoming_finish();
}

void cpr_incoming_finish(void)
{
	machine_load_release();
	if (vm.run == RL_RUN_RUNNING)
		monitors_event("RESUME");
	monitors_event_migration("completed");
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
	int ret = monitors->cpr_restore((const struct rl_cpr_table *)cpr);

	monitors_adopted = ret == 0;

	if (ret < 0) {
		vm_error(errp, "taking the monitor and serial sockets over: %s", g_strerror(-ret));
		return FALSE;
	}
	return TRUE;
}
