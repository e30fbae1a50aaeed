// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpr-transfer in the update sequence (update.h), both ends. The old process
 * stops the guest, writes its state stream to a private file, hands the CPR
 * state and the RAM memfds over the cpr socket, waits for the new process
 * to close it, sends the stream's bytes on the main socket and waits for
 * the ack; any failure or timeout resumes the guest. The new process reads
 * the cpr channel before it creates anything and loads the stream with the
 * file loader.
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
#include "update/update.h"
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
static int main_sock = -1;

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
	s = g_new0(struct rl_cpr_state, 1);
	ret = rl_cpr_transfer_recv(fd, s, TIMEOUT_MS, &err);
	/* closing it is what tells the old process to send the main channel */
	close(fd);
	if (ret < 0) {
		vm_error(errp, "cpr channel %s: %s", in->cpr_path, err.msg);
		g_free(s);
		return FALSE;
	}
	rl_cpr_time_get(s, "stop-request", &vm.t.stop);
	rl_cpr_time_get(s, RL_CPR_T_STOP, &vm.t.stopped);
	rl_cpr_time_get(s, RL_CPR_T_STATE, &vm.t.written);
	cpr_incoming_set(s);
	return TRUE;
}

/* The stream from the main channel into a private file. */
static char *in_receive(struct update *u, GError **errp)
{
	g_autofree char *path = g_build_filename(g_get_tmp_dir(), "relive-incoming-XXXXXX", NULL);
	struct rl_error err = { { 0 } };
	uint64_t size = 0;
	int fd, ret;

	ret = rl_cpr_transfer_accept(main_lfd, 2 * TIMEOUT_MS, &main_sock, &err);
	close(main_lfd);
	main_lfd = -1;
	if (ret < 0) {
		vm_error(errp, "main channel: %s", err.msg);
		return NULL;
	}
	vm.t.main = rl_cpr_now_ns();
	fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		vm_error(errp, "%s: %s", path, g_strerror(errno));
		return NULL;
	}
	ret = rl_cpr_transfer_recv_file(main_sock, fd, &size, TIMEOUT_MS, &err);
	close(fd);
	if (ret < 0) {
		unlink(path);
		vm_error(errp, "main channel: %s", err.msg);
		return NULL;
	}
	vm.state_size = size;
	return g_steal_pointer(&path);
}

/* From here on the guest is this process's. */
static gboolean in_commit(struct update *u, GError **errp)
{
	struct rl_error err = { { 0 } };

	unlink(u->path);
	if (rl_cpr_transfer_ack(main_sock, &err) < 0) {
		vm_error(errp, "main channel: %s", err.msg);
		return FALSE;
	}
	close(main_sock);
	main_sock = -1;
	unlink(main_path);
	return TRUE;
}

/* Nothing to do but go: the old process resumes the guest. */
static void in_give_back(struct update *u)
{
	if (u->path)
		unlink(u->path);
	if (main_path)
		unlink(main_path);
	fprintf(stderr, "relive-vm: cpr-transfer: the old process resumes the guest\n");
}

void transfer_incoming_load(void)
{
	update_incoming(&update_transfer_ops, NULL, NULL);
}

/* ------------------------------------------------------------ old process */

/*
 * struct transfer_out - the old process's side of one cpr-transfer.
 * @main_path, @cpr_path: the new process's sockets
 * @csock, @msock: connected to them
 */
struct transfer_out {
	char *main_path;
	char *cpr_path;
	int csock;
	int msock;
};

/* The new process must be listening: checked while the guest runs. */
static gboolean out_prepare(struct update *u, GError **errp)
{
	struct transfer_out *t = u->priv;
	struct rl_error err = { { 0 } };

	if (rl_cpr_transfer_connect(t->cpr_path, 0, &t->csock, &err) < 0) {
		vm_error(errp, "cpr channel: %s (is the new relive-vm started with -incoming cpr:unix:%s?)",
			 err.msg, t->cpr_path);
		return FALSE;
	}
	return TRUE;
}

static gboolean out_hand_over(struct update *u, GError **errp)
{
	struct transfer_out *t = u->priv;
	struct rl_error err = { { 0 } };
	struct stat sb;
	int fd, ret;

	ret = rl_cpr_transfer_send(t->csock, u->cpr, TIMEOUT_MS, &err);
	if (ret == 0)
		ret = rl_cpr_transfer_wait_hup(t->csock, TIMEOUT_MS, &err);
	if (ret < 0) {
		vm_error(errp, "cpr channel %s: %s", t->cpr_path, err.msg);
		return FALSE;
	}
	ret = rl_cpr_transfer_connect(t->main_path, TIMEOUT_MS, &t->msock, &err);
	if (ret < 0) {
		vm_error(errp, "main channel: %s", err.msg);
		return FALSE;
	}
	fd = open(u->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		vm_error(errp, "%s: %s", u->path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	vm.state_size = sb.st_size; /* the footer included */
	ret = rl_cpr_transfer_send_file(t->msock, fd, sb.st_size, TIMEOUT_MS, &err);
	close(fd);
	if (ret == 0)
		ret = rl_cpr_transfer_wait_ack(t->msock, TIMEOUT_MS, &err);
	if (ret < 0) {
		vm_error(errp, "main channel %s: %s", t->main_path, err.msg);
		return FALSE;
	}
	return TRUE;
}

static void out_done(struct update *u)
{
	struct transfer_out *t = u->priv;

	if (t->msock >= 0)
		close(t->msock);
	if (t->csock >= 0)
		close(t->csock);
	unlink(u->path);
	g_free(t->main_path);
	g_free(t->cpr_path);
	g_free(t);
	u->priv = NULL;
}

const struct update_ops update_transfer_ops = {
	.name = "cpr-transfer",
	.mode = RL_MODE_CPR_TRANSFER,
	.cpr_state = true,
	.prepare = out_prepare,
	.hand_over = out_hand_over,
	.done = out_done,
	.receive = in_receive,
	.commit = in_commit,
	.give_back = in_give_back,
};

gboolean transfer_start(const char *main_path_, const char *cpr_path, GError **errp)
{
	struct transfer_out *t = g_new0(struct transfer_out, 1);
	g_autofree char *state = g_strdup_printf("%s/relive-transfer-%d.state",
						 g_get_tmp_dir(), getpid());

	t->main_path = g_strdup(main_path_);
	t->cpr_path = g_strdup(cpr_path);
	t->csock = t->msock = -1;
	if (!update_start(&update_transfer_ops, state, main_path_, t, errp)) {
		g_free(t->main_path);
		g_free(t->cpr_path);
		g_free(t);
		return FALSE;
	}
	return TRUE;
}
