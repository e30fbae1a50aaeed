// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpr-transfer in the update sequence (update.h), both ends. While the
 * guest runs, the old process hands the CPR state and the RAM memfds over
 * the cpr socket; the new process maps the RAM, creates the VM, its memory
 * slots and vCPUs, and only then closes the cpr socket. So none of that is
 * in the pause: the old process stops the guest when it sees the socket
 * close, writes its state stream to a private file, sends the stream's
 * bytes on the main socket and waits for the ack (READY). The new process
 * loads the stream with the file loader. Then the commit (docs/modes.md):
 * whoever holds the guest's lock runs the guest.
 *
 * An older old process sends the CPR state after the stop and waits for the
 * close the same way; an older new process closes the cpr socket as soon as
 * it has read it. Either way both sides still meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "update/transfer.h"
#include "machine/machine.h"
#include "update/update.h"
#include "monitors/monitors.h"
#include "relive/cpr-transfer.h"
#include "vm-error.h"

#define TIMEOUT_MS RL_CPR_TRANSFER_TIMEOUT_MS

/* The commit (docs/modes.md): after the new process's ack (READY). */
#define MSG_GO 'G'	/* old to new: the guest is yours if you can lock it */
#define MSG_TAKEN 'T'	/* new to old: locked; resuming */

/*
 * GO carries the old process's times of the pause, which the CPR state,
 * sent before the stop, cannot: one send(), so they arrive with the 'G'.
 * A new process that does not know them reads the 'G' and no further.
 */
#define GO_TIMES_MAGIC 0x54474c52u /* "RLGT" */
struct go_times {
	uint32_t magic;
	uint64_t stop_request;
	uint64_t stopped;
	uint64_t written;
} __attribute__((packed));

/* ------------------------------------------------------------ the commit */

/*
 * The guest's lock: flock() on the first RAM memfd, opened anew so that
 * each process has its own open file description. Only the process that
 * holds it may run the vCPUs once a cpr-transfer began; the kernel decides
 * who gets it, so the two processes cannot both win, whatever the timing.
 */
static int guest_lock_fd = -1;

