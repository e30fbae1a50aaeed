// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * How long saving a small VM's state stream takes inside the pause: 2 vCPUs,
 * 4 devices of 4 KiB, a 64 MiB shared memfd kept in place (cpr-exec). The
 * writer is opened before the "stop" as a VMM does; the pause part is
 * everything from the configuration section to the committed rename.
 * Prints medians; fails only above a generous ceiling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "synth-vm.h"

#define RUNS 101
#define CEILING_NS (50 * 1000 * 1000ull)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int save_once(const struct synth_vm *vm, const char *path,
		     uint64_t *t_begin, uint64_t *t_pause)
{
	struct rl_stream_save_opts opts = { .mode = RL_MODE_CPR_EXEC };
	struct rl_stream_saver *s;
	struct rl_error err = { "" };
	uint64_t t0, t1;
	int ret;

	t0 = now_ns();
	ret = rl_stream_save_begin(&s, path, &opts, &err);
	t1 = now_ns();
	if (ret < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return ret;
	}
	*t_begin = t1 - t0;
	ret = synth_vm_save_into(vm, s);
	*t_pause = now_ns() - t1;
	if (ret < 0)
		fprintf(stderr, "%s\n", err.msg);
	return ret;
}

int main(void)
{
	uint64_t begin[RUNS], pause[RUNS];
	struct synth_vm vm;
	char dir[64], path[128];
	int ret = 0;

	synth_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/vm.state", dir);
	synth_vm_init(&vm, 64 << 20, 0);
	for (unsigned i = 0; i < 4; i++) {
		snprintf(path + strlen(dir) + 1, 32, "dev%u", i);
		synth_vm_add_device(&vm, path + strlen(dir) + 1, 4096, false, i);
	}
	snprintf(path, sizeof(path), "%s/vm.state", dir);
	for (int i = 0; i < RUNS && !ret; i++)
		ret = save_once(&vm, path, &begin[i], &pause[i]);
	synth_vm_free(&vm);
	synth_rmdir(dir);
	if (ret < 0)
		return 1;
	qsort(begin, RUNS, sizeof(begin[0]), cmp_u64);
	qsort(pause, RUNS, sizeof(pause[0]), cmp_u64);
	printf("small VM (2 vCPUs, 4 x 4 KiB devices, 64 MiB memfd kept), %d runs, /tmp:\n", RUNS);
	printf("  rl_stream_save_begin (before the stop): median %.1f us\n",
	       begin[RUNS / 2] / 1e3);
	printf("  config..commit (inside the pause):      median %.1f us, p90 %.1f us, max %.1f us\n",
	       pause[RUNS / 2] / 1e3, pause[RUNS * 9 / 10] / 1e3,
	       pause[RUNS - 1] / 1e3);
	if (pause[RUNS / 2] > CEILING_NS) {
		fprintf(stderr, "median save time above the %llu ms ceiling\n",
			CEILING_NS / 1000000);
		return 1;
	}
	return 0;
}
