// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause, one scenario after the other: checks that the host
 * can run it, makes its private directory, starts its VMM and the observer,
 * updates N times (update.c) and tears everything down, reaping what the
 * VMMs' updates leave behind. Depends downwards only: update.c, vmm.c,
 * observer.c, firmware.c, reaper.c, scenario.h.
 */
#include "run.h"
#include "bench.h"
#include "firmware.h"
#include "floor.h"
#include "observer.h"
#include "reaper.h"
#include "update.h"
#include "vmm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Huge pages the kernel can hand out right now, in bytes. */
static uint64_t hugetlb_free(void)
{
	g_autofree char *s = NULL;
	unsigned long long free_pages = 0, kb = 2048;
	char *p;

	if (!g_file_get_contents("/proc/meminfo", &s, NULL, NULL))
		return 0;
	if ((p = strstr(s, "HugePages_Free:")))
		sscanf(p, "HugePages_Free: %llu", &free_pages);
	if ((p = strstr(s, "Hugepagesize:")))
		sscanf(p, "Hugepagesize: %llu", &kb);
	return free_pages * kb * 1024;
}

/* Why @sc cannot run on this host, or NULL. */
static char *precheck(const struct pause_opts *o, const struct scenario *sc)
{
	if (sc->populate > 0 && sc->populate < 1)
		return g_strdup("--populate between 0 and 1 needs a guest that writes its RAM; "
				"only 0 (cold) and 1 (prealloc=on) are wired");
	if (sc->backing == BACK_HUGETLB && hugetlb_free() < sc->ram)
		return g_strdup_printf("needs %" G_GUINT64_FORMAT " free 2 MiB huge pages "
				       "(echo N > /proc/sys/vm/nr_hugepages); %" G_GUINT64_FORMAT
				       " free", sc->ram >> 21, hugetlb_free() >> 21);
	if (sc->backing == BACK_FILE) {
		struct statvfs sv;

		if (!statvfs("/dev/shm", &sv) && (uint64_t)sv.f_bavail * sv.f_frsize < sc->ram)
			return g_strdup("not enough free space in /dev/shm");
	}
	if (sc->vmm == VMM_QEMU_HOLDER && access(o->holder_path, R_OK))
		return g_strdup_printf("%s: %s (build the holder or give --qemu-holder)",
				       o->holder_path, g_strerror(errno));
	if (sc->vmm == VMM_RELIVE && access(o->vm_path, X_OK))
		return g_strdup_printf("%s: %s (build relive-vm or give --vm)", o->vm_path,
				       g_strerror(errno));
	if (sc->exec == EXEC_TRAMPOLINE && sc->mode == MODE_CPR_EXEC &&
	    access(o->trampoline_path, X_OK))
		return g_strdup_printf("%s: %s (build relive-trampoline or use --exec direct)",
				       o->trampoline_path, g_strerror(errno));
	return NULL;
}

/* The scenario running, for the signal handler. */
static struct run_ctx *volatile active;

/*
 * Interrupted: the VMM and the observer are our children and would outlive
 * us, with the RAM file in /dev/shm. Only async-signal-safe calls here.
 */
static void on_signal(int sig)
{
	struct run_ctx *c = active;

	if (c) {
		if (c->cur.pid > 0)
			kill(c->cur.pid, SIGKILL);
		if (observer_pid(c->obs) > 0)
			kill(observer_pid(c->obs), SIGKILL);
		if (c->env.ram_path)
			unlink(c->env.ram_path);
		if (c->env.state_path)
			unlink(c->env.state_path);
		if (c->env.fw_path)
			unlink(c->env.fw_path);
		if (c->env.cpr_path)
			unlink(c->env.cpr_path);
	}
	_exit(128 + sig);
}

static void env_free(struct vmm_env *e)
{
	if (e->ram_path)
		unlink(e->ram_path);
	if (e->state_path)
		unlink(e->state_path);
	if (e->cpr_path)
		unlink(e->cpr_path);
	if (e->fw_path)
		unlink(e->fw_path);
	if (e->dir) {
		g_autofree char *m = g_strdup_printf("%s/main.sock", e->dir);
		g_autofree char *q0 = g_strdup_printf("%s/qmp-0.sock", e->dir);
		g_autofree char *q1 = g_strdup_printf("%s/qmp-1.sock", e->dir);

		unlink(m);
		unlink(q0);
		unlink(q1);
		rmdir(e->dir);
	}
	g_free(e->dir);
	g_free(e->ram_path);
	g_free(e->state_path);
	g_free(e->cpr_path);
	g_free(e->fw_path);
	g_free(e->log_path);
	g_strfreev(e->envp);
}


