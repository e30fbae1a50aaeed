// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The automatic fallback: in a child whose seccomp filter refuses
 * io_uring_setup (as a container runtime's profile does), the writer and
 * the reader still work, over pwritev/preadv, and report why.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "helpers.h"

/* Child body. Exit: 0 ok, 1..99 the failed step. */
static int child(void *arg)
{
	int err = *(int *)arg;
	struct rl_io_opts o = { 0 };
	struct rl_writer *w;
	struct rl_reader *r;
	const void *data;
	size_t len;
	void *buf;

	if (rl_io_probe() != -err)
		return 1;
	if (rl_writer_open(&w, t_path(0, "state"), &o) < 0)
		return 2;
	if (rl_writer_backend(w) != RL_IO_FALLBACK)
		return 3;
	if (rl_writer_fallback_reason(w) != -err)
		return 4;
	if (strcmp(rl_io_backend_name(rl_writer_backend(w)), "pwritev"))
		return 5;
	if (rl_writer_buf_get(w, &buf) < 0)
		return 6;
	t_fill(buf, 10000, 0, 5);
	if (rl_writer_buf_submit(w, buf, 10000, 0) < 0)
		return 7;
	if (rl_writer_commit(w, 10000, NULL) < 0)
		return 8;
	if (rl_reader_open(&r, t_path(0, "state"), &o) < 0)
		return 9;
	if (rl_reader_backend(r) != RL_IO_FALLBACK ||
	    rl_reader_fallback_reason(r) != -err)
		return 10;
	if (rl_reader_stream_start(r, 0, 10000) < 0)
		return 11;
	if (rl_reader_stream_next(r, &data, &len) != 1 || len != 10000 ||
	    t_check(data, len, 0, 5) != (size_t)-1)
		return 12;
	rl_reader_close(r);
	return 0;
}

static void run(int err)
{
	const int nr = __NR_io_uring_setup;

	assert_int_equal(t_run_refusing(&nr, 1, err, child, &err), 0);
	t_empty_dir();
}

static void test_enosys(void **state)
{
	run(ENOSYS);
}

static void test_eperm(void **state)
{
	run(EPERM);
}

/* The explicit option: fallback with no reason, io_uring left alone. */
static void test_forced(void **state)
{
	struct rl_io_opts o = { .force_fallback = true };
	struct rl_writer *w;

	assert_int_equal(rl_writer_open(&w, t_path(0, "state"), &o), 0);
	assert_int_equal(rl_writer_backend(w), RL_IO_FALLBACK);
	assert_int_equal(rl_writer_fallback_reason(w), 0);
	rl_writer_abort(w);
	assert_int_equal(t_count_entries(), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enosys),
		cmocka_unit_test(test_eperm),
		cmocka_unit_test(test_forced),
	};
	int ret;

	t_init(argc, argv);
	ret = cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
	t_cleanup();
	return ret;
}
