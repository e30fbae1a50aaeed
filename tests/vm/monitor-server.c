// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A process serving the monitors over the stub control, for the socket and
 * exec tests: "monitor-server QMP-SPEC HMP-SPEC". A migrate to
 * "file:exec-self" does what relive-vm's cpr-exec does to the monitors: STOP,
 * flush, hand the chardevs over, exec itself (same PID), adopt them, RESUME.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chardev.h"
#include "control.h"
#include "monitor.h"
#include "control-stub.h"

#define FDS_ENV "MONITOR_SERVER_FDS"

static GMainLoop *loop;
static char **self_argv;

static JsonObject *status_data(const char *status)
{
	JsonObject *o = json_object_new();

	json_object_set_string_member(o, "status", status);
	return o;
}

/* The fd list crosses the exec as "name:id:fd;..." in the environment. */
static int env_lookup(const char *name, int id, void *opaque)
{
	const char *env = opaque;
	g_auto(GStrv) items = g_strsplit(env, ";", -1);

	for (int i = 0; items[i]; i++) {
		g_auto(GStrv) f = g_strsplit(items[i], ":", 3);

		if (g_strv_length(f) == 3 && !strcmp(f[0], name) && atoi(f[1]) == id)
			return atoi(f[2]);
	}
	return -1;
}

static gboolean exec_self(gpointer unused)
{
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(struct chardev_cpr_fd));
	g_autoptr(GString) env = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();

	monitor_event("MIGRATION", status_data("setup"));
	control_stop(NULL);
	monitor_event("MIGRATION", status_data("active"));
	monitor_flush_all();
	if (chardev_cpr_export(fds, &err) < 0) {
		fprintf(stderr, "monitor-server: %s\n", err->message);
		exit(1);
	}
	for (guint i = 0; i < fds->len; i++) {
		struct chardev_cpr_fd *f = &g_array_index(fds, struct chardev_cpr_fd, i);

		g_string_append_printf(env, "%s:%d:%d;", f->name, f->id, f->fd);
		fcntl(f->fd, F_SETFD, 0);
	}
	setenv(FDS_ENV, env->str, 1);
	for (int i = 0; self_argv[i]; i++)
		g_ptr_array_add(argv, self_argv[i]);
	g_ptr_array_add(argv, "--incoming");
	g_ptr_array_add(argv, NULL);
	execv("/proc/self/exe", (char **)argv->pdata);
	fprintf(stderr, "monitor-server: exec: %s\n", strerror(errno));
	exit(1);
}

static gboolean migrate_hook(const char *uri, JsonArray *channels, GError **errp)
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
	const char *fds = getenv(FDS_ENV);
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

	if (fds) {
		g_autofree char *copy = g_strdup(fds);

		unsetenv(FDS_ENV);
		if (!chardev_cpr_import(env_lookup, copy, &err)) {
			fprintf(stderr, "monitor-server: %s\n", err->message);
			return 1;
		}
	}
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
