// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Chardev backends in a temp dir: socket and file modes, stale-socket
 * removal that never follows or removes anything but a socket, O_NOFOLLOW
 * output files, truncate versus append, and the spec errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "monitors/chardev.h"
#include "vm-error.h"

static char dir[] = "/tmp/relive-chardev-XXXXXX";

static char *path(const char *name)
{
	return g_build_filename(dir, name, NULL);
}

static Chardev *new_chr(const char *spec, GError **err)
{
	return chardev_new("t0", spec, NULL, NULL, TRUE, err);
}

static void expect_error(const char *spec, const char *fragment)
{
	g_autoptr(GError) err = NULL;

	assert_null(new_chr(spec, &err));
	assert_non_null(err);
	if (!strstr(err->message, fragment))
		fail_msg("'%s': error '%s' lacks '%s'", spec, err->message, fragment);
}

static void test_socket_mode_and_stale(void **state)
{
	g_autofree char *p = path("s.sock");
	g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", p);
	g_autoptr(GError) err = NULL;
	struct stat st1, st2;
	Chardev *chr;
	int fl;

	mode_t old = umask(0);

	chr = new_chr(spec, &err);
	umask(old);
	assert_non_null(chr);
	assert_int_equal(lstat(p, &st1), 0);
	assert_true(S_ISSOCK(st1.st_mode));
	assert_int_equal(st1.st_mode & 07777, 0600);
	chardev_free(chr);
	/* The path is left behind: a stale socket, which the next start replaces. */
	chr = new_chr(spec, &err);
	assert_non_null(chr);
	assert_int_equal(lstat(p, &st2), 0);
	assert_int_equal(st2.st_mode & 07777, 0600);
	{
		/* A stale socket refuses connections; the new one takes them. */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		g_strlcpy(sa.sun_path, p, sizeof(sa.sun_path));
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	chardev_free(chr);
	/* Every fd CLOEXEC: checked on a fresh socket's listener via /proc. */
	chr = new_chr(spec, &err);
	for (int fd = 3; fd < 64; fd++) {
		char link[64], target[256];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!g_str_has_prefix(target, "socket:"))
			continue;
		fl = fcntl(fd, F_GETFD);
		assert_true(fl & FD_CLOEXEC);
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	}
	chardev_free(chr);
	unlink(p);
}

/*
 * Connections whose peers read nothing hold more output than an update
 * carries: the export refuses it (in the old binary, before the stop)
 * instead of writing a state the new binary would refuse to read.
 */
