// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Round trips through the writer and the reader: many sizes, with and
 * without O_DIRECT, queue depth 1 and 32, pool buffers and caller iovecs,
 * streamed and direct read-back; every byte is checked. argv[1] picks the
 * backend: "uring" or "fallback".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "helpers.h"

#define MiB (1024ull * 1024)

struct rt_case {
	uint64_t size;
	bool direct;
	unsigned qd;
	bool iov;	/* write from caller memory instead of pool buffers */
	bool pad;	/* write whole blocks, let commit cut the size */
	bool hint;	/* tell the writer a larger size in advance */
};

static void write_pool(struct rl_writer *w, uint64_t size, bool pad, uint64_t seed)
{
	size_t bs = rl_writer_buf_size(w), n;
	uint64_t off;
	void *buf;

	for (off = 0; off < size; off += n) {
		n = size - off < bs ? (size_t)(size - off) : bs;
		assert_int_equal(rl_writer_buf_get(w, &buf), 0);
		t_fill(buf, n, off, seed);
		if (pad && n % RL_IO_ALIGN) {
			size_t p = (n + RL_IO_ALIGN - 1) & ~(size_t)(RL_IO_ALIGN - 1);

			memset((char *)buf + n, 0xee, p - n);
			n = p;
		}
		assert_int_equal(rl_writer_buf_submit(w, buf, n, off), 0);
	}
}

static void *alloc_aligned(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, RL_IO_ALIGN, len ? len : 1), 0);
	return p;
}

