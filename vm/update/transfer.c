// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpr-transfer in relive-vm, both ends. The old process stops the guest,
 * writes its state stream to a private file, hands the CPR state and the RAM
 * memfds over the cpr socket, waits for the new process to close it, sends
 * the stream's bytes on the main socket and waits for the ack; any failure
 * or timeout resumes the guest. The new process reads the cpr channel before
 * it creates anything and loads the stream with the file loader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "update/transfer.h"
#include "machine/machine.h"
#include "update/migrate.h"
#include "monitors/monitors.h"
#include "relive/cpr-transfer.h"
#include "vm-error.h"

#define TIMEOUT_MS RL_CPR_TRANSFER_TIMEOUT_MS

/* ------------------------------------------------------------ -incoming */

gboolean incoming_parse(GPtrArray *incoming, struct incoming_spec *in, GError **errp)
{
	memset(in, 0, sizeof(*in));
	for (unsigned i = 0; i < incoming->len; i++) {
		const char *a = g_ptr_array_index(incoming, i);
		gboolean main_seen = in->defer || in->file || in->unix_path;

		if (a[0] == '{') {
			/* JSON is the module's */
			if (!monitors_load(errp) || !monitors->parse_channel(a, in, errp))
				return FALSE;
			if (main_seen && (in->defer + !!in->file + !!in->unix_path) > 1)
				goto twice;
			continue;
		}
		if (g_str_has_prefix(a, "cpr:")) {
			if (!g_str_has_prefix(a + 4, "unix:") || !a[9]) {
				vm_error(errp, "-incoming %s: the cpr channel must be a unix socket (cpr:unix:PATH)",
					 a);
				return FALSE;
			}
			g_free(in->cpr_path);
			in->cpr_path = g_strdup(a + 9);
			continue;
		}
		if (main_seen)
			goto twice;
		if (!strcmp(a, "defer"))
			in->defer = TRUE;
		else if (g_str_has_prefix(a, "file:"))
			in->file = g_strdup(a + 5);
		else if (g_str_has_prefix(a, "unix:"))
			in->unix_path = g_strdup(a + 5);
		else {
			vm_error(errp, "-incoming %s: expected file:PATH, unix:PATH, defer, cpr:unix:PATH or a JSON channel",
				 a);
			return FALSE;
		}
	}
	if (in->cpr_path && !in->unix_path) {
		vm_error(errp, "-incoming: a cpr channel (cpr-transfer) needs a unix:PATH main channel");
		return FALSE;
	}
	if (in->unix_path && !in->cpr_path) {
		vm_error(errp, "-incoming unix:%s: relive-vm takes a unix main channel in cpr-transfer only: add the cpr channel (-incoming cpr:unix:PATH)",
			 in->unix_path);
		return FALSE;
	}
	return TRUE;
twice:
	vm_error(errp, "-incoming: more than one main channel");
	return FALSE;
}

/* ------------------------------------------------------------ new process */

static int main_lfd = -1;
static char *main_path;

gboolean transfer_incoming_begin(const struct incoming_spec *in, GError **errp)
{
	struct rl_error err = { { 0 } };
	struct rl_cpr_state *s;
	int lfd = -1, fd = -1, ret;

	/* the main channel listens first: the old process connects to it later */
	ret = rl_cpr_transfer_listen(in->unix_path, &main_lfd, &err);
	if (ret < 0) {
		vm_error(errp, "-incoming unix:%s: %s", in->unix_path, err.msg);
		return FALSE;
	}
	main_path = g_strdup(in->unix_path);
	ret = rl_cpr_transfer_listen(in->cpr_path, &lfd, &err);
	if (ret < 0) {
		vm_error(errp, "-incoming cpr:unix:%s: %s", in->cpr_path, err.msg);
		return FALSE;
	}
	/* the user starts this process before migrate: wait as long as it takes */
	ret = rl_cpr_transfer_accept(lfd, -1, &fd, &err);
	close(lfd);
	unlink(in->cpr_path);
	if (ret < 0) {
		vm_error(errp, "cpr channel %s: %s", in->cpr_path, err.msg);
		return FALSE;
	}
	s = rl_cpr_state_new();
	ret = s ? rl_cpr_transfer_recv(fd, s, TIMEOUT_MS, &err) : -ENOMEM;
	/* closing it is what tells the old process to send the main channel */
	close(fd);
	if (ret < 0) {
		vm_error(errp, "cpr channel %s: %s", in->cpr_path,
			 s ? err.msg : g_strerror(ENOMEM));
		rl_cpr_state_free(s);
		return FALSE;
	}
	rl_cpr_time_get(s, "stop-request", &vm.t.stop);
	rl_cpr_time_get(s, RL_CPR_T_STOP, &vm.t.stopped);
	rl_cpr_time_get(s, RL_CPR_T_STATE, &vm.t.written);
	cpr_incoming_set(s);
	return TRUE;
}

