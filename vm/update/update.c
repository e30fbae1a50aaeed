// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The update sequence (update.h), the same for every mode: the steps, the
 * timestamps of the pause, and the one place where a failure resumes the
 * guest (outgoing) or hands it back (incoming). What differs between modes
 * is in their struct update_ops, which a mode hands to update_start() or
 * update_incoming(): the sequence calls the modes through it and never by
 * name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "machine/machine.h"
#include "monitors/monitors.h"
#include "update/update.h"
#include "vm-error.h"

static struct update *pending;	/* scheduled, not started */
static guint pending_source;
static struct update *incoming;	/* this process's incoming update */
static struct rl_cpr_state *incoming_cpr;
static bool incoming_resumed;	/* the guest runs here: nothing to give back */

/* ---------------------------------------------------------------- common */

static void update_free(struct update *u)
{
	if (!u)
		return;
	if (u->saver)
		rl_stream_save_abort(u->saver);
	g_free(u->path);
	g_free(u->target);
	rl_cpr_state_free(u->cpr);
	g_free(u);
}

/*
 * A RAM section (its descriptor and page bitmap, up to 256 KiB for big
 * blocks) has to fit in one stream buffer: beyond about 3.8 GiB of RAM in a
 * block the default 128 KiB buffers are too small.
 */
size_t update_stream_buf_size(void)
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

static int saver_open(struct update *u, const struct rl_stream_save_opts *so,
		      GError **errp)
{
	int ret;

	memset(&u->serr, 0, sizeof(u->serr));
	ret = rl_stream_save_begin(&u->saver, u->path, so, &u->serr);
	if (ret < 0) {
		u->saver = NULL;
		vm_error(errp, "%s: %s", u->path, u->serr.msg[0] ? u->serr.msg : g_strerror(-ret));
	}
	return ret;
}

gboolean update_stop_and_save(struct update *u, GError **errp)
{
	struct rl_stream_saver *s = u->saver;
	int ret;

	u->saver = NULL; /* committed or aborted below */
	/* its step holds the mmap lock: done before the guest stops, not in the pause */
	memory_populate_stop(&vm.mem);
	vm.t.stop = rl_cpr_now_ns();
	vm.save_running = rl_run_state_is_running(vm.run);
	machine_pause(RL_RUN_FINISH_MIGRATE);
	vm.t.stopped = rl_cpr_now_ns();

	ret = machine_save(s, errp);
	if (ret < 0) {
		g_prefix_error(errp, "%s: ", u->path);
		rl_stream_save_abort(s);
		return FALSE;
	}
	vm.state_size = rl_stream_save_data_bytes(s);
	ret = rl_stream_save_commit(s);
	if (ret < 0) {
		vm_error(errp, "%s: %s", u->path,
			 u->serr.msg[0] ? u->serr.msg : g_strerror(-ret));
		return FALSE;
	}
	vm.t.written = rl_cpr_now_ns();
	return TRUE;
}

/* ---------------------------------------------------------------- outgoing */

static void fail(struct update *u, GError *e)
{
	g_free(vm.error_desc);
	vm.error_desc = g_strdup(e->message);
	fprintf(stderr, "relive-vm: %s to %s failed: %s\n", u->ops->name, u->target,
		e->message);
	machine_set_status(RL_MIG_FAILED);
	g_error_free(e);
}

/* The part of the CPR state known before the stop: the RAM memfds. */
static gboolean cpr_state_begin(struct update *u, GError **errp)
{
	u->cpr = rl_cpr_state_new();
	if (!u->cpr) {
		vm_error(errp, "CPR state: %s", g_strerror(ENOMEM));
		return FALSE;
	}
	rl_cpr_state_set_mode(u->cpr, u->ops->mode);
	if (rl_cpr_set_update_id(u->cpr, &u->id) < 0) {
		vm_error(errp, "CPR state: no room for the update's identity");
		return FALSE;
	}
	for (unsigned i = 0; i < vm.mem.reg.count; i++) {
		struct rl_ram_block *b = &vm.mem.reg.blocks[i];
		int ret;

		if (b->backing != RL_RAM_MEMFD)
			continue; /* file backends are reopened by path */
		ret = rl_cpr_add_fd(u->cpr, b->name, 0, b->fd);
		if (ret < 0) {
			vm_error(errp, "CPR fd table: RAM block %s (fd %d): %s", b->name,
				 b->fd, g_strerror(-ret));
			return FALSE;
		}
	}
	/* the state-blobs' memfds: the stream refers to them */
	for (unsigned i = 0; i < vm.blobs->len; i++) {
		struct state_blob *b = g_ptr_array_index(vm.blobs, i);
		int ret = b->copy ? 0 : rl_cpr_add_fd(u->cpr, b->cpr_name, 0, b->fd);

		if (ret < 0) {
			vm_error(errp, "CPR fd table: state-blob %s (fd %d): %s", b->id, b->fd,
				 g_strerror(-ret));
			return FALSE;
		}
		b->in_cpr = !b->copy;
	}
	return TRUE;
}

