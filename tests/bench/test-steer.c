// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The observer's steering: the CPU read from /proc/PID/stat, and a move to
 * the other CPUs made when, and only when, the watched process last ran on
 * the observer's own CPU, undone by steer_back().
 */
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "steer.h"

/* fields 3..38 of a stat line, each "0", before the CPU */
static const char *stat_line(char *buf, size_t len, const char *comm, const char *cpu)
{
	int n = snprintf(buf, len, "42 (%s) S", comm);

	for (int f = 4; f < 39; f++)
		n += snprintf(buf + n, len - (size_t)n, " %d", f);
	snprintf(buf + n, len - (size_t)n, " %s 0 0 0\n", cpu);
	return buf;
}

static void test_stat_cpu(void **state)
{
	char buf[512];

	(void)state;
	assert_int_equal(steer_stat_cpu(stat_line(buf, sizeof(buf), "relive-vm", "1")), 1);
	/* a command with spaces and parentheses of its own */
	assert_int_equal(steer_stat_cpu(stat_line(buf, sizeof(buf), "a) (b c", "7")), 7);
	assert_int_equal(steer_stat_cpu(stat_line(buf, sizeof(buf), "x", "abc")), -1);
	assert_int_equal(steer_stat_cpu(stat_line(buf, sizeof(buf), "x", "-3")), -1);
	assert_int_equal(steer_stat_cpu("42 (x) S 1 2 3"), -1);
	assert_int_equal(steer_stat_cpu("no parenthesis"), -1);
}

static int first_cpu(const cpu_set_t *set, int not)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, set) && c != not)
			return c;
	return -1;
}

static void pin(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
}

/* A child that runs on @cpu and sleeps. Return: its pid, once it has run there. */
static pid_t sleeper_on(int cpu)
{
	char path[64], buf[1024];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* gone with the test, even one that failed before reap() */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(0);
		pin(cpu);
		for (;;)
			pause();
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "re");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = 0;
		if (n && steer_stat_cpu(buf) == cpu && strstr(buf, ") S "))
			return pid;
		usleep(1000);
	}
	fail_msg("the child never slept on CPU %d", cpu);
	return -1;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_self_cpu(void **state)
{
	cpu_set_t all;
	char buf[1024];
	FILE *f;
	size_t n;
	int c;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	c = first_cpu(&all, -1);
	pin(c);
	f = fopen("/proc/self/stat", "re");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	assert_int_equal(steer_stat_cpu(buf), c);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
}

static void test_away_and_back(void **state)
{
	cpu_set_t all, now;
	struct steer st;
	int c, other;
	pid_t vmm;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	if (CPU_COUNT(&all) < 2)
		skip(); /* nowhere to steer to */
	c = first_cpu(&all, -1);
	other = first_cpu(&all, c);
	steer_init(&st, false);
	assert_true(st.on);

	/* The VMM on another CPU than ours: the observer stays. */
	vmm = sleeper_on(other);
	steer_watch(&st, vmm);
	pin(c);
	assert_int_equal(steer_away(&st), -1);
	assert_false(st.moved);
	reap(vmm);

	/* The VMM on our CPU: the observer goes, then comes back. */
	vmm = sleeper_on(c);
	steer_watch(&st, vmm);
	assert_int_equal(steer_away(&st), c);
	assert_true(st.moved);
	assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
	assert_false(CPU_ISSET(c, &now));
	assert_int_equal(CPU_COUNT(&now), CPU_COUNT(&all) - 1);
	assert_int_not_equal(sched_getcpu(), c);
	steer_back(&st);
	assert_false(st.moved);
	assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
	assert_true(CPU_EQUAL(&now, &all));
	reap(vmm);
	steer_close(&st);
}

static void test_pinned_stays(void **state)
{
	struct steer st;
	cpu_set_t all;
	pid_t vmm;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	steer_init(&st, true);
	assert_false(st.on);
	vmm = sleeper_on(first_cpu(&all, -1));
	steer_watch(&st, vmm);
	pin(first_cpu(&all, -1));
	assert_int_equal(steer_away(&st), -1);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	reap(vmm);
	steer_close(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stat_cpu),
		cmocka_unit_test(test_self_cpu),
		cmocka_unit_test(test_away_and_back),
		cmocka_unit_test(test_pinned_stays),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
