// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rl_unix_listen(): a socket at mode 0600 that takes connections, a stale
 * socket replaced, a file or a link at the path refused and left alone,
 * a path too long refused, nothing left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "relive/unix-socket.h"

static char dir[64];
static char path[128];

static int dial(const char *p)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	assert_true(strlen(p) < sizeof(a.sun_path));
	memcpy(a.sun_path, p, strlen(p));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(s);
		return -errno;
	}
	return s;
}

static void test_listen(void **state)
{
	struct rl_error err = { { 0 } };
	struct stat st;
	int l, l2, c;

	assert_int_equal(rl_unix_listen(path, 4, SOCK_NONBLOCK, &l, &err), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(fcntl(l, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(l, F_GETFL) & O_NONBLOCK);
	c = dial(path);
	assert_true(c >= 0);
	close(c);
	/* the process that listened is gone: its socket is replaced */
	close(l);
	assert_true(dial(path) == -ECONNREFUSED);
	assert_int_equal(rl_unix_listen(path, 1, 0, &l2, &err), 0);
	assert_false(fcntl(l2, F_GETFL) & O_NONBLOCK);
	c = dial(path);
	assert_true(c >= 0);
	close(c);
	close(l2);
	unlink(path);
}

static void test_refusals(void **state)
{
	struct rl_error err = { { 0 } };
	char longp[200], target[128];
	int l = -1, fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rl_unix_listen(path, 1, 0, &l, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "is not a socket"));
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(rl_unix_listen(path, 1, 0, &l, &err), -EEXIST);
	assert_int_equal(access(target, F_OK), -1);
	unlink(path);

	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(rl_unix_listen(longp, 1, 0, &l, &err), -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "too long"));
	assert_int_equal(rl_unix_listen("", 1, 0, &l, NULL), -ENAMETOOLONG);
	assert_int_equal(rl_unix_listen(path, 1, SOCK_CLOEXEC << 1, &l, NULL), -EINVAL);

	snprintf(longp, sizeof(longp), "%s/missing/sock", dir);
	assert_int_equal(rl_unix_listen(longp, 1, 0, &l, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot listen"));
	assert_int_equal(l, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_refusals),
	};
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/relive-sock-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/sock", dir);
	ret = cmocka_run_group_tests_name("unix-socket", tests, NULL, NULL);
	unlink(path);
	rmdir(dir);
	return ret;
}
