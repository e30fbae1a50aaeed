/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The floor of a cpr-exec update on this host: what no VMM update can do
 * without, timed part by part: the exec of relive-trampoline, its own
 * work, the exec of a static binary of relive-vm's size, mapping the
 * guest RAM, creating the VM, its memory slots and its vCPUs (KVM), or
 * the vCPU threads (-accel thread). Used by `relive-bench floor` and by
 * `relive-bench pause --floor`, which measures it between updates.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

enum floor_part {
	FLOOR_TRAMP_EXEC,	/* before the exec -> relive-trampoline's entry */
	FLOOR_TRAMP,		/* its entry -> its exec of the next binary */
	FLOOR_VM_EXEC,		/* that exec -> the entry of the static binary of relive-vm's size */
	FLOOR_RAM_MAPPED,	/* mmap of the RAM memfd */
	FLOOR_VM_CREATED,	/* KVM_CREATE_VM and the TSS, as relive-vm does (KVM only) */
	FLOOR_SLOTS,		/* KVM_SET_USER_MEMORY_REGION (KVM only) */
	FLOOR_VCPUS,		/* KVM_CREATE_VCPU + mmap of kvm_run, or the vCPU threads */
	FLOOR_NPARTS
};

struct floor_cfg {
	const char *trampoline;	/* relive-trampoline */
	const char *probe_vm;	/* the static probe of relive-vm's size */
	bool kvm;		/* else -accel thread */
	uint64_t ram;
	unsigned vcpus;
	bool populate;		/* fill the RAM memfd first, as a warm guest's */
};

struct floor;

/* Return: NULL with *@why set (g_free) when the floor cannot be measured. */
struct floor *floor_new(const struct floor_cfg *cfg, char **why);
/* One sample of every part. Return: 0 or a negative errno. */
int floor_sample(struct floor *f);
void floor_free(struct floor *f);

/* The name of @part as printed and in JSON ("trampoline-exec", ...). */
const char *floor_part_name(enum floor_part part);
/* Is @part timed with this configuration (the KVM parts are not with threads)? */
bool floor_part_measured(const struct floor *f, enum floor_part part);
/* Quantile @q (0..1) of @part in µs, or of the floor (sum of one sample's parts) with FLOOR_NPARTS. */
double floor_quantile(const struct floor *f, enum floor_part part, double q);
unsigned floor_samples(const struct floor *f);

/* The floor's summary as pause.json's "floor" member of a scenario. */
JsonObject *floor_json(const struct floor *f);

/*
 * relive-bench pause --floor: a floor for the scenario (its RAM, vCPUs,
 * accel), NULL with sc->note-worthy *@why when it cannot be measured.
 */
struct floor *floor_for_scenario(const struct pause_opts *o, const struct scenario *sc,
				 char **why);
/* The floor samples taken after each update of a scenario. */
#define FLOOR_PER_UPDATE 5

/* The table's floor and x-floor cells (ms, pause median / floor median). */
void floor_cells(FILE *out, const struct scenario *sc);

#endif
