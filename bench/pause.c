// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `relive-bench pause`: the guest-visible pause of a VMM update, seen from
 * outside. This file is the command: it reads the options, builds the
 * scenarios (scenario.c), runs them (run.c) and writes the reports
 * (report.c, plot.c). Dependencies point one way, from here down:
 * pause.c -> run.c -> update.c -> vmm.c, observer.c, qmp-client.c;
 * pause.c -> report.c, plot.c; all of them -> scenario.h.
 */
#include "bench.h"
#include "firmware.h"
#include "report.h"
#include "run.h"
#include "scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The options as given, before their defaults are settled. */
struct pause_cli {
	struct scenario_axes axes;
	char *modes, *rams, *vcpus, *blobs, *backings, *execs, *writers, *populate;
	char *fw_out, *vm, *tramp, *qemu, *holder, *out, *accel;
	char *holder_note;
	gboolean warm, cold, quick, verbose, touch_ram, floor;
	int observer_sleep, runs, observer_cpu, rate_window, timeout_s;
};

static void cli_clear(struct pause_cli *cli)
{
	g_free(cli->modes);
	g_free(cli->rams);
	g_free(cli->vcpus);
	g_free(cli->blobs);
	g_free(cli->backings);
	g_free(cli->execs);
	g_free(cli->writers);
	g_free(cli->populate);
	g_free(cli->fw_out);
	g_free(cli->vm);
	g_free(cli->tramp);
	g_free(cli->qemu);
	g_free(cli->holder);
	g_free(cli->holder_note);
	g_free(cli->out);
	g_free(cli->accel);
}

static gboolean default_accel_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

static char *sibling_binary(const char *rel)
{
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = NULL;

	if (!self)
		return g_strdup(rel);
	dir = g_path_get_dirname(self);
	return g_build_filename(dir, "..", rel, NULL);
}

/* Return: -1 to go on, or the exit status (a usage error). */
static int parse_options(struct pause_cli *cli, int argc, char **argv)
{
	GOptionEntry entries[] = {
		{ "mode", 0, 0, G_OPTION_ARG_STRING, &cli->modes,
		  "Update modes, comma-separated: cpr-exec,cpr-transfer,cpr-reboot,normal (cpr-exec)", "LIST" },
		{ "ram", 0, 0, G_OPTION_ARG_STRING, &cli->rams,
		  "Guest RAM sizes, 256M to 16G (256M,1G,4G)", "LIST" },
		{ "vcpus", 0, 0, G_OPTION_ARG_STRING, &cli->vcpus, "vCPU counts, 1 to 8 (1)", "LIST" },
		{ "blob", 0, 0, G_OPTION_ARG_STRING, &cli->blobs,
		  "state-blob device sizes, 0 to 256M (0)", "LIST" },
		{ "backing", 0, 0, G_OPTION_ARG_STRING, &cli->backings,
		  "RAM backings: memfd,hugetlb,file,private (memfd)", "LIST" },
		{ "exec", 0, 0, G_OPTION_ARG_STRING, &cli->execs,
		  "cpr-exec through: trampoline,direct (trampoline)", "LIST" },
		{ "writer", 0, 0, G_OPTION_ARG_STRING, &cli->writers,
		  "State writer: io_uring,fallback (the VMM's default)", "LIST" },
		{ "warm", 0, 0, G_OPTION_ARG_NONE, &cli->warm,
		  "Populate all guest RAM before measuring (prealloc=on on the first VMM; the default)", NULL },
		{ "cold", 0, 0, G_OPTION_ARG_NONE, &cli->cold,
		  "Populate nothing: no prealloc, page tables empty", NULL },
		{ "populate", 0, 0, G_OPTION_ARG_STRING, &cli->populate,
		  "Fractions of guest RAM populated before measuring: 1 warm, 0 cold (1)", "LIST" },
		{ "touch-ram", 0, 0, G_OPTION_ARG_NONE, &cli->touch_ram,
		  "The guest writes every 4 KiB page of its RAM over and over (-accel thread,touch-ram=on; needs --accel thread)", NULL },
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &cli->runs, "Updates per scenario (20)", "N" },
		{ "quick", 0, 0, G_OPTION_ARG_NONE, &cli->quick,
		  "A small matrix that runs in well under a minute", NULL },
		{ "compare-qemu", 0, 0, G_OPTION_ARG_FILENAME, &cli->qemu,
		  "Also run the CPR scenarios on this QEMU 10.2+ binary", "PATH" },
		{ "qemu-holder", 0, 0, G_OPTION_ARG_FILENAME, &cli->holder,
		  "With --compare-qemu, also run QEMU with this address-space holder in LD_PRELOAD (build/holder/relive-holder.so)", "PATH" },
		{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &cli->out,
		  "Results directory (bench-results)", "DIR" },
		{ "accel", 0, 0, G_OPTION_ARG_STRING, &cli->accel,
		  "kvm or thread (kvm where /dev/kvm opens)", "ACCEL" },
		{ "vm", 0, 0, G_OPTION_ARG_FILENAME, &cli->vm, "relive-vm binary", "PATH" },
		{ "trampoline", 0, 0, G_OPTION_ARG_FILENAME, &cli->tramp,
		  "relive-trampoline binary", "PATH" },
		{ "observer-cpu", 0, 0, G_OPTION_ARG_INT, &cli->observer_cpu,
		  "Pin the observer to this CPU (not pinned)", "N" },
		{ "observer-sleep", 0, 0, G_OPTION_ARG_INT, &cli->observer_sleep,
		  "Sleep between two reads of the heartbeats, in microseconds (0: a tight loop; the default with 4 CPUs or more, else 50)", "US" },
		{ "rate-window", 0, 0, G_OPTION_ARG_INT, &cli->rate_window,
		  "Heartbeat rate window before the stop and after the resume, ms (1000)", "MS" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &cli->timeout_s,
		  "Seconds one update may take, plus 10 per GiB of RAM (60)", "S" },
		{ "write-firmware", 0, 0, G_OPTION_ARG_FILENAME, &cli->fw_out,
		  "Write the heartbeat firmware image given to QEMU and exit", "PATH" },
		{ "floor", 0, 0, G_OPTION_ARG_NONE, &cli->floor,
		  "Also time the floor of a cpr-exec update after each update of relive-vm "
		  "(relive-bench floor): columns floor and x-floor", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &cli->verbose,
		  "Print every command line and every sample", NULL },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- guest-visible pause of an update");
	GError *err = NULL;

	cli->observer_sleep = -1;
	cli->observer_cpu = -1;
	cli->rate_window = -1;
	cli->timeout_s = 60;
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Starts relive-vm per scenario, watches the guest's heartbeats from a separate\n"
		"process, updates the VMM N times over QMP and prints the pause: median, p90,\n"
		"max, with the VMM's own breakdown. See docs/bench.md.");
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "relive-bench pause: %s\n", err->message);
		g_error_free(err);
		return 2;
	}
	return -1;
}

