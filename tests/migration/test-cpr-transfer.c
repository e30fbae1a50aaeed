// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of migration/cpr-transfer.c over real unix sockets: the CPR
 * state and its memfds across SCM_RIGHTS (checked on arrival), more fds
 * than one message carries, a descriptor that changed, a malformed header,
 * the timeouts, the main channel's bytes and the ack.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "relive/cpr-transfer.h"

static struct rl_cpr_state *tx, *rx;

/* A new, empty state to send. */
static void fresh_tx(void)
{
	rl_cpr_state_free(tx);
	tx = rl_cpr_state_new();
	assert_non_null(tx);
}

static int memfd(size_t size)
{
	int fd = memfd_create("ram", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_state_and_fds(void **state)
{
	struct rl_error err = { { 0 } };
	struct stat a, b;
	int sv[2], fds[2];

	(void)state;
	pair(sv);
	fresh_tx();
	rl_cpr_state_set_mode(tx, 2);
	fds[0] = memfd(1 << 20);
	fds[1] = memfd(4096);
	assert_int_equal(rl_cpr_add_fd(tx, "ram0", 0, fds[0]), 0);
	assert_int_equal(rl_cpr_add_fd(tx, "ram1", 0, fds[1]), 0);
	assert_int_equal(rl_cpr_time_set(tx, "stop", 42), 0);
	assert_int_equal(rl_cpr_transfer_send(sv[0], tx, 1000, &err), 0);
	assert_int_equal(rl_cpr_transfer_recv(sv[1], rx, 1000, &err), 0);
	assert_int_equal(rl_cpr_fd_count(rx), 2);
	assert_int_equal(rl_cpr_state_mode(rx), 2);
	for (int i = 0; i < 2; i++) {
		int fd = rl_cpr_find_fd(rx, i ? "ram1" : "ram0", 0);

		assert_true(fd >= 0 && fd != fds[i]);
		assert_int_equal(fstat(fd, &a), 0);
		assert_int_equal(fstat(fds[i], &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
		close(fd);
		close(fds[i]);
	}
	{
		uint64_t t = 0;

		assert_int_equal(rl_cpr_time_get(rx, "stop", &t), 0);
		assert_int_equal(t, 42);
	}
	/* the receiver's close is the hang-up the sender waits for */
	close(sv[1]);
	assert_int_equal(rl_cpr_transfer_wait_hup(sv[0], 1000, &err), 0);
	close(sv[0]);
}

/* More descriptors than one SCM_RIGHTS message may carry. */
static void test_many_fds(void **state)
{
	struct rl_error err = { { 0 } };
	int sv[2], fd = memfd(4096);
	enum { N = RL_CPR_MAX_FDS };

	(void)state;
	pair(sv);
	fresh_tx();
	for (int i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "fd%d", i);
		assert_int_equal(rl_cpr_add_fd(tx, name, i, fd), 0);
	}
	/* the socket buffer takes it all: send first, then receive */
	assert_int_equal(rl_cpr_transfer_send(sv[0], tx, 2000, &err), 0);
	assert_int_equal(rl_cpr_transfer_recv(sv[1], rx, 2000, &err), 0);
	assert_int_equal(rl_cpr_fd_count(rx), N);
	for (unsigned i = 0; i < rl_cpr_fd_count(rx); i++)
		close(rl_cpr_fd_at(rx, i, NULL, NULL));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

/* A memfd that shrank after it was registered is refused on arrival. */
static void test_changed_fd(void **state)
{
	struct rl_error err = { { 0 } };
	int sv[2], fd = memfd(1 << 20);

	(void)state;
	pair(sv);
	fresh_tx();
	assert_int_equal(rl_cpr_add_fd(tx, "ram0", 0, fd), 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(rl_cpr_transfer_send(sv[0], tx, 1000, &err), 0);
	assert_int_equal(rl_cpr_transfer_recv(sv[1], rx, 1000, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "ram0"));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void test_bad_header_and_timeouts(void **state)
{
	struct rl_error err = { { 0 } };
	char junk[16] = "GET / HTTP/1.0\r\n";
	int sv[2];

	(void)state;
	pair(sv);
	/* nothing sent: the receiver gives up */
	assert_int_equal(rl_cpr_transfer_recv(sv[1], rx, 50, &err), -ETIMEDOUT);
	/* the peer keeps the channel open: no hang-up */
	assert_int_equal(rl_cpr_transfer_wait_hup(sv[0], 50, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "did not close"));
	assert_int_equal(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(rl_cpr_transfer_recv(sv[1], rx, 1000, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not a relive CPR state"));
	close(sv[0]);
	close(sv[1]);
}

static void test_file_and_ack(void **state)
{
	struct rl_error err = { { 0 } };
	size_t size = 3 << 20 | 123;
	int sv[2], src = memfd(size), dst = memfd(0);
	unsigned char *p, *q;
	uint64_t got = 0;
	pid_t pid;

	(void)state;
	pair(sv);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, src, 0);
	assert_true(p != MAP_FAILED);
	for (size_t i = 0; i < size; i++)
		p[i] = (unsigned char)(i * 7 + (i >> 12));
	/* the sender in a child: the payload is larger than the socket buffer */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(rl_cpr_transfer_send_file(sv[0], src, size, 2000, &err) ||
		      rl_cpr_transfer_wait_ack(sv[0], 2000, &err) ? 1 : 0);
	assert_int_equal(rl_cpr_transfer_recv_file(sv[1], dst, &got, 2000, &err), 0);
	assert_int_equal(got, size);
	assert_int_equal(rl_cpr_transfer_ack(sv[1], &err), 0);
	{
		int st = 0;

		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	q = mmap(NULL, size, PROT_READ, MAP_SHARED, dst, 0);
	assert_true(q != MAP_FAILED);
	assert_memory_equal(p, q, size);
	munmap(p, size);
	munmap(q, size);
	/* no ack: the peer closed */
	close(sv[1]);
	assert_int_equal(rl_cpr_transfer_wait_ack(sv[0], 1000, &err), -EPIPE);
	assert_non_null(strstr(err.msg, "closed the main channel"));
	close(sv[0]);
	close(src);
	close(dst);
}

static void test_listen_connect(void **state)
{
	struct rl_error err = { { 0 } };
	char dir[] = "/tmp/relive-ct-XXXXXX";
	char path[64];
	struct stat st;
	int l, c, a;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cpr.sock", dir);
	/* nobody listens: refused at once */
	assert_true(rl_cpr_transfer_connect(path, 0, &c, &err) < 0);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(rl_cpr_transfer_listen(path, &l, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(rl_cpr_transfer_accept(l, 20, &a, &err), -ETIMEDOUT);
	assert_int_equal(rl_cpr_transfer_connect(path, 1000, &c, &err), 0);
	assert_int_equal(rl_cpr_transfer_accept(l, 1000, &a, &err), 0);
	close(a);
	close(c);
	close(l);
	/* a stale socket is replaced; a regular file is not */
	assert_int_equal(rl_cpr_transfer_listen(path, &l, &err), 0);
	close(l);
	unlink(path);
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	assert_int_equal(rl_cpr_transfer_listen(path, &l, &err), -EEXIST);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_and_fds),
		cmocka_unit_test(test_many_fds),
		cmocka_unit_test(test_changed_fd),
		cmocka_unit_test(test_bad_header_and_timeouts),
		cmocka_unit_test(test_file_and_ack),
		cmocka_unit_test(test_listen_connect),
	};
	int ret;

	rx = rl_cpr_state_new();
	if (!rx)
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	rl_cpr_state_free(rx);
	rl_cpr_state_free(tx);
	return ret;
}
