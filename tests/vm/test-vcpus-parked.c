// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Parked vCPUs cost nothing: with 8 vCPUs stopped, their threads use no CPU
 * time for 200 ms (utime+stime from /proc/PID/task/TID/stat), after the
 * first stop and after a stop that follows a resume; in between, the resume
 * moves every vCPU (each heartbeat advances). When all vCPUs waited on one
 * condition that every parked thread broadcast, the parked threads woke
 * each other in turn for as long as they stayed parked, and a stopped
 * 8-vCPU guest kept both cores of the reference machine busy.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NR_VCPUS 8
#define IDLE_MS 200
/* One clock tick (10 ms) of slack for a thread caught mid-accounting. */
#define IDLE_TICKS_MAX 1

static const char *accel;

/* Sum of utime+stime of @pid's threads named vcpu*, in clock ticks; @n: how many. */
static unsigned long long vcpu_ticks(pid_t pid, unsigned *n)
{
	g_autofree char *dir = g_strdup_printf("/proc/%d/task", (int)pid);
	unsigned long long sum = 0;
	struct dirent *d;
	DIR *dp = opendir(dir);

	hv_assert(dp, "cannot open %s", dir);
	*n = 0;
	while ((d = readdir(dp))) {
		g_autofree char *comm_path = NULL, *stat_path = NULL, *comm = NULL, *stat = NULL;
		unsigned long long ut, st;
		const char *p;

		if (d->d_name[0] == '.')
			continue;
		comm_path = g_strdup_printf("%s/%s/comm", dir, d->d_name);
		stat_path = g_strdup_printf("%s/%s/stat", dir, d->d_name);
		if (!g_file_get_contents(comm_path, &comm, NULL, NULL) ||
		    !g_str_has_prefix(comm, "vcpu") ||
		    !g_file_get_contents(stat_path, &stat, NULL, NULL))
			continue;
		/* fields after "(comm)": state is field 3, utime 14, stime 15 */
		p = strrchr(stat, ')');
		hv_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				      &ut, &st) == 2, "cannot parse %s: %s", stat_path, stat);
		sum += ut + st;
		(*n)++;
	}
	closedir(dp);
	return sum;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts))
		;
}

static void assert_parked_idle(struct hv_vm *v, const char *when)
{
	unsigned long long before, after;
	unsigned n;
	long tck = sysconf(_SC_CLK_TCK);

	/* let the stop settle: the last thread to park may still be on its way */
	sleep_ms(20);
	before = vcpu_ticks(v->pid, &n);
	hv_assert(n == NR_VCPUS, "%s: %u vCPU threads, expected %d", when, n, NR_VCPUS);
	sleep_ms(IDLE_MS);
	after = vcpu_ticks(v->pid, &n);
	printf("%s: %d parked vCPUs used %llu ticks (%.0f ms of CPU) in %d ms\n", when,
	       NR_VCPUS, after - before, (after - before) * 1000.0 / tck, IDLE_MS);
	hv_assert(after - before <= IDLE_TICKS_MAX,
		  "%s: %d parked vCPU threads used %llu clock ticks (%.0f ms of CPU) in %d ms, at most %d allowed",
		  when, NR_VCPUS, after - before, (after - before) * 1000.0 / tck, IDLE_MS,
		  IDLE_TICKS_MAX);
}

static void case_parked_idle(void)
{
	uint64_t before[NR_VCPUS];
	g_autofree char *st = NULL;
	struct hv_vm v;
	void *ram;

	hv_vm_start(&v, accel, 64, NR_VCPUS, NULL);
	ram = hv_map_ram(v.pid, "ram0", 64ull << 20);
	hv_assert(ram, "cannot map the guest's RAM");

	json_node_unref(hv_qmp(&v, "stop", NULL));
	assert_parked_idle(&v, "first stop");

	for (unsigned i = 0; i < NR_VCPUS; i++)
		before[i] = hv_heartbeat(ram, i);
	json_node_unref(hv_qmp(&v, "cont", NULL));
	hv_assert(hv_heartbeats_advance(ram, NR_VCPUS, before, 5000),
		  "not every vCPU ran after the resume");
	st = hv_status(&v);
	hv_assert(!strcmp(st, "running"), "status '%s' after cont", st);

	json_node_unref(hv_qmp(&v, "stop", NULL));
	for (unsigned i = 0; i < NR_VCPUS; i++)
		before[i] = hv_heartbeat(ram, i);
	assert_parked_idle(&v, "stop after a resume");
	for (unsigned i = 0; i < NR_VCPUS; i++)
		hv_assert(hv_heartbeat(ram, i) == before[i], "vCPU %u beat while stopped", i);
	hv_vm_stop(&v);
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[2] : "";

	accel = hv_accel(argc, argv);
	if (!strcmp(c, "parked-idle"))
		case_parked_idle();
	else {
		fprintf(stderr, "unknown case '%s'\n", c);
		return 2;
	}
	hv_cleanup();
	return 0;
}
