// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Each cpr-exec update's stream and CPR state carry one identity: a process
 * started by update 2 whose command names update 1's state file refuses it,
 * naming both identities, and rolls back to the old binary, which loads
 * update 2's own state: the guest runs on. Without the identity the stale
 * file loaded (the guest went back to update 1's state) and the update
 * reported "completed".
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const char *accel;

static void set_cpr_exec(struct hv_vm *v, const char *incoming)
{
	const char *suf[] = { "-incoming", incoming, NULL };
	g_autofree char *cmd = hv_vm_argv_json(v, NULL, suf);
	g_autofree char *args = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}",
						cmd);

	json_node_unref(hv_qmp(v, "migrate-set-parameters", args));
}

static void migrate(struct hv_vm *v, const char *uri)
{
	g_autofree char *args = g_strdup_printf("{\"uri\": \"%s\"}", uri);

	qmp_events_clear(v->qmp);
	json_node_unref(hv_qmp(v, "migrate", args));
}

static void case_stale_file(void)
{
	g_autofree char *s1 = hv_path("s1.state"), *s2 = hv_path("s2.state");
	g_autofree char *u1 = g_strdup_printf("file:%s", s1), *u2 = g_strdup_printf("file:%s", s2);
	g_autofree char *log = NULL, *st = NULL;
	struct hv_vm v;
	pid_t pid;

	hv_vm_start(&v, accel, 64, 1, NULL);
	pid = v.pid;
	/* update 1: writes and loads s1 */
	set_cpr_exec(&v, u1);
	migrate(&v, u1);
	hv_wait_event(&v, "RESUME");
	json_node_unref(hv_wait_migration(&v, "completed"));

	/* update 2: writes s2, but its command names s1 */
	set_cpr_exec(&v, u1);
	migrate(&v, u2);
	hv_wait_event(&v, "RESUME");
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone");
	st = hv_status(&v);
	hv_assert(!strcmp(st, "running"), "status '%s' after the refused load", st);
	log = hv_vm_log(&v);
	hv_assert(strstr(log, "written by update ") && strstr(log, "but this process was started by update ") &&
		  strstr(log, "rolling back"),
		  "the log does not name both updates and the rollback:\n%s", log);
	/* the rollback loads the state update 2 wrote */
	hv_assert(strstr(log, "-incoming file:") && strstr(strstr(log, "rolling back"), s2),
		  "the rollback does not load %s:\n%s", s2, log);
	printf("%s", log);
	hv_vm_stop(&v);
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[2] : "";

	accel = hv_accel(argc, argv);
	if (!strcmp(c, "stale-file"))
		case_stale_file();
	else {
		fprintf(stderr, "unknown case '%s'\n", c);
		return 2;
	}
	hv_cleanup();
	return 0;
}