/* A failpoint in front of an update step: TRUE with @errp set as the step's own failure. */
#define STEP_FAULT(name, errp) \
	(RL_FAILPOINT(name) ? (vm_error(errp, "%s: %s", name, g_strerror(errno)), TRUE) : FALSE)

static gboolean update_run(gpointer opaque)
{
	struct update *u = pending;
	GError *e = NULL;

	pending = NULL;
	pending_source = 0;
	memset(&vm.t, 0, sizeof(vm.t));
	u->was_running = rl_run_state_is_running(vm.run);

	/* prepare: everything that can happen before the stop does */
	for (unsigned i = 0; i < vm.blobs->len && !e; i++) {
		struct state_blob *b = g_ptr_array_index(vm.blobs, i);
		int ret = state_blob_reseed(b);

		if (ret < 0)
			vm_error(&e, "state-blob %s: cannot refill it for this update: %s", b->id,
				 g_strerror(-ret));
	}
	if (e || STEP_FAULT("update.prepare", &e) || (u->ops->cpr_state && !cpr_state_begin(u, &e)) ||
	    (u->ops->prepare && !u->ops->prepare(u, &e))) {
		if (u->ops->done)
			u->ops->done(u);
		fail(u, e);
		update_free(u);
		return G_SOURCE_REMOVE;
	}
	machine_set_status(RL_MIG_ACTIVE);

	/* stop and save */
	if (!update_stop_and_save(u, &e))
		goto roll_back;
	if (u->cpr) {
		rl_cpr_time_set(u->cpr, "stop-request", vm.t.stop);
		rl_cpr_time_set(u->cpr, RL_CPR_T_STOP, vm.t.stopped);
		rl_cpr_time_set(u->cpr, RL_CPR_T_STATE, vm.t.written);
	}

	/* hand over */
	if (STEP_FAULT("update.hand-over", &e) || (u->ops->hand_over && !u->ops->hand_over(u, &e)))
		goto roll_back;
	if (u->ops->done)
		u->ops->done(u);
	machine_set_run(RL_RUN_POSTMIGRATE);
	machine_set_status(RL_MIG_COMPLETED);
	update_free(u);
	return G_SOURCE_REMOVE;

roll_back:
	if (u->ops->done)
		u->ops->done(u);
	memset(&vm.t, 0, sizeof(vm.t));
	if (u->was_running)
		machine_resume();
	else
		machine_set_run(RL_RUN_PAUSED);
	memory_populate_background(&vm.mem); /* stopped for the pause, not finished */
	fail(u, e);
	update_free(u);
	return G_SOURCE_REMOVE;
}

gboolean update_start(const struct update_ops *ops, const char *path,
		      const char *target, void *priv, GError **errp)
{
	struct rl_stream_save_opts so = { 0 };
	struct update *u;

	if (pending) {
		vm_error(errp, "There's a migration process in progress");
		return FALSE;
	}
	u = g_new0(struct update, 1);
	u->ops = ops;
	u->path = g_strdup(path);
	u->target = g_strdup(target ? target : path);
	u->priv = priv;
	so.mode = ops->mode;
	so.ignore_shared = vm.params.caps[RL_CAP_X_IGNORE_SHARED];
	so.io.force_fallback = vm.writer_fallback;
	so.io.buf_size = update_stream_buf_size();
	so.io.sync = ops->sync;
	/* the stream and the CPR state name the same update */
	if (ops->cpr_state) {
		int ret = rl_update_id_new(&u->id);

		if (ret < 0) {
			vm_error(errp, "an identity for the update: %s", g_strerror(-ret));
			update_free(u);
			return FALSE;
		}
		so.update_id = &u->id;
	}
	/* an unwritable file is refused here, while the guest runs */
	if (saver_open(u, &so, errp) < 0) {
		u->priv = NULL;
		update_free(u);
		return FALSE;
	}
	report_fallback(rl_stream_save_writer(u->saver));
	pending = u;
	/* the rest after the command's reply has been written */
	pending_source = g_idle_add(update_run, NULL);
	return TRUE;
}