/*
 * The bench's environment with @holder first in LD_PRELOAD: QEMU's
 * cpr-exec keeps its environment across the exec, so the new QEMU (and
 * relive-trampoline in front of it) gets the holder too.
 */
static char **holder_environ(const char *holder)
{
	char **envp = g_get_environ();
	const char *prev = g_environ_getenv(envp, "LD_PRELOAD");
	g_autofree char *v = prev && *prev ? g_strdup_printf("%s:%s", holder, prev) :
		g_strdup(holder);

	return g_environ_setenv(envp, "LD_PRELOAD", v, TRUE);
}

/* The scenario's private directory, its files' paths, QEMU's firmware and environment. */
static gboolean env_init(struct run_ctx *c, unsigned idx, GError **errp)
{
	char tmpl[] = "/tmp/relive-bench-XXXXXX";

	if (!mkdtemp(tmpl)) {
		c->sc->skipped = g_strdup_printf("mkdtemp: %s", g_strerror(errno));
		return FALSE;
	}
	c->env.dir = g_strdup(tmpl);
	c->env.state_path = g_strdup_printf("%s/vm.state", tmpl);
	c->env.cpr_path = g_strdup_printf("%s/cpr.sock", tmpl);
	c->env.log_path = g_strdup_printf("%s/vm-%u.log", c->o->out_dir, idx);
	unlink(c->env.log_path);
	if (c->sc->backing == BACK_FILE)
		c->env.ram_path = g_strdup_printf("/dev/shm/relive-bench-%d-ram", (int)getpid());
	if (c->sc->vmm == VMM_QEMU_HOLDER)
		c->env.envp = holder_environ(c->o->holder_path);
	if (vmm_is_qemu(c->sc->vmm)) {
		c->env.fw_path = g_strdup_printf("%s/heartbeat.bin", tmpl);
		return firmware_write(c->env.fw_path, errp);
	}
	return TRUE;
}

/* Starts the scenario's first VMM; one that refuses the scenario skips it. */
static gboolean start_first_vmm(struct run_ctx *c)
{
	g_auto(GStrv) argv = NULL;
	GError *err = NULL;

	c->cur.qmp_path = update_qmp_path(c, 0);
	argv = vmm_command(c->o, c->sc, &c->env, c->cur.qmp_path, VMM_RAM_NEW);
	if (update_start_vmm(c, &c->cur, argv, &err))
		return TRUE;
	c->sc->skipped = g_strdup_printf("not supported by this %s: %s", vmm_title(c->sc->vmm),
					 err->message);
	g_error_free(err);
	return FALSE;
}

#define SETTLE_MS 1000

/* Forks the observer onto the first VMM's RAM and lets it see the rate before. */
static gboolean start_observer(struct run_ctx *c, GError **errp)
{
	struct obs_config oc = { 0 };

	oc.source = c->sc->backing == BACK_FILE ? OBS_SRC_PATH :
		c->sc->backing == BACK_PRIVATE ? OBS_SRC_PROCMEM : OBS_SRC_MEMFD;
	if (c->env.ram_path)
		g_strlcpy(oc.path, c->env.ram_path, sizeof(oc.path));
	oc.ram_size = c->sc->ram;
	oc.vcpus = scenario_heartbeats(c->sc);
	oc.cpu = c->o->observer_cpu;
	oc.rate_window_ms = c->o->rate_window_ms;
	oc.sleep_us = c->o->observer_sleep_us;
	c->obs = observer_start(&oc, errp);
	if (!c->obs || !observer_attach(c->obs, c->cur.pid, 30000, errp))
		return FALSE;
	/*
	 * History for the rate before the first stop, which is every update's
	 * reference (rate_base), after a settling second: the guest has only
	 * just started.
	 */
	g_usleep((SETTLE_MS + c->o->rate_window_ms) * 1000ull + 50000);
	return TRUE;
}

/*
 * Updates N times, keeping each sample. A refusal of the first update
 * skips the scenario; any other failure stops it with @errp set.
 */
