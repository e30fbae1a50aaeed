// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `relive-bench trampoline`: what relive-trampoline adds to an exec, against
 * a direct exec of the same static target, with a CPR state of N preserved
 * fds. `relive-bench cpr-exec`: rl_cpr_exec() from a process with a large
 * populated shared memfd mapping, with and without the address-space holder.
 * Both time from just before the exec to the static probe's first
 * instruction (build/trampoline/relive-exec-probe). Medians on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "exec-timing.h"

/* --------------------------------------------------------- trampoline */

int bench_trampoline(int argc, char **argv)
{
	int runs = 1000, nfds = 64, ret = 1;
	char *tramp = NULL, *probe = NULL;
	GOptionEntry entries[] = {
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "execs per variant (1000)", "N" },
		{ "fds", 0, 0, G_OPTION_ARG_INT, &nfds, "preserved fds in the CPR state (64)", "N" },
		{ "trampoline", 0, 0, G_OPTION_ARG_FILENAME, &tramp, "relive-trampoline to time", "PATH" },
		{ "probe", 0, 0, G_OPTION_ARG_FILENAME, &probe, "static exec target", "PATH" },
		{ NULL },
	};
	GOptionContext *ctx = g_option_context_new("- time exec through relive-trampoline");
	struct rl_cpr_state *st = NULL;
	double *direct = NULL, *via = NULL, *inside = NULL;
	GError *gerr = NULL;
	int sfd = -1, err;

	/* Inherited fds would be strays for the trampoline to report every run. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
		fprintf(stderr, "relive-bench trampoline: %s\n", gerr->message);
		goto out;
	}
	if (runs < 1 || nfds < 0 || nfds > RL_CPR_MAX_FDS) {
		fprintf(stderr, "relive-bench trampoline: --runs >= 1, --fds 0..%d\n",
			RL_CPR_MAX_FDS);
		goto out;
	}
	if (!tramp)
		tramp = find_tool("trampoline", "relive-trampoline");
	if (!probe)
		probe = find_tool("trampoline", "relive-exec-probe");
	if (!tramp || !probe) {
		fprintf(stderr, "relive-bench trampoline: cannot find relive-trampoline "
				"and relive-exec-probe; give --trampoline and --probe\n");
		goto out;
	}

	/* The state: nfds memfds and sockets, as a VMM's would be. */
	if ((err = exec_timing_state(nfds, &st, &sfd)) < 0) {
		bench_errno("writing the CPR state", err);
		goto out;
	}

	direct = g_new0(double, runs);
	via = g_new0(double, runs);
	inside = g_new0(double, runs);
	char *dargv[] = { probe, NULL };
	char *targv[] = { tramp, "--", probe, NULL };

	/* Interleaved, so drift and frequency changes hit both alike. */
	for (int i = 0; i < runs; i++) {
		struct timed a, b;

		if (timed_exec(dargv, NULL, NULL, NULL, NULL, NULL, &a) < 0 ||
		    timed_exec(targv, NULL, NULL, NULL, NULL, NULL, &b) < 0) {
			fprintf(stderr, "relive-bench trampoline: run %d failed "
					"(run `%s --check -v` by hand to see why)\n", i, tramp);
			goto out;
		}
		direct[i] = a.total_ns;
		via[i] = b.total_ns;
		inside[i] = b.tramp_ns;
	}
	double md = bench_median(direct, runs), mv = bench_median(via, runs);
	double mi = bench_median(inside, runs);

	printf("relive-bench trampoline: %d execs each, %d preserved fds, target %s\n",
	       runs, nfds, probe);
	printf("  %-34s %10.1f us (median)\n", "direct exec", md / 1000);
	printf("  %-34s %10.1f us (median)\n", "exec through the trampoline", mv / 1000);
	printf("  %-34s %10.1f us\n", "added by the trampoline", (mv - md) / 1000);
	printf("  %-34s %10.1f us (median)\n", "  of which inside it (entry->exec)", mi / 1000);
	ret = 0;
out:
	exec_timing_state_free(st, sfd);
	g_free(direct);
	g_free(via);
	g_free(inside);
	g_free(tramp);
	g_free(probe);
	g_clear_error(&gerr);
	g_option_context_free(ctx);
	return ret;
}

