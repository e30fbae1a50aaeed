// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A process serving the monitors over the stub control, for the socket and
 * exec tests: "monitor-server QMP-SPEC HMP-SPEC". A migrate to
 * "file:exec-self" does what relive-vm's cpr-exec does to the monitors: STOP,
 * flush, register the chardevs in a CPR table, rl_cpr_exec() itself (same
 * PID), load the table, adopt them, RESUME.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relive/cpr.h"

#include "monitors/chardev.h"
#include "monitors/control.h"
#include "monitors/monitor.h"
#include "control-stub.h"

static GMainLoop *loop;
static char **self_argv;

static json_t *status_data(const char *status)
{
	return json_pack("{s:s}", "status", status);
}

static struct rl_cpr_state *cpr;

/*
 * MONITOR_SERVER_BREAK=NAME:ID puts /dev/null where that CPR entry's socket
 * was, so that the next binary cannot take it over: the tests of what is
 * dropped, and what is not, when one connection or listener is lost.
 */
static void break_entry(void)
{
	const char *v = getenv("MONITOR_SERVER_BREAK");
	g_auto(GStrv) parts = v ? g_strsplit(v, ":", 2) : NULL;
	int fd, null;

	if (!parts || !parts[0] || !parts[1])
		return;
	fd = rl_cpr_find_fd(cpr, parts[0], atoi(parts[1]));
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || null < 0 || dup2(null, fd) < 0) {
		fprintf(stderr, "monitor-server: cannot break %s\n", v);
		exit(1);
	}
	close(null);
}

static gboolean exec_self(gpointer unused)
{
	struct rl_cpr_exec_opts opts = { .no_holder = true };
	struct rl_error err = { 0 };
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	int ret;

	monitor_event("MIGRATION", status_data("setup"));
	control_stop(NULL);
	cpr = rl_cpr_state_new();
	ret = cpr ? monitor_cpr_save((struct rl_cpr_table *)cpr) : -ENOMEM;
	if (ret < 0) {
		fprintf(stderr, "monitor-server: monitor_cpr_save: %s\n", strerror(-ret));
		exit(1);
	}
	break_entry();
	/* As relive-vm: events after the save, then the last flush, then exec. */
	monitor_event("MIGRATION", status_data("active"));
	monitor_flush_all();
	g_ptr_array_add(argv, "/proc/self/exe");
	for (int i = 1; self_argv[i]; i++)
		g_ptr_array_add(argv, self_argv[i]);
	g_ptr_array_add(argv, "--incoming");
	g_ptr_array_add(argv, NULL);
	ret = rl_cpr_exec(cpr, (char **)argv->pdata, &opts, &err);
	fprintf(stderr, "monitor-server: exec: %s: %s\n", strerror(-ret), err.msg);
	exit(1);
}

static gboolean migrate_hook(const char *uri, json_t *channels, GError **errp)
{
	if (uri && !strcmp(uri, "file:exec-self"))
		g_idle_add(exec_self, NULL);
	return TRUE;
}

static gboolean quit_now(gpointer unused)
{
	monitor_flush_all();
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static void quit_hook(void)
{
	g_idle_add(quit_now, NULL);
}

int main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	struct rl_error rerr = { 0 };
	int ret;
	gboolean incoming = argc > 3 && !strcmp(argv[argc - 1], "--incoming");

	if (argc < 3) {
		fprintf(stderr, "usage: monitor-server QMP-SPEC HMP-SPEC\n");
		return 2;
	}
	/* Keep the original arguments for the next exec, without --incoming. */
	self_argv = g_new0(char *, argc + 1);
	for (int i = 0; i < argc - (incoming ? 1 : 0); i++)
		self_argv[i] = argv[i];
	stub_migrate_hook = migrate_hook;
	stub_quit_hook = quit_hook;
	loop = g_main_loop_new(NULL, FALSE);

	/* As relive-vm: the CPR state first, before any chardev is created. */
	cpr = rl_cpr_state_new();
	ret = cpr ? rl_cpr_state_load(cpr, &rerr) : -ENOMEM;
	if (ret < 0 && ret != -ENOENT) {
		fprintf(stderr, "monitor-server: CPR state: %s\n", rerr.msg);
		return 1;
	}
	if (ret == 0 && monitor_cpr_restore((struct rl_cpr_table *)cpr) < 0)
		return 1;
	if (!monitor_qmp_add(argv[1], &err) || !monitor_hmp_add(argv[2], &err)) {
		fprintf(stderr, "monitor-server: %s\n", err->message);
		return 1;
	}
	chardev_cpr_discard_unclaimed();
	if (incoming) {
		/* The machine is paused until its state is loaded, then resumes. */
		stub_set_runstate("paused");
		control_cont(NULL);
		monitor_event("MIGRATION", status_data("completed"));
	}
	g_main_loop_run(loop);
	return 0;
}