/* --quick, --cold and the defaults that depend on the host. Return: -1 or 2. */
static int settle_defaults(struct pause_cli *cli)
{
	if (cli->warm + cli->cold + !!cli->populate > 1) {
		fprintf(stderr, "relive-bench pause: give one of --warm, --cold, --populate\n");
		return 2;
	}
	if (cli->holder && !cli->qemu) {
		fprintf(stderr, "relive-bench pause: --qemu-holder needs --compare-qemu\n");
		return 2;
	}
	if (cli->cold)
		cli->populate = g_strdup("0");
	if (!cli->populate)
		cli->populate = g_strdup("1");
	if (cli->quick) {
		if (!cli->rams)
			cli->rams = g_strdup("256M,1G");
		if (!cli->runs)
			cli->runs = 5;
		if (cli->rate_window < 0)
			cli->rate_window = 200;
	}
	/*
	 * A tight loop takes a whole core: where the host has no core to spare
	 * beyond the vCPUs and the VMM's main thread, it would steal one from
	 * the VMM and measure itself. Poll every 50 µs there instead.
	 */
	if (cli->observer_sleep < 0)
		cli->observer_sleep = sysconf(_SC_NPROCESSORS_ONLN) >= 4 ? 0 : 50;
	if (!cli->vm)
		cli->vm = sibling_binary("vm/relive-vm");
	if (!cli->tramp)
		cli->tramp = sibling_binary("trampoline/relive-trampoline");
	cli->axes = (struct scenario_axes){
		.modes = cli->modes, .rams = cli->rams, .vcpus = cli->vcpus, .blobs = cli->blobs,
		.backings = cli->backings, .execs = cli->execs, .writers = cli->writers,
		.populate = cli->populate,
	};
	return -1;
}

/*
 * The holder variant of the QEMU comparison: the holder given, or the one
 * built beside the bench. Without one the variant is left out, with a note.
 */
static void settle_holder(struct pause_cli *cli, struct pause_opts *o)
{
	gboolean given = cli->holder != NULL;
	g_autofree char *rel = given ? g_strdup(cli->holder) :
		sibling_binary("holder/relive-holder.so");
	/* A relative LD_PRELOAD would be looked up against the VMM's working directory. */
	g_autofree char *path = g_canonicalize_filename(rel, NULL);

	if (access(path, R_OK)) {
		cli->holder_note = g_strdup_printf("QEMU with the holder left out: %s: %s (%s)",
						   path, g_strerror(errno), given ?
						   "check --qemu-holder" :
						   "build the holder or give --qemu-holder");
		fprintf(stderr, "relive-bench pause: %s\n", cli->holder_note);
		o->holder_note = cli->holder_note;
		return;
	}
	g_free(cli->holder);
	cli->holder = g_steal_pointer(&path);
	o->holder_path = cli->holder;
}