static G_NORETURN void incoming_fail(const char *what, const char *msg)
{
	fprintf(stderr, "relive-vm: cpr-transfer: %s: %s; the old process resumes the guest\n",
		what, msg);
	if (main_path)
		unlink(main_path);
	exit(1);
}

void transfer_incoming_load(void)
{
	g_autofree char *path = g_build_filename(g_get_tmp_dir(), "relive-incoming-XXXXXX", NULL);
	struct rl_error err = { { 0 } };
	GError *e = NULL;
	bool was_running = false;
	uint64_t size = 0;
	int sock = -1, fd, ret;

	ret = rl_cpr_transfer_accept(main_lfd, 2 * TIMEOUT_MS, &sock, &err);
	close(main_lfd);
	main_lfd = -1;
	if (ret < 0)
		incoming_fail("main channel", err.msg);
	vm.t.main = rl_cpr_now_ns();
	fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		incoming_fail(path, g_strerror(errno));
	ret = rl_cpr_transfer_recv_file(sock, fd, &size, TIMEOUT_MS, &err);
	close(fd);
	if (ret < 0) {
		unlink(path);
		incoming_fail("main channel", err.msg);
	}
	vm.state_size = size;
	if (!machine_load(path, &was_running, &e)) {
		unlink(path);
		incoming_fail("cannot load the incoming state", e->message);
	}
	unlink(path);
	vm.t.loaded = rl_cpr_now_ns();
	/* from here on the guest is this process's */
	if (rl_cpr_transfer_ack(sock, &err) < 0)
		incoming_fail("main channel", err.msg);
	close(sock);
	unlink(main_path);
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
}

/* ------------------------------------------------------------ old process */

static char *out_main, *out_cpr, *out_state;
static struct rl_stream_saver *out_saver;
static struct rl_error out_err;

static void fail(GError *e)
{
	g_free(vm.error_desc);
	vm.error_desc = g_strdup(e->message);
	fprintf(stderr, "relive-vm: cpr-transfer to %s failed: %s\n", out_main, e->message);
	machine_set_status(RL_MIG_FAILED);
	g_error_free(e);
}

static struct rl_cpr_state *table_new(GError **errp)
{
	struct rl_cpr_state *s = rl_cpr_state_new();

	if (!s) {
		vm_error(errp, "CPR state: %s", g_strerror(ENOMEM));
		return NULL;
	}
	rl_cpr_state_set_mode(s, RL_MODE_CPR_TRANSFER);
	for (unsigned i = 0; i < vm.mem.reg.count; i++) {
		struct rl_ram_block *b = &vm.mem.reg.blocks[i];
		int ret;

		if (b->backing != RL_RAM_MEMFD)
			continue; /* file backends are reopened by path */
		ret = rl_cpr_add_fd(s, b->name, 0, b->fd);
		if (ret < 0) {
			vm_error(errp, "CPR fd table: RAM block %s (fd %d): %s", b->name, b->fd,
				 g_strerror(-ret));
			rl_cpr_state_free(s);
			return NULL;
		}
	}
	return s;
}

