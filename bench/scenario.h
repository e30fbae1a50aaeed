/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench pause, what to run: the settings of one invocation, the
 * scenarios (the matrix of VMMs, modes, backings, RAM sizes, vCPUs, ...)
 * and the samples each collects. Depends on nothing else of the bench:
 * the command (pause.c) fills it, the runner (run.c, update.c, vmm.c)
 * and the reports (report.c, plot.c) read it.
 */
#ifndef BENCH_SCENARIO_H
#define BENCH_SCENARIO_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#define SCENARIO_MAX_VCPUS 16

/* QEMU_HOLDER: the same QEMU with the address-space holder in LD_PRELOAD. */
enum vmm_kind { VMM_RELIVE, VMM_QEMU, VMM_QEMU_HOLDER };
enum update_mode { MODE_NORMAL, MODE_CPR_REBOOT, MODE_CPR_TRANSFER, MODE_CPR_EXEC };
enum backing { BACK_MEMFD, BACK_HUGETLB, BACK_FILE, BACK_PRIVATE };
enum exec_via { EXEC_TRAMPOLINE, EXEC_DIRECT };

struct sample {
	uint64_t pause_ns;		/* longest stall of any vCPU, seen from outside */
	uint64_t stall_ns[SCENARIO_MAX_VCPUS];
	uint64_t vm_stall_ns;		/* longest interval in which no vCPU moved */
	double rate_before;		/* sum over vCPUs, increments per second */
	double rate_after;
	double rate_base;		/* sum of the vCPUs' rate_base (observer.h) */
	/* the slowest vCPU's recovery (observer.h), OBS_NOT_RECOVERED-like UINT64_MAX */
	uint64_t recover_ns;
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
	JsonObject *floor;	/* pause --floor: floor.c's summary, or NULL */
};

struct pause_opts {
	const char *vm_path;
	const char *trampoline_path;
	const char *qemu_path;	/* --compare-qemu */
	const char *holder_path; /* --qemu-holder, or NULL */
	const char *holder_note; /* why the holder variant was left out, or NULL */
	const char *out_dir;
	const char *accel;	/* kvm, thread (tcg for QEMU) */
	unsigned runs;
	int observer_cpu;
	unsigned observer_sleep_us;
	unsigned rate_window_ms;
	unsigned timeout_ms;
	bool touch_ram;		/* --touch-ram: -accel thread,touch-ram=on */
	bool verbose;
	bool floor;		/* measure the floor between updates (floor.h) */
	GPtrArray *scenarios;	/* struct scenario * */
	char *command_line;
};

/*
 * The matrix's axes as given on the command line: comma-separated lists,
 * NULL for an axis's default. @writers: NULL for the VMM's default writer.
 */
struct scenario_axes {
	const char *modes, *rams, *vcpus, *blobs, *backings, *execs, *writers, *populate;
};

/*
 * Appends to @out every combination of @axes for each VMM of @vmms, in
 * that order. QEMU runs only the CPR modes, with no state-blob and no
 * writer choice. Return: FALSE with @errp naming the bad value.
 */
gboolean scenarios_build(const struct scenario_axes *axes, const enum vmm_kind *vmms,
			 unsigned n_vmms, GPtrArray *out, GError **errp);

const char *mode_name(enum update_mode m);
const char *backing_name(enum backing b);
const char *vmm_name(enum vmm_kind v);
/* The VMM as a person names it in a message: "relive-vm", "QEMU", ... */
const char *vmm_title(enum vmm_kind v);
/* Is @v a QEMU (with or without the holder)? */
bool vmm_is_qemu(enum vmm_kind v);
/* Return: "256M", "4G", ... (g_free). */
char *size_name(uint64_t bytes);
/* Return: the scenario in one line, for the progress messages (g_free). */
char *scenario_label(const struct scenario *sc);
/* Return: the heartbeats the VMM's guest increments. */
unsigned scenario_heartbeats(const struct scenario *sc);

/* Return: the quantile @q (0 to 1) of the pauses of @sc, in ms; NAN without samples. */
double samples_pause_quantile(const struct scenario *sc, double q);
/* The same of the VM-wide stall (obs_result's vm_stall_ns), ms. */
double samples_vm_stall_quantile(const struct scenario *sc, double q);

#endif
