/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench pause: scenarios, samples and the entry point. pause.c runs
 * the scenarios (vm.c starts the VMMs), report.c turns the samples into
 * the table, the JSON file and the plot.
 */
#ifndef BENCH_PAUSE_H
#define BENCH_PAUSE_H

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "observer.h"

enum vmm_kind { VMM_RELIVE, VMM_QEMU };
enum update_mode { MODE_NORMAL, MODE_CPR_REBOOT, MODE_CPR_TRANSFER, MODE_CPR_EXEC };
enum backing { BACK_MEMFD, BACK_HUGETLB, BACK_FILE, BACK_PRIVATE };
enum exec_via { EXEC_TRAMPOLINE, EXEC_DIRECT };

struct sample {
	uint64_t pause_ns;		/* longest stall of any vCPU, seen from outside */
	uint64_t stall_ns[OBS_MAX_VCPUS];
	double rate_before;		/* sum over vCPUs, increments per second */
	double rate_after;
	double downtime_ms;		/* the VMM's own "total-downtime", or < 0 */
	uint64_t state_bytes;		/* size of the state file, or 0 */
	JsonObject *breakdown;		/* "relive-pause", or NULL */
};

struct scenario {
	enum vmm_kind vmm;
	enum update_mode mode;
	enum backing backing;
	uint64_t ram;
	unsigned vcpus;
	uint64_t blob;
	enum exec_via exec;
	const char *writer;	/* "io_uring", "fallback" or NULL for the default */
	double populate;	/* fraction of RAM in the VMM's page tables at start */

	GArray *samples;	/* struct sample */
	char *skipped;		/* why no sample was taken, or NULL */
	char *note;		/* something the reader should know, or NULL */
};

struct pause_opts {
	const char *vm_path;
	const char *trampoline_path;
	const char *qemu_path;	/* --compare-qemu */
	const char *out_dir;
	const char *accel;	/* kvm, thread (tcg for QEMU) */
	unsigned runs;
	int observer_cpu;
	unsigned observer_sleep_us;
	unsigned rate_window_ms;
	unsigned timeout_ms;
	bool verbose;
	GPtrArray *scenarios;	/* struct scenario * */
	char *command_line;
};

const char *mode_name(enum update_mode m);
const char *backing_name(enum backing b);
const char *vmm_name(enum vmm_kind v);
char *size_name(uint64_t bytes);

/* Each returns a new scenario-independent summary figure from the samples. */
double samples_pause_quantile(const struct scenario *sc, double q); /* ms */

/* report.c */
void report_table(FILE *out, const struct pause_opts *o);
gboolean report_json(const struct pause_opts *o, const char *path, GError **errp);
/* Return: TRUE if the plot was written; FALSE with @errp set otherwise. */
gboolean report_plot(const struct pause_opts *o, const char *dir, GError **errp);

int bench_pause_main(int argc, char **argv);

#endif
