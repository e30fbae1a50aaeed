// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Device ids and the state stream: ids the loader would refuse (another
 * device's name, twice, too long for a section) are refused when relive-vm
 * starts, naming the id, so that no migration ever writes a state that
 * cannot be loaded. The longest id that fits migrates and loads.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static const char *accel;

static void refused_at_start(const char *const *devs, const char *want)
{
	const char *argv[16] = { hv_vm_binary(), "-m", "64M", "-accel", accel };
	g_autofree char *err = NULL;
	g_autoptr(GError) e = NULL;
	int n = 5, status;

	for (int i = 0; devs[i]; i++) {
		argv[n++] = "-device";
		argv[n++] = devs[i];
	}
	hv_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
			       NULL, NULL, &err, &status, &e), "spawn: %s", e ? e->message : "");
	hv_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
		  "-device %s: exit status %d, expected 1", devs[0], status);
	hv_assert(strstr(err, want), "-device %s: message '%s' does not name '%s'",
		  devs[0], err, want);
}

static void case_refused(void)
{
	refused_at_start((const char *[]){ "state-blob,id=serial0,size=4K", NULL },
			 "-device state-blob,id=serial0: ");
	refused_at_start((const char *[]){ "state-blob,id=machine,size=4K", NULL },
			 "-device state-blob,id=machine: ");
	refused_at_start((const char *[]){ "state-blob,id=b0,size=4K", "state-blob,id=b0,size=8K", NULL },
			 "-device state-blob,id=b0: the id does not fit the state stream: device 'b0' listed twice");
	/* 27 characters: "ID/data" is 32, one more than a section name holds */
	refused_at_start((const char *[]){ "state-blob,id=abcdefghijklmnopqrstuvwxyz0,size=4K", NULL },
			 "-device state-blob,id=abcdefghijklmnopqrstuvwxyz0: ");
}

/* 26 characters, the longest id that fits: saved in normal mode and loaded back. */
static void case_longest(void)
{
	g_autofree char *state = hv_path("ids.state");
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	g_autofree char *in = g_strdup_printf("file:%s", state);
	const char *extra[] = { "-device", "state-blob,id=abcdefghijklmnopqrstuvwxyz,size=64K",
				NULL, NULL, NULL };
	g_autofree char *st = NULL;
	struct hv_vm v, nv;

	hv_vm_start(&v, accel, 64, 1, extra);
	json_node_unref(hv_qmp(&v, "migrate", uri));
	json_node_unref(hv_wait_migration(&v, "completed"));
	hv_vm_stop(&v);
	extra[2] = "-incoming";
	extra[3] = in;
	hv_vm_start_as(&nv, "new-", accel, 64, 1, extra, TRUE);
	st = hv_status(&nv);
	hv_assert(!strcmp(st, "running"), "the restored VM is %s", st);
	hv_vm_stop(&nv);
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[2] : "";

	accel = hv_accel(argc, argv);
	if (!strcmp(c, "refused"))
		case_refused();
	else if (!strcmp(c, "longest"))
		case_longest();
	else {
		fprintf(stderr, "unknown case '%s'\n", c);
		return 2;
	}
	hv_cleanup();
	return 0;
}
