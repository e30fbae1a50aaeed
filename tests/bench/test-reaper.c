// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench as a subreaper: the orphan a child leaves behind (as a VMM's
 * exec leaves its address-space holder) comes to the bench, is reaped once
 * it has exited, and the bench's own children are left to their owners.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "reaper.h"

/* 'Z' for a zombie, 0 once the process is gone. */
static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static void wait_zombie(pid_t pid)
{
	for (int i = 0; i < 5000 && proc_state(pid) != 'Z'; i++)
		usleep(1000);
	assert_int_equal(proc_state(pid), 'Z');
}

/*
 * Forks a child that forks a grandchild and exits at once, like the
 * intermediate task of the holder. The grandchild exits after @ms.
 * Return: the grandchild's pid, read from a pipe.
 */
static pid_t orphan(unsigned ms)
{
	int p[2];
	pid_t mid, g = 0;

	assert_int_equal(pipe(p), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		pid_t gc = fork();

		if (gc == 0) {
			usleep(ms * 1000);
			_exit(0);
		}
		(void)!write(p[1], &gc, sizeof(gc));
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &g, sizeof(g)), sizeof(g));
	close(p[0]);
	assert_int_equal(waitpid(mid, NULL, 0), mid);
	return g;
}

static void test_reaps_adopted_keeps_own(void **state)
{
	pid_t own, g;
	int st;

	(void)state;
	assert_int_equal(reaper_become(), 0);
	own = fork();
	if (own == 0)
		_exit(7);
	g = orphan(0);
	wait_zombie(g);
	wait_zombie(own);
	assert_int_equal(reaper_reap_adopted(&own, 1), 1);
	assert_int_equal(proc_state(g), 0);
	/* The bench's own child is still there for its owner to reap. */
	assert_int_equal(waitpid(own, &st, WNOHANG), own);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

static void test_running_orphan_is_left_then_drained(void **state)
{
	pid_t g;

	(void)state;
	assert_int_equal(reaper_become(), 0);
	g = orphan(200);
	assert_int_equal(reaper_reap_adopted(NULL, 0), 0);
	assert_int_not_equal(proc_state(g), 0);
	assert_int_equal(reaper_drain(5000), 0);
	assert_int_equal(proc_state(g), 0);
}

static void test_drain_reports_what_is_left(void **state)
{
	pid_t g;

	(void)state;
	assert_int_equal(reaper_become(), 0);
	g = orphan(10000);
	assert_int_equal(reaper_drain(50), 1);
	kill(g, SIGKILL);
	assert_int_equal(reaper_drain(5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reaps_adopted_keeps_own),
		cmocka_unit_test(test_running_orphan_is_left_then_drained),
		cmocka_unit_test(test_drain_reports_what_is_left),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