/* Fills @o from @cli. Return: -1 to go on, or the exit status. */
static int settle_opts(struct pause_cli *cli, struct pause_opts *o)
{
	o->runs = cli->runs > 0 ? (unsigned)cli->runs : 20;
	o->rate_window_ms = cli->rate_window >= 0 ? (unsigned)cli->rate_window : 1000;
	o->timeout_ms = (unsigned)cli->timeout_s * 1000u;
	o->observer_cpu = cli->observer_cpu;
	o->observer_sleep_us = (unsigned)cli->observer_sleep;
	o->verbose = cli->verbose;
	o->floor = cli->floor;
	o->vm_path = cli->vm;
	o->trampoline_path = cli->tramp;
	o->out_dir = cli->out ? cli->out : "bench-results";
	o->accel = cli->accel ? cli->accel : default_accel_kvm() ? "kvm" : "thread";
	if (strcmp(o->accel, "kvm") && strcmp(o->accel, "thread")) {
		fprintf(stderr, "relive-bench pause: --accel: kvm or thread, not '%s'\n", o->accel);
		return 2;
	}
	o->touch_ram = cli->touch_ram;
	if (o->touch_ram && (strcmp(o->accel, "thread") || cli->qemu)) {
		fprintf(stderr, "relive-bench pause: --touch-ram is relive-vm's -accel thread: "
			"give --accel thread, without --compare-qemu\n");
		return 2;
	}
	if (cli->qemu && access(cli->qemu, X_OK)) {
		fprintf(stderr, "relive-bench pause: --compare-qemu %s: %s; "
			"running without the QEMU comparison\n", cli->qemu, g_strerror(errno));
		g_clear_pointer(&cli->qemu, g_free);
	}
	o->qemu_path = cli->qemu;
	if (o->qemu_path)
		settle_holder(cli, o);
	if (g_mkdir_with_parents(o->out_dir, 0755)) {
		fprintf(stderr, "relive-bench pause: %s: %s\n", o->out_dir, g_strerror(errno));
		return 1;
	}
	return -1;
}

/* The table on stdout, the JSON file and the plot. Return: the exit status so far. */
static int write_reports(const struct pause_opts *o)
{
	g_autofree char *json = g_build_filename(o->out_dir, "pause.json", NULL);
	GError *err = NULL;
	int status = 0;

	report_table(stdout, o);
	if (!report_json(o, json, &err)) {
		fprintf(stderr, "relive-bench pause: %s\n", err->message);
		g_clear_error(&err);
		status = 1;
	} else {
		printf("\nsamples: %s\n", json);
	}
	if (report_plot(o, o->out_dir, &err)) {
		printf("plot: %s/pause.svg\n", o->out_dir);
	} else {
		printf("plot: %s\n", err->message);
		g_clear_error(&err);
	}
	return status;
}

/* Return: 1 when a scenario that was not refused failed part-way. */
static int scenarios_status(const struct pause_opts *o)
{
	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);

		if (!sc->samples->len && !sc->skipped)
			return 1;
	}
	return 0;
}

int bench_pause_main(int argc, char **argv)
{
	struct pause_cli cli = { 0 };
	struct pause_opts o = { 0 };
	g_autofree char *args = g_strjoinv(" ", argv + 1);
	g_autofree char *cmdline = g_strdup_printf("relive-bench pause %s", args);
	enum vmm_kind vmms[3] = { VMM_RELIVE };
	unsigned n_vmms = 1;
	GError *err = NULL;
	int status;

	if ((status = parse_options(&cli, argc, argv)) >= 0)
		goto out;
	if (cli.fw_out) {
		status = firmware_write(cli.fw_out, &err) ? 0 : 1;
		goto out;
	}
	if ((status = settle_defaults(&cli)) >= 0 || (status = settle_opts(&cli, &o)) >= 0)
		goto out;
	o.command_line = cmdline;
	o.scenarios = g_ptr_array_new();
	if (o.qemu_path)
		vmms[n_vmms++] = VMM_QEMU;
	if (o.holder_path)
		vmms[n_vmms++] = VMM_QEMU_HOLDER;
	if (!scenarios_build(&cli.axes, vmms, n_vmms, o.scenarios, &err)) {
		status = 2;
		goto out;
	}
	run_scenarios(&o);
	status = write_reports(&o);
	if (scenarios_status(&o))
		status = 1;
out:
	if (err) {
		fprintf(stderr, "relive-bench pause: %s\n", err->message);
		g_error_free(err);
	}
	cli_clear(&cli);
	return status;
}
