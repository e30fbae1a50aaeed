// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Every way the writer can fail returns a negative errno, removes its
 * temporary file and leaves the final name as it was: a file size limit
 * (EFBIG, the same path as a full disk), a full file system (ENOSPC, where
 * a private tmpfs can be mounted), a directory as the target, a missing
 * parent, a bad path. A directory sync that fails after the rename is
 * reported and leaves the new file in place; a reader whose fstat fails
 * returns that error. argv[1] picks the backend: "uring" or "fallback".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

#define MiB (1024u * 1024)

static const char old_text[] = "the previous state";

static void write_old(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, old_text, sizeof(old_text)), (ssize_t)sizeof(old_text));
	close(fd);
}

static bool old_intact(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)sizeof(old_text) && !memcmp(buf, old_text, (size_t)n);
}

/*
 * Write @total bytes (pool buffers, or one iovec when @iov) into @path and
 * commit. Return: the first error seen, 0 if none.
 */
static int write_all(const char *path, size_t total, bool iov, bool direct)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w;
	size_t off, n;
	void *buf;
	int ret;

	o.no_direct = !direct;
	o.queue_depth = 4;
	ret = rl_writer_open(&w, path, &o);
	if (ret < 0)
		return ret;
	if (iov) {
		struct iovec v;

		if (posix_memalign(&v.iov_base, 4096, total))
			abort();
		memset(v.iov_base, 0x5a, total);
		v.iov_len = total;
		ret = rl_writer_write_iov(w, &v, 1, 0);
		if (!ret)
			ret = rl_writer_flush(w);
		/* The memory stays untouched until the writer is done with it. */
		if (ret < 0)
			rl_writer_abort(w);
		else
			ret = rl_writer_commit(w, total, NULL);
		free(v.iov_base);
		return ret;
	}
	for (off = 0; off < total; off += n) {
		n = total - off < MiB ? total - off : MiB;
		ret = rl_writer_buf_get(w, &buf);
		if (ret < 0)
			goto fail;
		memset(buf, 0xa5, n);
		ret = rl_writer_buf_submit(w, buf, n, off);
		if (ret < 0)
			goto fail;
	}
	return rl_writer_commit(w, total, NULL);
fail:
	rl_writer_abort(w);
	return ret;
}

/* Child: file size limit of 1.5 MiB, SIGXFSZ ignored. Exit code = -errno. */
static int child_efbig(const char *path, bool iov, bool direct)
{
	struct rlimit rl = { .rlim_cur = 3 * MiB / 2, .rlim_max = RLIM_INFINITY };
	int ret;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 100;
	ret = write_all(path, 4 * MiB, iov, direct);
	return ret < 0 ? -ret : 0;
}

static int run_child(int (*fn)(const char *, bool, bool), const char *path,
		     bool iov, bool direct)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(path, iov, direct));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_efbig(void **state)
{
	const char *path = t_path(0, "state");
	unsigned k;

	for (k = 0; k < 4; k++) {
		bool iov = k & 1, direct = k & 2;

		write_old(path);
		assert_int_equal(run_child(child_efbig, path, iov, direct), EFBIG);
		assert_true(old_intact(path));
		assert_int_equal(t_count_entries(), 1);
	}
	t_empty_dir();
}

static int count_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Child: a 1 MiB tmpfs of its own at t_dir/small. Exit code = -errno, 200 = cannot mount. */
static int child_enospc(const char *path, bool iov, bool direct)
{
	char dir[512];
	int ret;

	snprintf(dir, sizeof(dir), "%s/small", t_dir);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700") < 0)
		return 200;
	snprintf(dir, sizeof(dir), "%s/small/state", t_dir);
	write_old(dir);
	ret = write_all(dir, 4 * MiB, iov, direct);
	if (ret == 0)
		return 0;
	if (!old_intact(dir))
		return 201;
	/* Only the old file is left on the small file system. */
	unlink(dir);
	snprintf(dir, sizeof(dir), "%s/small", t_dir);
	if (count_in(dir) != 0)
		return 202;
	return -ret;
}

static void test_enospc(void **state)
{
	unsigned k;
	int ret;

	assert_int_equal(mkdir(t_path(0, "small"), 0700), 0);
	for (k = 0; k < 4; k++) {
		ret = run_child(child_enospc, NULL, k & 1, k & 2);
		if (ret == 200) {
			fprintf(stderr, "note: cannot mount a private tmpfs here; "
				"ENOSPC is covered by the EFBIG case only\n");
			break;
		}
		assert_int_equal(ret, ENOSPC);
	}
	t_empty_dir();
}

static void expect_open_error(const char *path, int err)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w = (struct rl_writer *)1;
	int before = t_count_entries();

	assert_int_equal(rl_writer_open(&w, path, &o), err);
	assert_null(w);
	assert_int_equal(t_count_entries(), before);
}