gboolean update_cancel_pending(void)
{
	if (!pending_source)
		return FALSE;
	g_source_remove(pending_source);
	pending_source = 0;
	if (pending->ops->done)
		pending->ops->done(pending);
	g_clear_pointer(&pending, update_free);
	return TRUE;
}

/* ---------------------------------------------------------------- incoming */

struct rl_cpr_state *update_incoming_cpr(void)
{
	return incoming_cpr;
}

void update_incoming_set_cpr(struct rl_cpr_state *s)
{
	rl_cpr_state_free(incoming_cpr);
	incoming_cpr = s;
}

static struct update *incoming_new(const struct update_ops *ops, const char *path,
				   void *priv)
{
	struct update *u = g_new0(struct update, 1);

	u->ops = ops;
	u->path = g_strdup(path);
	u->priv = priv;
	u->cpr = NULL; /* incoming_cpr stays this file's */
	return u;
}

static G_NORETURN void give_back(struct update *u, const char *what, const char *msg)
{
	fprintf(stderr, "relive-vm: %s: %s\n", what, msg);
	if (u->ops->give_back)
		u->ops->give_back(u);
	exit(1);
}

void update_incoming_abort(const struct update_ops *ops, const char *why)
{
	if (incoming)
		ops = incoming->ops;
	else
		incoming = incoming_new(ops, NULL, NULL);
	fprintf(stderr, "relive-vm: %s\n", why);
	if (incoming_cpr && !incoming_resumed && ops->give_back)
		ops->give_back(incoming);
}

/*
 * After a cpr-exec update the monitors start once the guest runs again
 * (monitors.h). When they cannot, this process cannot be managed: it
 * hands the guest back the way an update would, by stopping it, saving its
 * state again and giving it back. If even that fails the guest keeps
 * running here, without monitors.
 */
static void incoming_undo(struct update *u, GError *why)
{
	struct rl_stream_save_opts so = { .mode = RL_MODE_CPR_EXEC };
	bool was_running = rl_run_state_is_running(vm.run);
	GError *e = NULL;

	fprintf(stderr, "relive-vm: %s\n", why->message);
	g_error_free(why);
	so.io.buf_size = update_stream_buf_size();
	/* the old binary loads it under the CPR state this process came with */
	if (incoming_cpr && rl_cpr_update_id(incoming_cpr, &u->id) == 0)
		so.update_id = &u->id;
	if (saver_open(u, &so, &e) == 0 && update_stop_and_save(u, &e) && u->ops->give_back)
		u->ops->give_back(u); /* returns only if it failed, having said why */
	if (e)
		fprintf(stderr, "relive-vm: cannot save the state for the rollback: %s\n",
			e->message);
	g_clear_error(&e);
	fprintf(stderr, "relive-vm: the guest stays in this process, without monitors\n");
	if (was_running)
		machine_resume();
	else
		machine_set_run(RL_RUN_PAUSED);
	memory_populate_background(&vm.mem);
}

void update_incoming(const struct update_ops *ops, const char *path, void *priv)
{
	struct update *u = incoming_new(ops, path, priv);
	struct rl_update_id id;
	GError *e = NULL;
	bool was_running = false;

	incoming = u;
	/* receive */
	if (!u->path) {
		u->path = ops->receive(u, &e);
		if (!u->path)
			give_back(u, ops->name, e->message);
	}
	/* load: after an update, that update's stream and no other */
	if (!machine_load(u->path,
			  incoming_cpr && rl_cpr_update_id(incoming_cpr, &id) == 0 ? &id : NULL,
			  &was_running, &e))
		give_back(u, "cannot load the incoming state", e->message);
	vm.t.loaded = rl_cpr_now_ns();
	/* commit */
	if (ops->commit && !ops->commit(u, &e))
		give_back(u, ops->name, e->message);
	/*
	 * resume. "resumed" is the release of the vCPU threads: taken before
	 * it, as afterwards this thread may well wait behind the vCPUs for a CPU.
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
	incoming_resumed = true;
	if (!monitors_load(&e))
		incoming_undo(u, e);
}