static void test_state_over_limit(void **state)
{
	g_autofree char *p = path("big.sock");
	g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", p);
	g_autoptr(GError) err = NULL;
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct chardev_cpr_fd));
	size_t chunk = CHARDEV_OUT_MAX - (256u << 10);
	g_autofree char *buf = g_malloc(chunk);
	int clients[16];
	Chardev *chr;

	chr = new_chr(spec, &err);
	assert_non_null(chr);
	for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		clients[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		g_strlcpy(sa.sun_path, p, sizeof(sa.sun_path));
		assert_int_equal(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (int i = 0; i < 200; i++)
		g_main_context_iteration(NULL, FALSE);
	memset(buf, 'x', chunk);
	chardev_write_all(chr, buf, chunk);
	assert_int_equal(chardev_cpr_export(fds, &err), -1);
	assert_non_null(err);
	assert_true(g_error_matches(err, VM_ERROR, VM_ERROR_TOO_LARGE));
	if (!strstr(err->message, "more than an update carries"))
		fail_msg("error '%s' does not say what is too large", err->message);
	for (unsigned i = 0; i < G_N_ELEMENTS(clients); i++)
		close(clients[i]);
	chardev_free(chr);
	unlink(p);
}

static void test_not_a_socket_is_kept(void **state)
{
	g_autofree char *file = path("plain");
	g_autofree char *target = path("target");
	g_autofree char *link = path("link");
	g_autofree char *spec = NULL;
	struct stat st;

	assert_true(g_file_set_contents(file, "keep", -1, NULL));
	spec = g_strdup_printf("unix:%s,server,nowait", file);
	expect_error(spec, "is not a socket");
	assert_int_equal(lstat(file, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* A symlink, even to a socket, is neither followed nor removed. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		g_strlcpy(sa.sun_path, target, sizeof(sa.sun_path));
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	assert_int_equal(symlink(target, link), 0);
	g_free(spec);
	spec = g_strdup_printf("unix:%s,server,nowait", link);
	expect_error(spec, "is not a socket");
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(lstat(target, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	unlink(file);
	unlink(link);
	unlink(target);
}

static void test_file_backend(void **state)
{
	g_autofree char *out = path("serial.log");
	g_autofree char *victim = path("victim");
	g_autofree char *link = path("serial-link");
	g_autofree char *spec = g_strdup_printf("file:%s", out);
	g_autofree char *aspec = g_strdup_printf("file:%s,append=on", out);
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	struct stat st;
	Chardev *chr;

	assert_true(g_file_set_contents(out, "old", -1, NULL));
	chmod(out, 0644);
	unlink(out);
	chr = new_chr(spec, &err);
	assert_non_null(chr);
	chardev_write_all(chr, "hello\n", 6);
	chardev_free(chr);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	chr = new_chr(aspec, &err);
	assert_non_null(chr);
	chardev_write_all(chr, "more\n", 5);
	chardev_free(chr);
	assert_true(g_file_get_contents(out, &text, NULL, NULL));
	assert_string_equal(text, "hello\nmore\n");
	/* Without append=on the file starts empty, as QEMU's. */
	chr = new_chr(spec, &err);
	chardev_free(chr);
	g_free(text);
	assert_true(g_file_get_contents(out, &text, NULL, NULL));
	assert_string_equal(text, "");

	assert_true(g_file_set_contents(victim, "precious", -1, NULL));
	assert_int_equal(symlink(victim, link), 0);
	g_free(spec);
	spec = g_strdup_printf("file:%s", link);
	expect_error(spec, "could not open");
	g_free(text);
	assert_true(g_file_get_contents(victim, &text, NULL, NULL));
	assert_string_equal(text, "precious");
	unlink(out);
	unlink(victim);
	unlink(link);
}

static void test_spec_errors(void **state)
{
	g_autofree char *p = path("x.sock");
	g_autofree char *client = g_strdup_printf("unix:%s", p);
	g_autofree char *opt = g_strdup_printf("unix:%s,server,nowait,bogus=1", p);
	g_autofree char *longp = g_strdup_printf("unix:/tmp/%0200d,server,nowait", 0);
	g_autoptr(GError) err = NULL;
	Chardev *a;

	expect_error("tcp:localhost:4444,server,nowait", "unknown backend");
	expect_error("unix:", "needs a path");
	expect_error(client, "only socket servers are supported");
	expect_error(opt, "unknown option 'bogus=1'");
	expect_error(longp, "too long");
	expect_error("file:/nonexistent-dir/x", "could not open");
	a = new_chr("stdio", &err);
	assert_non_null(a);
	expect_error("stdio", "cannot use stdio by multiple character devices");
	chardev_free(a);
	a = new_chr("none", &err);
	assert_non_null(a);
	chardev_write_all(a, "x", 1);
	chardev_free(a);
	assert_int_equal(access(p, F_OK), -1);
}

/*
 * After chardev_files_append() (a process an update started) a "file:"
 * backend goes on after what is there, append=on or not; before, as QEMU,
 * it starts the file afresh. Run last: the switch stays on.
 */
static void test_file_after_update(void **state)
{
	g_autofree char *log = path("after-update.log");
	g_autofree char *spec = g_strdup_printf("file:%s", log);
	g_autoptr(GError) err = NULL;
	g_autofree char *text = NULL;
	Chardev *chr;

	assert_true(g_file_set_contents(log, "old process\n", -1, NULL));
	chardev_files_append();
	chr = new_chr(spec, &err);
	assert_non_null(chr);
	chardev_write_all(chr, "new process\n", 12);
	chardev_free(chr);
	assert_true(g_file_get_contents(log, &text, NULL, NULL));
	assert_string_equal(text, "old process\nnew process\n");
	unlink(log);
}

static void greet(ChardevConn *conn, void *opaque)
{
	chardev_conn_write(conn, "hi", 2);
}

static const struct chardev_ops greet_ops = { .open = greet };

static gboolean readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

/*
 * The clients, in another process so that their descriptors do not count
 * against the server's limit: @n are greeted, the next one waits until the
 * first goes away. Writes one letter per step to @report.
 */
static G_NORETURN void emfile_clients(const char *p, int n, int report)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c[32];
	char buf[2];

	g_strlcpy(sa.sun_path, p, sizeof(sa.sun_path));
	for (int i = 0; i < n + 1; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(c[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(1);
	}
	for (int i = 0; i < n; i++)
		if (!readable(c[i], 5000) || read(c[i], buf, 2) != 2)
			_exit(2);
	(void)!write(report, "A", 1);
	(void)!write(report, readable(c[n], 300) ? "X" : "Q", 1);
	close(c[0]);
	(void)!write(report, readable(c[n], 3000) && read(c[n], buf, 2) == 2 ? "G" : "F", 1);
	_exit(0);
}

/*
 * Out of file descriptors, the server pauses accepting instead of spinning
 * on EMFILE (which starved the idle source that frees dead connections, so
 * their descriptors never came back), frees the connections that have gone,
 * and takes the client that waited in the backlog.
 */
static void test_accept_emfile(void **state)
{
	g_autofree char *p = path("emfile.sock");
	g_autofree char *spec = g_strdup_printf("unix:%s,server=on,wait=off", p);
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) steps = g_string_new(NULL);
	struct rlimit old, low;
	int pipefd[2], nfree = 0, probe[16], status;
	gint64 end;
	Chardev *chr;
	pid_t pid;

	chr = chardev_new("emfile", spec, &greet_ops, NULL, TRUE, &err);
	assert_non_null(chr);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK), 0);
	g_main_context_iteration(NULL, FALSE);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* Room for a few more descriptors above the highest one open. */
	low = old;
	low.rlim_cur = pipefd[1] + 1 + 3;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfree < 16 && (probe[nfree] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		nfree++;
	for (int i = 0; i < nfree; i++)
		close(probe[i]);
	assert_true(nfree >= 3 && nfree < 16);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		setrlimit(RLIMIT_NOFILE, &old);
		emfile_clients(p, nfree, pipefd[1]);
	}
	end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (steps->len < 3 && g_get_monotonic_time() < end) {
		char c;

		g_main_context_iteration(NULL, FALSE);
		if (read(pipefd[0], &c, 1) == 1)
			g_string_append_c(steps, c);
		else
			g_usleep(500);
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_string_equal(steps->str, "AQG");
	close(pipefd[0]);
	close(pipefd[1]);
	chardev_free(chr);
	unlink(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_mode_and_stale),
		cmocka_unit_test(test_not_a_socket_is_kept),
		cmocka_unit_test(test_state_over_limit),
		cmocka_unit_test(test_file_backend),
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_accept_emfile),
		cmocka_unit_test(test_file_after_update),
	};
	int ret;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return ret;
}