/* ---------------------------------------------------------- cpr-exec */

struct mapping {
	int fd;
	uint64_t size;
};

/*
 * In the child: map and dirty every page. fork does not copy the page
 * tables of a shared mapping, so this has to happen on the exec'ing side;
 * dirty, populated tables are what a running guest leaves to tear down.
 */
static int populate(void *arg)
{
	const struct mapping *mp = arg;
	char *m = mmap(NULL, mp->size, PROT_READ | PROT_WRITE, MAP_SHARED, mp->fd, 0);

	if (m == MAP_FAILED)
		return -1;
	if (madvise(m, mp->size, MADV_POPULATE_WRITE) < 0)
		for (uint64_t off = 0; off < mp->size; off += 4096)
			((volatile char *)m)[off] = 1;
	return 0;
}

static int holder_run(uint64_t size, bool holder, const char *probe, double *ns)
{
	struct rl_cpr_exec_opts opts = { .no_holder = !holder };
	struct rl_cpr_state *st = rl_cpr_state_new();
	char *argv[] = { (char *)probe, NULL };
	struct mapping mp = { -1, size };
	struct timed t;
	int ret;

	mp.fd = memfd_create("ram0", MFD_CLOEXEC);
	if (!st || mp.fd < 0 || fallocate(mp.fd, 0, 0, size) < 0) {
		ret = st ? -errno : -ENOMEM;
		goto out;
	}
	ret = rl_cpr_add_fd(st, "ram0", 0, mp.fd);
	if (!ret)
		ret = timed_exec(argv, NULL, st, &opts, populate, &mp, &t);
	if (!ret)
		*ns = t.total_ns;
out:
	if (mp.fd >= 0)
		close(mp.fd);
	rl_cpr_state_free(st);
	return ret;
}

int bench_cpr_exec(int argc, char **argv)
{
	char *size_s = NULL, *probe = NULL;
	int runs = 11, ret = 1;
	uint64_t size = 1ull << 30;
	GOptionEntry entries[] = {
		{ "size", 's', 0, G_OPTION_ARG_STRING, &size_s, "populated shared memfd mapping (1G)", "SIZE" },
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "execs per variant (11)", "N" },
		{ "probe", 0, 0, G_OPTION_ARG_FILENAME, &probe, "static exec target", "PATH" },
		{ NULL },
	};
	GOptionContext *ctx = g_option_context_new("- time rl_cpr_exec with and without the holder");
	double *with = NULL, *without = NULL;
	GError *gerr = NULL;
	char sz[32];

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
		fprintf(stderr, "relive-bench cpr-exec: %s\n", gerr->message);
		goto out;
	}
	if ((size_s && rl_size_parse(size_s, 1, &size) < 0) || !size || runs < 1) {
		fprintf(stderr, "relive-bench cpr-exec: bad --size or --runs\n");
		goto out;
	}
	if (!probe)
		probe = find_tool("trampoline", "relive-exec-probe");
	if (!probe) {
		fprintf(stderr, "relive-bench cpr-exec: cannot find relive-exec-probe; give --probe\n");
		goto out;
	}
	/* The holder outlives the exec'd probe briefly; it must come back to us. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	with = g_new0(double, runs);
	without = g_new0(double, runs);
	for (int i = 0; i < runs; i++) {
		int r1 = holder_run(size, true, probe, &with[i]);
		int r2 = holder_run(size, false, probe, &without[i]);

		if (r1 || r2) {
			bench_errno("cpr-exec run", r1 ? r1 : r2);
			goto out;
		}
	}
	printf("relive-bench cpr-exec: %d execs each, %s populated shared memfd mapping\n",
	       runs, rl_size_format(size, RL_SIZE_SHORT, sz, sizeof(sz)));
	printf("  %-34s %10.3f ms (median)\n", "with the address-space holder",
	       bench_median(with, runs) / 1e6);
	printf("  %-34s %10.3f ms (median)\n", "without (--no-holder)",
	       bench_median(without, runs) / 1e6);
	ret = 0;
out:
	g_free(with);
	g_free(without);
	g_free(size_s);
	g_free(probe);
	g_clear_error(&gerr);
	g_option_context_free(ctx);
	return ret;
}