static gboolean transfer_run(gpointer opaque)
{
	g_autoptr(RlCprState) st = NULL;
	struct rl_stream_saver *saver = out_saver;
	struct rl_error err = { { 0 } };
	bool was_running = rl_run_state_is_running(vm.run);
	int csock = -1, msock = -1, fd = -1, ret;
	struct stat sb;
	GError *e = NULL;

	out_saver = NULL;
	memset(&vm.t, 0, sizeof(vm.t));
	for (unsigned i = 0; i < vm.blobs->len; i++)
		state_blob_reseed(g_ptr_array_index(vm.blobs, i));
	st = table_new(&e);
	if (!st) {
		rl_stream_save_abort(saver);
		goto failed;
	}
	/* the new process must be listening: checked while the guest runs */
	ret = rl_cpr_transfer_connect(out_cpr, 0, &csock, &err);
	if (ret < 0) {
		vm_error(&e, "cpr channel: %s (is the new relive-vm started with -incoming cpr:unix:%s?)",
			 err.msg, out_cpr);
		rl_stream_save_abort(saver);
		goto failed;
	}
	machine_set_status(RL_MIG_ACTIVE);

	if (!migrate_stop_and_save(saver, out_state, &out_err, &e))
		goto resume;
	rl_cpr_time_set(st, "stop-request", vm.t.stop);
	rl_cpr_time_set(st, RL_CPR_T_STOP, vm.t.stopped);
	rl_cpr_time_set(st, RL_CPR_T_STATE, vm.t.written);

	ret = rl_cpr_transfer_send(csock, st, TIMEOUT_MS, &err);
	if (ret == 0)
		ret = rl_cpr_transfer_wait_hup(csock, TIMEOUT_MS, &err);
	if (ret < 0) {
		vm_error(&e, "cpr channel %s: %s", out_cpr, err.msg);
		goto resume;
	}
	ret = rl_cpr_transfer_connect(out_main, TIMEOUT_MS, &msock, &err);
	if (ret < 0) {
		vm_error(&e, "main channel: %s", err.msg);
		goto resume;
	}
	fd = open(out_state, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		vm_error(&e, "%s: %s", out_state, g_strerror(errno));
		goto resume;
	}
	if (fstat(fd, &sb) < 0) {
		vm_error(&e, "%s: %s", out_state, g_strerror(errno));
		goto resume;
	}
	vm.state_size = sb.st_size; /* the footer included */
	ret = rl_cpr_transfer_send_file(msock, fd, sb.st_size, TIMEOUT_MS, &err);
	if (ret == 0)
		ret = rl_cpr_transfer_wait_ack(msock, TIMEOUT_MS, &err);
	if (ret < 0) {
		vm_error(&e, "main channel %s: %s", out_main, err.msg);
		goto resume;
	}
	close(fd);
	close(msock);
	close(csock);
	unlink(out_state);
	machine_set_run(RL_RUN_POSTMIGRATE);
	machine_set_status(RL_MIG_COMPLETED);
	return G_SOURCE_REMOVE;

resume:
	if (fd >= 0)
		close(fd);
	if (msock >= 0)
		close(msock);
	close(csock);
	unlink(out_state);
	memset(&vm.t, 0, sizeof(vm.t));
	if (was_running)
		machine_resume();
	else
		machine_set_run(RL_RUN_PAUSED);
failed:
	fail(e);
	return G_SOURCE_REMOVE;
}

gboolean transfer_start(const char *main_path_, const char *cpr_path, GError **errp)
{
	struct rl_stream_save_opts so = { 0 };
	int ret;

	g_free(out_main);
	g_free(out_cpr);
	g_free(out_state);
	out_main = g_strdup(main_path_);
	out_cpr = g_strdup(cpr_path);
	out_state = g_strdup_printf("%s/relive-transfer-%d.state", g_get_tmp_dir(), getpid());
	memset(&out_err, 0, sizeof(out_err));
	so.mode = RL_MODE_CPR_TRANSFER;
	so.ignore_shared = vm.params.caps[RL_CAP_X_IGNORE_SHARED];
	so.io.force_fallback = vm.writer_fallback;
	ret = rl_stream_save_begin(&out_saver, out_state, &so, &out_err);
	if (ret < 0) {
		vm_error(errp, "%s: %s", out_state, out_err.msg[0] ? out_err.msg : g_strerror(-ret));
		return FALSE;
	}
	g_idle_add(transfer_run, NULL);
	return TRUE;
}
