// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the final name shows: nothing until commit, the whole new file
 * after it, never a torn one. Abort leaves no file; an existing file stays
 * intact until commit; a symlink at the final name is replaced, not
 * followed; the file is 0600 whatever the umask; iovec writes land at their
 * offsets in any order. argv[1] picks the backend: "uring" or "fallback".
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void assert_file_is(const char *path, const char *text)
{
	char buf[256] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

/* Write @len pattern bytes at 0 through the pool, without committing. */
static struct rl_writer *start_writer(const char *path, size_t len)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w;
	void *buf;

	assert_int_equal(rl_writer_open(&w, path, &o), 0);
	assert_int_equal(rl_writer_buf_get(w, &buf), 0);
	t_fill(buf, len, 0, 1);
	assert_int_equal(rl_writer_buf_submit(w, buf, len, 0), 0);
	assert_int_equal(rl_writer_flush(w), 0);
	return w;
}

static void test_abort_leaves_nothing(void **state)
{
	struct rl_writer *w = start_writer(t_path(0, "state"), 8192);

	/* The data is written, but only under a temporary name. */
	assert_int_equal(t_count_entries(), 1);
	assert_int_equal(access(t_path(0, "state"), F_OK), -1);
	rl_writer_abort(w);
	assert_int_equal(t_count_entries(), 0);
	rl_writer_abort(NULL);
}

static void test_abort_keeps_existing(void **state)
{
	const char *path = t_path(0, "state");
	struct rl_writer *w;

	write_file(path, "old");
	w = start_writer(path, 4096);
	rl_writer_abort(w);
	assert_file_is(path, "old");
	assert_int_equal(t_count_entries(), 1);
	t_empty_dir();
}

static void test_commit_replaces(void **state)
{
	const char *path = t_path(0, "state");
	struct rl_writer *w;
	struct stat st1, st2;

	write_file(path, "old");
	assert_int_equal(stat(path, &st1), 0);
	w = start_writer(path, 4096);
	/* Until commit, the old file is intact under the final name. */
	assert_file_is(path, "old");
	assert_int_equal(t_count_entries(), 2);
	assert_int_equal(rl_writer_commit(w, 100, NULL), 0);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	assert_int_equal(st2.st_size, 100);
	assert_int_equal(t_count_entries(), 1);
	t_empty_dir();
}

static void test_symlink_replaced(void **state)
{
	const char *path = t_path(0, "state");
	const char *victim = t_path(1, "victim");
	struct rl_writer *w;
	struct stat st;

	write_file(victim, "victim");
	assert_int_equal(symlink(victim, path), 0);
	w = start_writer(path, 4096);
	assert_int_equal(rl_writer_commit(w, 4096, NULL), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4096);
	assert_file_is(victim, "victim");

	/* The reader does not follow a symlink either. */
	{
		struct rl_io_opts o = t_opts();
		struct rl_reader *r;

		assert_int_equal(unlink(path), 0);
		assert_int_equal(symlink(victim, path), 0);
		assert_int_equal(rl_reader_open(&r, path, &o), -ELOOP);
	}
	t_empty_dir();
}

static void test_mode_0600(void **state)
{
	static const mode_t masks[] = { 0, 022, 0277 };
	const char *path = t_path(0, "state");
	struct rl_writer *w;
	struct stat st;
	unsigned i;
	mode_t old;

	for (i = 0; i < 3; i++) {
		old = umask(masks[i]);
		w = start_writer(path, 4096);
		assert_int_equal(rl_writer_commit(w, 4096, NULL), 0);
		umask(old);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
	}
	t_empty_dir();
}

static void test_iov_out_of_order(void **state)
{
	const size_t blk = 256 * 1024, nblk = 24;
	struct rl_io_opts o = t_opts();
	const char *path = t_path(0, "state");
	struct rl_writer *w;
	struct rl_reader *r;
	uint8_t *src = NULL, *dst;
	struct iovec iov[3];
	size_t i, j;

	assert_int_equal(posix_memalign((void **)&src, 4096, blk * nblk), 0);
	dst = malloc(blk * nblk);
	assert_non_null(dst);
	t_fill(src, blk * nblk, 0, 99);
	o.queue_depth = 4;
	assert_int_equal(rl_writer_open(&w, path, &o), 0);
	/* Blocks in a scrambled order, three at a time as one iovec each. */
	for (i = 0; i < nblk; i += 3) {
		size_t b = (i * 7 + 5) % nblk, off;

		for (j = 0; j < 3; j++) {
			iov[j].iov_base = src + ((b + j) % nblk) * blk;
			iov[j].iov_len = blk;
		}
		/* Only contiguous file ranges form one call. */
		if ((b + 2) < nblk) {
			off = b * blk;
			assert_int_equal(rl_writer_write_iov(w, iov, 3, off), 0);
		} else {
			for (j = 0; j < 3; j++)
				assert_int_equal(rl_writer_write_iov(w, &iov[j], 1,
					((b + j) % nblk) * blk), 0);
		}
	}
	/* A header, unaligned, through a pool buffer, after the bulk. */
	{
		void *buf;

		assert_int_equal(rl_writer_buf_get(w, &buf), 0);
		t_fill(buf, 100, blk * nblk, 99);
		assert_int_equal(rl_writer_buf_submit(w, buf, 100, blk * nblk), 0);
	}
	assert_int_equal(rl_writer_commit(w, blk * nblk + 100, NULL), 0);

	assert_int_equal(rl_reader_open(&r, path, &o), 0);
	assert_int_equal(rl_reader_size(r), blk * nblk + 100);
	assert_int_equal(rl_reader_read(r, dst, blk * nblk, 0), 0);
	assert_memory_equal(dst, src, blk * nblk);
	assert_int_equal(rl_reader_read(r, dst, 100, blk * nblk), 0);
	assert_true(t_check(dst, 100, blk * nblk, 99) == (size_t)-1);
	/* Read back into iovecs in pieces, the second one unaligned. */
	memset(dst, 0, blk * nblk);
	iov[0].iov_base = dst;
	iov[0].iov_len = 3 * blk;
	iov[1].iov_base = dst + 3 * blk + 1;
	iov[1].iov_len = blk - 1;
	assert_int_equal(rl_reader_read_iov(r, iov, 2, 0), 0);
	assert_memory_equal(dst, src, 3 * blk);
	assert_memory_equal(dst + 3 * blk + 1, src + 3 * blk, blk - 1);
	rl_reader_close(r);
	free(src);
	free(dst);
	t_empty_dir();
}