static gboolean measure(struct run_ctx *c, struct floor *fl, const char *label, unsigned idx,
			unsigned total, GError **errp)
{
	for (unsigned r = 0; r < c->o->runs; r++) {
		struct sample s;
		gboolean unsupported = FALSE;

		fprintf(stderr, "\r\033[K[%u/%u] %s: update %u/%u", idx, total, label, r + 1,
			c->o->runs);
		if (!update_once(c, &s, &unsupported, errp)) {
			if (unsupported && r == 0) {
				c->sc->skipped = g_strdup_printf("not supported by this %s: %s",
								 vmm_title(c->sc->vmm),
								 (*errp)->message);
				g_clear_error(errp);
			}
			return FALSE;
		}
		g_array_append_val(c->sc->samples, s);
		{
			const pid_t own[] = { c->cur.pid, observer_pid(c->obs) };

			reaper_reap_adopted(own, G_N_ELEMENTS(own));
		}
		fprintf(stderr, " %.2f ms", s.pause_ns / 1e6);
		/*
		 * Between updates, so that the floor sees the host the pause saw,
		 * and with the observer quiet, as it keeps out of the pause's way.
		 */
		observer_quiet(c->obs, fl != NULL);
		for (unsigned k = 0; fl && k < FLOOR_PER_UPDATE; k++) {
			int err = floor_sample(fl);

			if (err < 0) {
				observer_quiet(c->obs, false);
				g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(-err),
					    "floor sample: %s", g_strerror(-err));
				return FALSE;
			}
		}
		observer_quiet(c->obs, false);
		if (c->o->verbose)
			fprintf(stderr, "\n");
	}
	return TRUE;
}

/* The scenario's last progress line: its median, or why it has none. */
static void report_progress(const struct scenario *sc, const char *label, unsigned idx,
			    unsigned total)
{
	if (sc->samples->len)
		fprintf(stderr, "\r\033[K[%u/%u] %s: median %.2f ms\n", idx, total, label,
			samples_pause_quantile(sc, 0.5));
	else
		fprintf(stderr, "\r\033[K[%u/%u] %s: %s\n", idx, total, label,
			sc->skipped ? sc->skipped : sc->note ? sc->note : "no sample");
}

static void run_scenario(const struct pause_opts *o, struct scenario *sc, unsigned idx,
			 unsigned total)
{
	struct run_ctx c = { .o = o, .sc = sc, .cur = { .pid = -1 } };
	g_autofree char *label = scenario_label(sc);
	struct floor *fl = NULL;
	GError *err = NULL;

	c.timeout_ms = o->timeout_ms + 10000ull * (sc->ram >> 30);
	if ((sc->skipped = precheck(o, sc))) {
		fprintf(stderr, "\r\033[K[%u/%u] %s: skipped: %s\n", idx, total, label, sc->skipped);
		return;
	}
	if (!env_init(&c, idx, &err) && !err) {
		env_free(&c.env);
		return;
	}
	active = &c;
	if (!err && start_first_vmm(&c) && start_observer(&c, &err)) {
		/* After the VMM started: the floor's preserved fds are inheritable. */
		if (o->floor && sc->vmm == VMM_RELIVE && sc->mode == MODE_CPR_EXEC) {
			g_autofree char *why = NULL;

			if (!(fl = floor_for_scenario(o, sc, &why)))
				fprintf(stderr, "\r\033[K[%u/%u] %s: no floor: %s\n", idx, total,
					label, why);
		}
		measure(&c, fl, label, idx, total, &err);
	}
	if (fl && floor_samples(fl))
		sc->floor = floor_json(fl);
	floor_free(fl);
	if (err) {
		sc->note = g_strdup_printf("stopped after %u updates: %s (log: %s)",
					   sc->samples->len, err->message, c.env.log_path);
		g_clear_error(&err);
	}
	report_progress(sc, label, idx, total);
	active = NULL;
	vmm_stop(&c.cur, 5000);
	g_free(c.cur.qmp_path);
	observer_stop(c.obs);
	env_free(&c.env);
	/* The bench's own children are reaped by now: whatever is left was adopted. */
	reaper_reap_adopted(NULL, 0);
}

/* Long enough for an address-space holder at its default bound. */
#define ADOPTED_DRAIN_MS 15000

void run_scenarios(const struct pause_opts *o)
{
	unsigned left;
	int err;

	/*
	 * A holder left behind by a VMM's exec comes to the bench, not to a
	 * PID 1 that may never reap it.
	 */
	if ((err = reaper_become()) < 0)
		bench_errno("PR_SET_CHILD_SUBREAPER", err);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	for (guint i = 0; i < o->scenarios->len; i++)
		run_scenario(o, g_ptr_array_index(o->scenarios, i), i + 1, o->scenarios->len);
	if ((left = reaper_drain(ADOPTED_DRAIN_MS)))
		fprintf(stderr, "relive-bench pause: %u adopted process(es) still running after %u s, "
			"left to PID 1\n", left, ADOPTED_DRAIN_MS / 1000);
}