static int guest_lock(void)
{
	if (guest_lock_fd < 0) {
		for (unsigned i = 0; i < vm.mem.reg.count && guest_lock_fd < 0; i++) {
			g_autofree char *p = NULL;

			if (vm.mem.reg.blocks[i].fd < 0)
				continue;
			p = g_strdup_printf("/proc/self/fd/%d", vm.mem.reg.blocks[i].fd);
			guest_lock_fd = open(p, O_RDONLY | O_CLOEXEC);
			if (guest_lock_fd < 0)
				return -errno;
		}
		if (guest_lock_fd < 0)
			return -ENOENT;
	}
	return flock(guest_lock_fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
}

static void guest_unlock(void)
{
	if (guest_lock_fd >= 0)
		flock(guest_lock_fd, LOCK_UN);
}

gboolean transfer_may_run(void)
{
	/* never part of a cpr-transfer, or the lock is (again) this process's */
	return guest_lock_fd < 0 || guest_lock() == 0;
}

/*
 * A test holds a step back: RELIVE_VM_TEST_DELAY=STEP:MS (tests/vm,
 * transfer-commit). Nothing else reads it.
 */
static void test_delay(const char *step)
{
	const char *v = getenv("RELIVE_VM_TEST_DELAY");
	size_t n = strlen(step);

	if (v && !strncmp(v, step, n) && v[n] == ':')
		g_usleep(g_ascii_strtoull(v + n + 1, NULL, 10) * 1000);
}

/* One message in one send(): it arrives whole or not at all. */
static int send_msg(int sock, const void *msg, size_t len)
{
	struct pollfd p = { sock, POLLOUT, 0 };

	if (poll(&p, 1, TIMEOUT_MS) != 1)
		return -ETIMEDOUT;
	return send(sock, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len ? 0 : -errno;
}

static int send_byte(int sock, char c)
{
	return send_msg(sock, &c, 1);
}

/* Return: the byte, -EPIPE (closed), -ETIMEDOUT or -errno. */
static int recv_byte(int sock, int timeout_ms)
{
	struct pollfd p = { sock, POLLIN, 0 };
	char c;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	n = recv(sock, &c, 1, MSG_DONTWAIT);
	if (n == 1)
		return (unsigned char)c;
	return n == 0 ? -EPIPE : -errno;
}

static gboolean set_nonblock(int fd, GError **errp)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		vm_error(errp, "socket: %s", g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* ------------------------------------------------------------ -incoming */

gboolean incoming_parse(GPtrArray *incoming, struct incoming_spec *in, GError **errp)
{
	memset(in, 0, sizeof(*in));
	for (unsigned i = 0; i < incoming->len; i++) {
		const char *a = g_ptr_array_index(incoming, i);
		gboolean main_seen = in->defer || in->file || in->unix_path;

		if (a[0] == '{') {
			/* JSON is the monitors' */
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
static int cpr_sock = -1;	/* closed once this process is set up */
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
	s = rl_cpr_state_new();
	ret = s ? rl_cpr_transfer_recv(fd, s, TIMEOUT_MS, &err) : -ENOMEM;
	/*
	 * Closing it tells the old process to stop the guest and send the main
	 * channel: transfer_incoming_load() does, once the RAM, the VM and the
	 * vCPUs are made. Until then the old process waits with the guest
	 * running; if this process dies first, the close comes all the same,
	 * and the main channel finds nobody to take the guest.
	 */
	if (ret < 0) {
		close(fd);
		vm_error(errp, "cpr channel %s: %s", in->cpr_path,
			 s ? err.msg : g_strerror(ENOMEM));
		rl_cpr_state_free(s);
		return FALSE;
	}
	rl_cpr_time_get(s, "stop-request", &vm.t.stop);
	rl_cpr_time_get(s, RL_CPR_T_STOP, &vm.t.stopped);
	rl_cpr_time_get(s, RL_CPR_T_STATE, &vm.t.written);
	update_incoming_set_cpr(s);
	cpr_sock = fd;
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
	/*
	 * The old process connects before it stops the guest: the hand-over,
	 * in the pause, starts with the stream's first bytes.
	 */
	{
		struct pollfd p = { main_sock, POLLIN, 0 };

		if (poll(&p, 1, 2 * TIMEOUT_MS) != 1) {
			vm_error(errp, "main channel: the old process sent no state in time");
			return NULL;
		}
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

/* The old process's times of the pause after GO, when it sent them. */
static void recv_go_times(void)
{
	struct go_times gt;

	if (recv(main_sock, &gt, sizeof(gt), MSG_DONTWAIT) == (ssize_t)sizeof(gt) &&
	    gt.magic == GO_TIMES_MAGIC) {
		vm.t.stop = gt.stop_request;
		vm.t.stopped = gt.stopped;
		vm.t.written = gt.written;
	}
}

/*
 * READY (the ack), then GO, then the guest's lock: only with all three is
 * the guest this process's. The old process resumes it if any is missing.
 */
static gboolean in_commit(struct update *u, GError **errp)
{
	struct rl_error err = { { 0 } };
	int ret;

	unlink(u->path);
	test_delay("new-before-ready");
	if (rl_cpr_transfer_ack(main_sock, &err) < 0) {
		vm_error(errp, "main channel: %s", err.msg);
		return FALSE;
	}
	ret = recv_byte(main_sock, TIMEOUT_MS);
	if (ret != MSG_GO) {
		vm_error(errp, "main channel: the old process did not hand the guest over (%s)",
			 ret == -ETIMEDOUT ? "no answer in time" :
			 ret == -EPIPE ? "it closed the channel" :
			 ret < 0 ? g_strerror(-ret) : "unexpected message");
		return FALSE;
	}
	recv_go_times();
	test_delay("new-before-lock");
	ret = guest_lock();
	if (ret < 0) {
		vm_error(errp, "the guest's lock: %s",
			 ret == -EWOULDBLOCK ? "the old process took the guest back" : g_strerror(-ret));
		return FALSE;
	}
	test_delay("new-before-taken");
	/* the old process learns it from the lock as well: a lost TAKEN is no harm */
	send_byte(main_sock, MSG_TAKEN);
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
	/* set up: the old process may stop the guest now */
	test_delay("new-setup");
	if (cpr_sock >= 0)
		close(cpr_sock);
	cpr_sock = -1;
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

/* The new process must be listening, and is set up, while the guest runs. */
static gboolean out_prepare(struct update *u, GError **errp)
{
	struct transfer_out *t = u->priv;
	struct rl_error err = { { 0 } };

	int ret;

	if (rl_cpr_transfer_connect(t->cpr_path, 0, &t->csock, &err) < 0) {
		vm_error(errp, "cpr channel: %s (is the new relive-vm started with -incoming cpr:unix:%s?)",
			 err.msg, t->cpr_path);
		return FALSE;
	}
	ret = guest_lock();
	if (ret < 0) {
		vm_error(errp, "the guest's lock: %s",
			 ret == -EWOULDBLOCK ? "another process holds it" : g_strerror(-ret));
		return FALSE;
	}
	if (!set_nonblock(t->csock, errp))
		return FALSE;
	/*
	 * The new process sets up from the CPR state (RAM, VM, memory slots,
	 * vCPUs) and then closes the channel: all of it while the guest runs.
	 */
	ret = rl_cpr_transfer_send(t->csock, u->cpr, TIMEOUT_MS, &err);
	if (ret == 0)
		ret = rl_cpr_transfer_wait_hup(t->csock, TIMEOUT_MS, &err);
	if (ret < 0) {
		vm_error(errp, "cpr channel %s: %s", t->cpr_path, err.msg);
		return FALSE;
	}
	/* a new process that died setting up closed the channel too: its main socket is gone */
	ret = rl_cpr_transfer_connect(t->main_path, TIMEOUT_MS, &t->msock, &err);
	if (ret < 0) {
		vm_error(errp, "main channel: %s (the new process did not set up)", err.msg);
		return FALSE;
	}
	/* sendfile() on a blocking socket would wait for a peer that stopped reading */
	return set_nonblock(t->msock, errp);
}

static int send_go(int sock)
{
	char msg[1 + sizeof(struct go_times)] = { MSG_GO };
	struct go_times gt = { GO_TIMES_MAGIC, vm.t.stop, vm.t.stopped, vm.t.written };

	memcpy(msg + 1, &gt, sizeof(gt));
	return send_msg(sock, msg, sizeof(msg));
}

/*
 * After READY: GO, then TAKEN or the lock decides. TRUE: the guest is the
 * new process's; FALSE: this process holds the lock again and resumes.
 */
static gboolean out_commit(struct transfer_out *t, GError **errp)
{
	int ret;

	test_delay("old-before-go");
	guest_unlock();
	ret = send_go(t->msock);
	if (ret == 0) {
		test_delay("old-after-go");
		ret = recv_byte(t->msock, TIMEOUT_MS);
		if (ret == MSG_TAKEN)
			return TRUE;
	}
	/* no TAKEN: whoever gets the lock runs the guest */
	if (guest_lock() < 0) {
		fprintf(stderr, "relive-vm: cpr-transfer: no answer after the hand-over, but the new process holds the guest's lock: it runs the guest\n");
		return TRUE;
	}
	vm_error(errp, "main channel %s: the new process did not take the guest (%s)",
		 t->main_path, ret == -ETIMEDOUT ? "no answer in time" :
		 ret == -EPIPE ? "it closed the channel" :
		 ret < 0 ? g_strerror(-ret) : "unexpected message");
	return FALSE;
}

static gboolean out_hand_over(struct update *u, GError **errp)
{
	struct transfer_out *t = u->priv;
	struct rl_error err = { { 0 } };
	struct stat sb;
	int fd, ret;

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
	return out_commit(t, errp);
}

static void out_done(struct update *u)
{
	struct transfer_out *t = u->priv;

	if (t->msock >= 0)
		close(t->msock);
	if (t->csock >= 0)
		close(t->csock);
	unlink(u->path);
	{
		g_autofree char *dir = g_path_get_dirname(u->path);

		/* the writer's temporary file first, if the stop never came */
		g_clear_pointer(&u->saver, rl_stream_save_abort);
		rmdir(dir);
	}
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
	struct transfer_out *t;
	g_autofree char *dir = g_build_filename(g_get_tmp_dir(), "relive-transfer-XXXXXX", NULL);
	g_autofree char *state = NULL;

	/* a private directory (0700, a name nobody can guess) for the stream */
	if (!g_mkdtemp_full(dir, 0700)) {
		vm_error(errp, "%s: %s", dir, g_strerror(errno));
		return FALSE;
	}
	state = g_build_filename(dir, "vm.state", NULL);
	t = g_new0(struct transfer_out, 1);
	t->main_path = g_strdup(main_path_);
	t->cpr_path = g_strdup(cpr_path);
	t->csock = t->msock = -1;
	if (!update_start(&update_transfer_ops, state, main_path_, t, errp)) {
		rmdir(dir);
		g_free(t->main_path);
		g_free(t->cpr_path);
		g_free(t);
		return FALSE;
	}
	return TRUE;
}
