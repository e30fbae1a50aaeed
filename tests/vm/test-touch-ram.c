// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * -accel thread,touch-ram=on: the vCPUs write the last byte of every 4 KiB
 * page of guest RAM over and over (each vCPU its share), the heartbeats
 * beside them keep counting, and the accelerator property is refused where
 * it means nothing.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define RAM_MIB 64
#define PAGE 4096u

static const char *accel;

/* Page offsets to watch: the first, around each vCPU's share, the last. */
static const uint64_t watched[] = {
	0, 1, (RAM_MIB << 20) / 4 - PAGE, (RAM_MIB << 20) / 2, (RAM_MIB << 20) / 2 + PAGE,
	(RAM_MIB << 20) - 2 * PAGE, (RAM_MIB << 20) - PAGE,
};
#define NR_WATCHED G_N_ELEMENTS(watched)

static void case_touch_ram(void)
{
	/* hv_vm_start() gives "-accel thread": the later -accel wins */
	const char *touch[] = { "-accel", "thread,touch-ram=on", NULL };
	uint8_t first[NR_WATCHED];
	uint64_t beats[2];
	unsigned changed = 0;
	struct hv_vm v;
	uint8_t *ram;
	gint64 deadline;

	hv_vm_start(&v, accel, RAM_MIB, 2, touch);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map the guest's RAM");
	for (unsigned i = 0; i < NR_WATCHED; i++) {
		uint64_t off = watched[i] / PAGE * PAGE + PAGE - 1;

		first[i] = __atomic_load_n(&ram[off], __ATOMIC_RELAXED);
	}
	beats[0] = hv_heartbeat(ram, 0);
	beats[1] = hv_heartbeat(ram, 1);
	/* a 64 MiB sweep is 16384 pages: 256 beats of each vCPU */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (changed != (1u << NR_WATCHED) - 1 && g_get_monotonic_time() < deadline) {
		for (unsigned i = 0; i < NR_WATCHED; i++) {
			uint64_t off = watched[i] / PAGE * PAGE + PAGE - 1;

			if (__atomic_load_n(&ram[off], __ATOMIC_RELAXED) != first[i])
				changed |= 1u << i;
		}
		g_usleep(1000);
	}
	for (unsigned i = 0; i < NR_WATCHED; i++)
		hv_assert(changed & (1u << i),
			  "the last byte of the page at 0x%" G_GINT64_MODIFIER "x was never written",
			  watched[i] / PAGE * PAGE);
	hv_assert(hv_heartbeats_advance(ram, 2, beats, 5000), "the heartbeats stopped");
	printf("touch-ram: %u watched pages written, heartbeats %" G_GUINT64_FORMAT " and %"
	       G_GUINT64_FORMAT "\n", (unsigned)NR_WATCHED, hv_heartbeat(ram, 0), hv_heartbeat(ram, 1));
	hv_vm_stop(&v);
}

static void case_refused(void)
{
	static const struct {
		const char *arg, *want;
	} bad[] = {
		{ "kvm,touch-ram=on", "touch-ram is a property of -accel thread" },
		{ "thread,touch-ram=maybe", "touch-ram=maybe: expected on or off" },
		{ "thread,touch=on", "unknown property 'touch=on'" },
	};

	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *argv[] = { hv_vm_binary(), "-accel", bad[i].arg, "-m", "64M",
				       "-serial", "none", NULL };
		g_autofree char *out = NULL, *err = NULL;
		int status = 0;

		hv_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
				       &out, &err, &status, NULL), "cannot run relive-vm");
		hv_assert(!g_spawn_check_wait_status(status, NULL),
			  "-accel %s was accepted", bad[i].arg);
		hv_assert(strstr(err, bad[i].want), "-accel %s: the error does not say '%s':\n%s",
			  bad[i].arg, bad[i].want, err);
		printf("-accel %s: %s", bad[i].arg, err);
	}
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[2] : "";

	accel = hv_accel(argc, argv);
	if (!strcmp(c, "touch-ram"))
		case_touch_ram();
	else if (!strcmp(c, "refused"))
		case_refused();
	else {
		fprintf(stderr, "unknown case '%s'\n", c);
		return 2;
	}
	hv_cleanup();
	return 0;
}