static void check_stream(struct rl_reader *r, uint64_t size, uint64_t seed)
{
	const void *data;
	uint64_t off = 0;
	size_t len;
	int ret;

	assert_int_equal(rl_reader_stream_start(r, 0, size), 0);
	while ((ret = rl_reader_stream_next(r, &data, &len)) == 1) {
		assert_true(len > 0);
		if (t_check(data, len, off, seed) != (size_t)-1)
			fail_msg("stream: wrong byte near offset %llu",
				 (unsigned long long)(off + t_check(data, len, off, seed)));
		off += len;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(off, size);
}

static void run_case(const struct rt_case *c)
{
	struct rl_io_opts o = t_opts();
	const char *path = t_path(0, "state");
	struct rl_writer *w;
	struct rl_reader *r;
	uint64_t seed = c->size ^ c->qd ^ (c->direct << 8) ^ (c->iov << 9);
	uint8_t *src = NULL, *dst;

	o.no_direct = !c->direct;
	o.queue_depth = c->qd;
	if (c->hint)
		o.size_hint = c->size + 3 * MiB + 5;
	assert_int_equal(rl_writer_open(&w, path, &o), 0);
	assert_int_equal(rl_writer_backend(w), t_fallback ? RL_IO_FALLBACK : RL_IO_URING);
	assert_int_equal(rl_writer_fallback_reason(w), 0);
	assert_int_equal(rl_writer_is_direct(w), c->direct && t_direct_ok);
	if (c->iov) {
		struct iovec iov[2];
		size_t half = (size_t)c->size / 2;

		src = alloc_aligned((size_t)c->size);
		t_fill(src, (size_t)c->size, 0, seed);
		/* Second half first: out of order on purpose. */
		iov[0].iov_base = src + half;
		iov[0].iov_len = (size_t)c->size - half;
		assert_int_equal(rl_writer_write_iov(w, iov, 1, half), 0);
		iov[0].iov_base = src;
		iov[0].iov_len = half;
		assert_int_equal(rl_writer_write_iov(w, iov, 1, 0), 0);
	} else {
		write_pool(w, c->size, c->pad, seed);
	}
	assert_int_equal(rl_writer_commit(w, c->size, NULL), 0);
	free(src);
	assert_int_equal(t_count_entries(), 1);

	assert_int_equal(rl_reader_open(&r, path, &o), 0);
	assert_int_equal(rl_reader_size(r), c->size);
	assert_int_equal(rl_reader_is_direct(r), c->direct && t_direct_ok);
	check_stream(r, c->size, seed);
	if (c->size <= 64 * MiB) {
		/* Aligned destination (O_DIRECT path) and one byte off (buffered). */
		dst = alloc_aligned((size_t)c->size + 1);
		assert_int_equal(rl_reader_read(r, dst, (size_t)c->size, 0), 0);
		assert_true(t_check(dst, (size_t)c->size, 0, seed) == (size_t)-1);
		if (c->size > 1) {
			assert_int_equal(rl_reader_read(r, dst + 1, (size_t)c->size - 1, 1), 0);
			assert_true(t_check(dst + 1, (size_t)c->size - 1, 1, seed) == (size_t)-1);
		}
		assert_int_equal(rl_reader_read(r, dst, 1, c->size), -ENODATA);
		free(dst);
	}
	rl_reader_close(r);
	t_empty_dir();
}

static const uint64_t sizes[] = { 0, 1, 4095, 4096, 4097, MiB + 1, 3 * MiB };

static void test_sizes(void **state)
{
	static const unsigned qds[] = { 1, 32 };
	unsigned si, d, q, k;

	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
		for (d = 0; d < 2; d++)
			for (q = 0; q < 2; q++)
				for (k = 0; k < 4; k++) {
					struct rt_case c = {
						.size = sizes[si], .direct = d,
						.qd = qds[q], .iov = k == 1,
						.pad = k == 2, .hint = k == 3,
					};

					run_case(&c);
				}
}

static void test_256m(void **state)
{
	struct rt_case c = { .size = 256 * MiB, .direct = !t_fallback, .qd = 32 };

	run_case(&c);
	c.direct = t_fallback;
	c.iov = true;
	c.qd = 1 + 31 * t_fallback;
	run_case(&c);
}

static void test_stream_ranges(void **state)
{
	struct rl_io_opts o = t_opts();
	const char *path = t_path(0, "state");
	uint64_t size = 3 * MiB + 123, seed = 7;
	struct rl_writer *w;
	struct rl_reader *r;
	const void *data;
	uint64_t off;
	size_t len;
	int ret;

	o.buf_size = 64 * 1024;
	o.buf_count = 4;
	assert_int_equal(rl_writer_open(&w, path, &o), 0);
	write_pool(w, size, false, seed);
	assert_int_equal(rl_writer_commit(w, size, NULL), 0);
	assert_int_equal(rl_reader_open(&r, path, &o), 0);

	/* An unaligned range inside the file. */
	off = 5000;
	assert_int_equal(rl_reader_stream_start(r, off, MiB), 0);
	while ((ret = rl_reader_stream_next(r, &data, &len)) == 1) {
		assert_true(len <= 64 * 1024);
		assert_true(t_check(data, len, off, seed) == (size_t)-1);
		off += len;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(off, 5000 + MiB);

	/* A range past the end: the data up to the end, then -ENODATA. */
	off = size - 70000;
	assert_int_equal(rl_reader_stream_start(r, off, 100000), 0);
	while ((ret = rl_reader_stream_next(r, &data, &len)) == 1) {
		assert_true(t_check(data, len, off, seed) == (size_t)-1);
		off += len;
	}
	assert_int_equal(ret, -ENODATA);
	assert_int_equal(off, size);

	/* Restart while reads are still in flight. */
	assert_int_equal(rl_reader_stream_start(r, 0, size), 0);
	assert_int_equal(rl_reader_stream_next(r, &data, &len), 1);
	assert_int_equal(rl_reader_stream_start(r, 4096, 4096), 0);
	assert_int_equal(rl_reader_stream_next(r, &data, &len), 1);
	assert_int_equal(len, 4096);
	assert_true(t_check(data, len, 4096, seed) == (size_t)-1);
	assert_int_equal(rl_reader_stream_next(r, &data, &len), 0);
	rl_reader_close(r);
	t_empty_dir();
}

/*
 * Pool writes, a skipped range, sparse iovec pieces: the ranges nobody
 * wrote stay holes (the writer's reservations for O_DIRECT are given back)
 * and read back as zeros.
 */
static void test_holes(void **state)
{
	struct rl_io_opts o = t_opts();
	const char *path = t_path(0, "state");
	const uint64_t seed = 3, ram_off = 2 * MiB, ram_len = 32 * MiB;
	struct rl_writer *w;
	struct rl_reader *r;
	struct iovec iov;
	uint8_t *src = NULL, *back;
	struct stat st;
	uint64_t off, end;
	void *buf;

	assert_int_equal(posix_memalign((void **)&src, 4096, ram_len), 0);
	back = malloc(ram_len);
	assert_non_null(back);
	t_fill(src, ram_len, ram_off, seed);
	assert_int_equal(rl_writer_open(&w, path, &o), 0);
	/* 1 MiB of stream, then a RAM extent of which 1 MiB in 8 is written. */
	assert_int_equal(rl_writer_buf_get(w, &buf), 0);
	t_fill(buf, MiB, 0, seed);
	assert_int_equal(rl_writer_buf_submit(w, buf, MiB, 0), 0);
	for (off = 0; off < ram_len; off += 8 * MiB) {
		iov.iov_base = src + off;
		iov.iov_len = MiB;
		assert_int_equal(rl_writer_write_iov(w, &iov, 1, ram_off + off), 0);
	}
	/* The stream goes on after the extent. */
	end = ram_off + ram_len;
	assert_int_equal(rl_writer_buf_get(w, &buf), 0);
	t_fill(buf, MiB, end, seed);
	assert_int_equal(rl_writer_buf_submit(w, buf, MiB, end), 0);
	assert_int_equal(rl_writer_commit(w, end + MiB, NULL), 0);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, end + MiB);
	/* 2 MiB of stream + 4 MiB of RAM, and some slack for metadata. */
	assert_true((uint64_t)st.st_blocks * 512 <= 7 * MiB);

	assert_int_equal(rl_reader_open(&r, path, &o), 0);
	assert_int_equal(rl_reader_read(r, back, ram_len, ram_off), 0);
	for (off = 0; off < ram_len; off += MiB) {
		if ((off / MiB) % 8 == 0)
			assert_memory_equal(back + off, src + off, MiB);
		else
			for (size_t i = 0; i < MiB; i++)
				if (back[off + i])
					fail_msg("byte %llu is not zero", (unsigned long long)(ram_off + off + i));
	}
	assert_int_equal(rl_reader_read(r, back, MiB, end), 0);
	assert_true(t_check(back, MiB, end, seed) == (size_t)-1);
	rl_reader_close(r);
	free(src);
	free(back);
	t_empty_dir();
}

/*
 * Caller memory written far ahead of the stream, then the stream grows
 * towards it and past it: the writer's reservations and their give-back
 * must not touch the caller's data.
 */
static void test_iov_ahead_of_stream(void **state)
{
	struct rl_io_opts o = t_opts();
	const char *path = t_path(0, "state");
	const uint64_t seed = 11, far = 40 * MiB, far2 = 70 * MiB;
	struct rl_writer *w;
	struct rl_reader *r;
	struct iovec iov;
	uint8_t *src = NULL, *back;
	uint64_t off;
	void *buf;

	assert_int_equal(posix_memalign((void **)&src, 4096, 3 * MiB), 0);
	back = malloc(3 * MiB);
	assert_non_null(back);
	assert_int_equal(rl_writer_open(&w, path, &o), 0);
	for (off = 0; off < 48 * MiB; off += MiB) {
		if (off == MiB) {
			t_fill(src, 3 * MiB, far, seed);
			iov.iov_base = src;
			iov.iov_len = 3 * MiB;
			assert_int_equal(rl_writer_write_iov(w, &iov, 1, far), 0);
		}
		if (off >= far && off < far + 3 * MiB)
			continue;
		assert_int_equal(rl_writer_buf_get(w, &buf), 0);
		t_fill(buf, MiB, off, seed);
		assert_int_equal(rl_writer_buf_submit(w, buf, MiB, off), 0);
	}
	/* A last piece of caller memory, after a jump of the stream. */
	assert_int_equal(rl_writer_flush(w), 0);
	t_fill(src, MiB, far2, seed);
	iov.iov_len = MiB;
	assert_int_equal(rl_writer_write_iov(w, &iov, 1, far2), 0);
	assert_int_equal(rl_writer_buf_get(w, &buf), 0);
	t_fill(buf, MiB, far2 + 8 * MiB, seed);
	assert_int_equal(rl_writer_buf_submit(w, buf, MiB, far2 + 8 * MiB), 0);
	assert_int_equal(rl_writer_commit(w, far2 + 9 * MiB, NULL), 0);

	assert_int_equal(rl_reader_open(&r, path, &o), 0);
	for (off = 0; off < 48 * MiB; off += MiB) {
		assert_int_equal(rl_reader_read(r, back, MiB, off), 0);
		if (t_check(back, MiB, off, seed) != (size_t)-1)
			fail_msg("wrong data in MiB %llu", (unsigned long long)(off / MiB));
	}
	assert_int_equal(rl_reader_read(r, back, MiB, far2), 0);
	assert_true(t_check(back, MiB, far2, seed) == (size_t)-1);
	assert_int_equal(rl_reader_read(r, back, MiB, far2 + 8 * MiB), 0);
	assert_true(t_check(back, MiB, far2 + 8 * MiB, seed) == (size_t)-1);
	rl_reader_close(r);
	free(src);
	free(back);
	t_empty_dir();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_stream_ranges),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_iov_ahead_of_stream),
		cmocka_unit_test(test_256m),
	};
	int ret;

	t_init(argc, argv);
	ret = cmocka_run_group_tests_name(argv[1], tests, NULL, NULL);
	t_cleanup();
	return ret;
}