static void test_pool_bounded(void **state)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w;
	void *bufs[8], *extra;
	unsigned i;

	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), 0);
	assert_int_equal(rl_writer_buf_size(w), 1u << 20);
	for (i = 0; i < 8; i++) {
		assert_int_equal(rl_writer_buf_get(w, &bufs[i]), 0);
		assert_true(((uintptr_t)bufs[i] & 4095) == 0);
	}
	/* Eight buffers by default, and no more. */
	assert_int_equal(rl_writer_buf_get(w, &extra), -ENOBUFS);
	assert_int_equal(rl_writer_buf_put(w, bufs[3]), 0);
	assert_int_equal(rl_writer_buf_get(w, &extra), 0);
	assert_ptr_equal(extra, bufs[3]);
	/* Not from the pool. */
	assert_int_equal(rl_writer_buf_submit(w, (char *)bufs[0] + 1, 1, 0), -EINVAL);
	rl_writer_abort(w);
	assert_int_equal(t_count_entries(), 0);
}

/*
 * A buffer given back twice, or given back while its write is in flight,
 * is refused: otherwise the pool would hand one buffer out twice, once
 * while the kernel still writes from it.
 */
static void test_buf_returned_twice(void **state)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w;
	void *a, *b, *c;

	o.buf_count = 2;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), 0);
	assert_int_equal(rl_writer_buf_get(w, &a), 0);
	assert_int_equal(rl_writer_buf_put(w, a), 0);
	assert_int_equal(rl_writer_buf_put(w, a), -EINVAL);
	assert_int_equal(rl_writer_buf_get(w, &b), 0);
	assert_int_equal(rl_writer_buf_get(w, &c), 0);
	assert_ptr_not_equal(b, c);
	assert_int_equal(rl_writer_buf_get(w, &a), -ENOBUFS);

	/* Submitted: the pool's until the write completes, then free. */
	memset(b, 7, 4096);
	assert_int_equal(rl_writer_buf_submit(w, b, 4096, 0), 0);
	assert_int_equal(rl_writer_buf_put(w, b), -EINVAL);
	assert_int_equal(rl_writer_buf_submit(w, b, 4096, 4096), -EINVAL);
	assert_int_equal(rl_writer_flush(w), 0);
	assert_int_equal(rl_writer_buf_put(w, b), -EINVAL);
	assert_int_equal(rl_writer_buf_get(w, &a), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(rl_writer_buf_get(w, &b), -ENOBUFS);
	assert_int_equal(rl_writer_buf_put(w, a), 0);
	assert_int_equal(rl_writer_buf_put(w, c), 0);
	rl_writer_abort(w);
	assert_int_equal(t_count_entries(), 0);
}

static void test_numa(void **state)
{
	struct rl_io_opts o = t_opts();
	struct rl_writer *w;

	o.numa_set = true;
	o.numa_node = RL_NUMA_AUTO;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), 0);
	rl_writer_abort(w);
	o.numa_node = 0;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), 0);
	rl_writer_abort(w);
	/* a node number in range that is not a node of this machine */
	o.numa_node = 1000;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), -EINVAL);
	o.numa_node = 4000;
	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), -EINVAL);
	assert_int_equal(t_count_entries(), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abort_leaves_nothing),
		cmocka_unit_test(test_abort_keeps_existing),
		cmocka_unit_test(test_commit_replaces),
		cmocka_unit_test(test_symlink_replaced),
		cmocka_unit_test(test_mode_0600),
		cmocka_unit_test(test_iov_out_of_order),
		cmocka_unit_test(test_pool_bounded),
		cmocka_unit_test(test_buf_returned_twice),
		cmocka_unit_test(test_numa),
	};
	int ret;

	t_init(argc, argv);
	ret = cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
	t_cleanup();
	return ret;
}