static void test_bad_targets(void **state)
{
	char longname[300];

	assert_int_equal(mkdir(t_path(0, "dir"), 0700), 0);
	expect_open_error(t_path(0, "dir"), -EISDIR);
	expect_open_error(t_path(0, "dir/"), -EISDIR);
	expect_open_error(t_path(0, "missing/state"), -ENOENT);
	expect_open_error(t_path(0, "missing/deeper/state"), -ENOENT);
	expect_open_error("", -ENOENT);
	write_old(t_path(0, "file"));
	expect_open_error(t_path(0, "file/state"), -ENOTDIR);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	expect_open_error(t_path(0, longname), -ENAMETOOLONG);
	assert_true(old_intact(t_path(0, "file")));
	t_empty_dir();
}

static void test_reader_errors(void **state)
{
	struct rl_io_opts o = t_opts();
	struct rl_reader *r = (struct rl_reader *)1;

	assert_int_equal(rl_reader_open(&r, t_path(0, "missing"), &o), -ENOENT);
	assert_null(r);
	assert_int_equal(rl_reader_open(&r, t_dir, &o), -EISDIR);
	assert_int_equal(rl_reader_open(&r, "", &o), -ENOENT);
	write_old(t_path(0, "short"));
	assert_int_equal(rl_reader_open(&r, t_path(0, "short"), &o), 0);
	{
		char buf[64];

		assert_int_equal(rl_reader_read(r, buf, sizeof(old_text), 0), 0);
		assert_int_equal(rl_reader_read(r, buf, sizeof(old_text) + 1, 0), -ENODATA);
		assert_int_equal(rl_reader_read(r, buf, 1, 4096), -ENODATA);
	}
	rl_reader_close(r);
	t_empty_dir();
}

/* Child: open the reader while every stat system call fails with EIO. */
static int reader_fstat_child(void *arg)
{
	struct rl_io_opts o = t_opts();
	struct rl_reader *r;
	int ret = rl_reader_open(&r, arg, &o);

	if (ret == 0)
		rl_reader_close(r);
	return ret == -EIO ? 0 : 1;
}

/* A failed fstat is that error, not a guess from an unfilled struct stat. */
static void test_reader_fstat_fails(void **state)
{
	static const int nrs[] = {
		__NR_fstat, __NR_newfstatat, __NR_statx,
	};

	write_old(t_path(0, "state"));
	assert_int_equal(t_run_refusing(nrs, 3, EIO, reader_fstat_child,
					(void *)t_path(0, "state")), 0);
	t_empty_dir();
}

/*
 * Child: write and commit with sync while fsync (used only on the
 * directory; the file gets fdatasync) fails with EIO.
 * Exit: 0 when commit says so and names the directory sync.
 */
static int dir_sync_child(void *arg)
{
	struct rl_io_opts o = t_opts();
	struct rl_error err = { { 0 } };
	struct rl_writer *w;
	void *buf;
	int ret;

	o.sync = true;
	if (rl_writer_open(&w, arg, &o) < 0)
		return 1;
	if (rl_writer_buf_get(w, &buf) < 0)
		return 2;
	t_fill(buf, 8192, 0, 9);
	if (rl_writer_buf_submit(w, buf, 8192, 0) < 0)
		return 3;
	ret = rl_writer_commit(w, 8192, &err);
	if (ret != -EIO)
		return 4;
	if (!strstr(err.msg, "syncing its directory") || !strstr(err.msg, t_dir))
		return 5;
	return 0;
}

/*
 * The rename went through and only the directory sync failed: the new file
 * stays under the final name (the old one is already replaced), whole, and
 * no temporary file is left.
 */
static void test_dir_sync_fails(void **state)
{
	static const int nrs[] = { __NR_fsync };
	const char *path = t_path(0, "state");
	char buf[8192];
	int fd;

	write_old(path);
	assert_int_equal(t_run_refusing(nrs, 1, EIO, dir_sync_child, (void *)path), 0);
	assert_int_equal(t_count_entries(), 1);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	assert_true(t_check(buf, sizeof(buf), 0, 9) == (size_t)-1);
	t_empty_dir();
}

static void test_bad_arguments(void **state)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w;

	o.buf_size = 1000;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), -EINVAL);
	o.buf_size = 0;
	o.queue_depth = 1u << 20;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), -EINVAL);
	assert_int_equal(t_count_entries(), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_efbig),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_bad_targets),
		cmocka_unit_test(test_reader_errors),
		cmocka_unit_test(test_reader_fstat_fails),
		cmocka_unit_test(test_dir_sync_fails),
		cmocka_unit_test(test_bad_arguments),
	};
	int ret;

	t_init(argc, argv);
	ret = cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
	t_cleanup();
	return ret;
}
