// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A state-blob across an update in every mode, real processes: its pattern
 * is intact afterwards (the device checks every byte: "verified-loads").
 * In cpr-exec and cpr-transfer its memfd crosses the update and the state
 * stream holds a reference only: the stream is smaller than the blob. In
 * normal and cpr-reboot the bytes are in the file. A new binary whose blob
 * does not fit the preserved memfd (another size) refuses it naming the
 * device, and the guest survives: rolled back (cpr-exec) or resumed by the
 * old process (cpr-transfer). A memfd that did not cross a cpr-exec (a
 * wrapper closed it) is refused naming it; its bytes are gone, so the
 * rollback refuses it too and the process exits, guest RAM untouched.
 * Usage: test-vm-blob-modes kvm|thread exec|transfer|reboot|normal.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RAM_MIB 256
#define BLOB_SIZE (6ull << 20)
#define BLOB "state-blob,id=blob0,size=6M"
#define BLOB_OTHER "state-blob,id=blob0,size=5M"

static const char *accel;

static void assert_running(struct hv_vm *v, const void *ram)
{
	g_autofree char *st = hv_status(v);
	uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };

	hv_assert(!strcmp(st, "running"), "status is '%s', expected running", st);
	hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "heartbeats stopped");
}

/* The blob's verified loads in @v; the check of an adopted memfd runs after the resume. */
static gint64 wait_verified(struct hv_vm *v, gint64 want)
{
	gint64 n = -1;

	for (int i = 0; i < 500; i++) {
		g_autoptr(JsonNode) qm = hv_qmp(v, "query-migrate", NULL);
		JsonArray *a = json_object_get_array_member(json_node_get_object(qm),
							    "relive-devices");

		hv_assert(a && json_array_get_length(a) == 1, "query-migrate lists no state-blob");
		n = json_object_get_int_member(json_array_get_object_element(a, 0),
					       "verified-loads");
		if (n >= want)
			break;
		g_usleep(10000);
	}
	hv_assert(n == want, "state-blob: %" G_GINT64_FORMAT " verified loads, expected %" G_GINT64_FORMAT,
		  n, want);
	return n;
}

static gint64 state_bytes(JsonNode *qm)
{
	return json_object_get_int_member_with_default(json_node_get_object(qm),
						       "relive-state-bytes", -1);
}

static void set_params(struct hv_vm *v, const char *json)
{
	json_node_unref(hv_qmp(v, "migrate-set-parameters", json));
}

/* ----------------------------------------------------------------- cpr-exec */

static void exec_update(struct hv_vm *v, const char *state, const char *blob_to)
{
	const char *pre[] = { hv_trampoline(), "--", NULL };
	g_autofree char *in = g_strdup_printf("file:%s", state);
	const char *suf[] = { "-incoming", in, NULL };
	g_autofree char *cmd = hv_vm_argv_json(v, hv_trampoline() ? pre : NULL, suf);
	g_autofree char *params = NULL;
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);

	if (blob_to) {
		g_auto(GStrv) parts = g_strsplit(cmd, BLOB, 2);

		hv_assert(parts[1], "'%s' not in %s", BLOB, cmd);
		g_free(cmd);
		cmd = g_strjoin(blob_to, parts[0], parts[1], NULL);
	}
	params = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}", cmd);
	set_params(v, params);
	qmp_events_clear(v->qmp);
	json_node_unref(hv_qmp(v, "migrate", uri));
	hv_wait_event(v, "RESUME");
}

static void case_exec(void)
{
	const char *extra[] = { "-device", BLOB, NULL };
	g_autofree char *state = hv_path("vm.state");
	struct hv_vm v;
	struct stat sb;
	pid_t pid;
	void *ram;

	hv_vm_start(&v, accel, RAM_MIB, 2, extra);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	for (int i = 0; i < 2; i++) {
		exec_update(&v, state, NULL);
		hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "update %d: the VM is gone", i);
		json_node_unref(hv_wait_migration(&v, "completed"));
		assert_running(&v, ram);
		wait_verified(&v, 1);
		hv_assert(stat(state, &sb) == 0, "%s: %s", state, strerror(errno));
		hv_assert((uint64_t)sb.st_size < BLOB_SIZE,
			  "update %d: the state file has %lld bytes, the blob %llu: its bytes were written",
			  i, (long long)sb.st_size, (unsigned long long)BLOB_SIZE);
		printf("cpr-exec %d: state file %lld bytes, blob %llu bytes\n", i,
		       (long long)sb.st_size, (unsigned long long)BLOB_SIZE);
	}
	/* a new binary with a 5 MiB blob: the 6 MiB memfd is refused, the old binary comes back */
	exec_update(&v, state, BLOB_OTHER);
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone after the refusal");
	assert_running(&v, ram);
	{
		g_autofree char *log = hv_vm_log(&v);

		hv_assert(strstr(log, "state-blob blob0: size 6291456 in the stream, 5242880 here") &&
			  strstr(log, "rolling back"),
			  "the log does not name the blob and the rollback:\n%s", log);
	}
	wait_verified(&v, 1);
	/* and the rolled-back process updates again */
	exec_update(&v, state, NULL);
	assert_running(&v, ram);
	wait_verified(&v, 1);
	hv_vm_stop(&v);
}

/* The fd number of @pid's memfd named @name, or -1. */
static int memfd_number(pid_t pid, const char *name)
{
	g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autofree char *want = g_strdup_printf("/memfd:%s (deleted)", name);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *n;
	int fd = -1;

	while (d && (n = g_dir_read_name(d))) {
		g_autofree char *link = g_build_filename(dir, n, NULL);
		g_autofree char *target = g_file_read_link(link, NULL);

		if (target && !strcmp(target, want))
			fd = atoi(n);
	}
	if (d)
		g_dir_close(d);
	return fd;
}

static void case_exec_missing(void)
{
	const char *extra[] = { "-device", BLOB, NULL };
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *in = g_strdup_printf("file:%s", state);
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	const char *suf[] = { "-incoming", in, NULL };
	g_autofree char *rest = NULL, *cmd = NULL, *params = NULL, *log = NULL;
	struct hv_vm v;
	uint64_t hb;
	void *ram;
	int fd, status = 0;

	hv_vm_start(&v, accel, RAM_MIB, 2, extra);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + (64ull << 20), 16ull << 20, 0x5eed);
	fd = memfd_number(v.pid, "state-blob:blob0");
	hv_assert(fd >= 0, "no memfd state-blob:blob0 in pid %d", (int)v.pid);
	/*
	 * The cpr-exec-command closes the blob's fd, then runs relive-vm. bash,
	 * not sh: dash takes only one-digit fds in a redirection, and with KVM's
	 * fds open the blob's is above 9.
	 */
	rest = hv_vm_argv_json(&v, NULL, suf);
	cmd = g_strdup_printf("[\"/bin/bash\", \"-c\", \"exec %d<&-; exec \\\"$@\\\"\", \"bash\", %s",
			      fd, rest + 1);
	params = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}", cmd);
	set_params(&v, params);
	json_node_unref(hv_qmp(&v, "migrate", uri));
	for (int i = 0; i < 1000 && !hv_vm_exited(&v, &status); i++)
		g_usleep(10000);
	hv_assert(v.pid == 0, "the VM runs without its blob's memfd");
	hv_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exit status 0x%x", status);
	log = hv_vm_log(&v);
	hv_assert(strstr(log, "state-blob blob0: preserved memfd 'state-blob:blob0'"),
		  "the error does not name the blob's memfd:\n%s", log);
	printf("blob memfd closed before the new binary, the VM's log:\n%s", log);
	hb = hv_heartbeat(ram, 0);
	hv_assert(hv_pattern_check((char *)ram + (64ull << 20), 16ull << 20, 0x5eed) == 16ull << 20,
		  "a failed load touched guest RAM");
	g_usleep(50000);
	hv_assert(hv_heartbeat(ram, 0) == hb, "the guest ran without its blob");
	hv_vm_stop(&v);
}

/* ------------------------------------------------------------- cpr-transfer */

static char *channels(const char *mp, const char *cp)
{
	return g_strdup_printf("{\"channels\": ["
			       "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}},"
			       "{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}}]}",
			       mp, cp);
}

static void start_new(struct hv_vm *nv, const char *name, const char *blob,
		      const char *mp, const char *cp)
{
	g_autofree char *m = g_strdup_printf("unix:%s", mp);
	g_autofree char *c = g_strdup_printf("cpr:unix:%s", cp);
	const char *extra[] = { "-device", blob, "-incoming", m, "-incoming", c, NULL };

	hv_vm_start_as(nv, name, accel, RAM_MIB, 2, extra, FALSE);
	for (int i = 0; i < 1000 && access(cp, F_OK); i++)
		g_usleep(10000);
	hv_assert(access(cp, F_OK) == 0, "%s never appeared", cp);
}

static void case_transfer(void)
{
	const char *extra[] = { "-device", BLOB, NULL };
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	struct hv_vm v, bad, nv;
	void *ram;

	hv_vm_start(&v, accel, RAM_MIB, 2, extra);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	set_params(&v, "{\"mode\": \"cpr-transfer\"}");

	/* a new process with a 5 MiB blob refuses the 6 MiB memfd: the old one resumes */
	start_new(&bad, "bad-", BLOB_OTHER, mp, cp);
	json_node_unref(hv_qmp(&v, "migrate", a));
	json_node_unref(hv_wait_migration(&v, "failed"));
	assert_running(&v, ram);
	{
		g_autofree char *log = NULL;
		int st;

		for (int i = 0; i < 500 && !hv_vm_exited(&bad, &st); i++)
			g_usleep(10000);
		log = hv_vm_log(&bad);
		hv_assert(strstr(log, "state-blob blob0: size 6291456 in the stream, 5242880 here"),
			  "the new process's log does not name the blob:\n%s", log);
	}
	hv_vm_stop(&bad);
	unlink(mp);
	unlink(cp);

	start_new(&nv, "new-", BLOB, mp, cp);
	json_node_unref(hv_qmp(&v, "migrate", a));
	{
		g_autoptr(JsonNode) qm = hv_wait_migration(&v, "completed");
		gint64 n = state_bytes(qm);

		hv_assert(n > 0 && (uint64_t)n < BLOB_SIZE,
			  "the stream has %" G_GINT64_FORMAT " bytes, the blob %llu: its bytes were sent",
			  n, (unsigned long long)BLOB_SIZE);
		printf("cpr-transfer: stream %" G_GINT64_FORMAT " bytes, blob %llu bytes\n", n,
		       (unsigned long long)BLOB_SIZE);
	}
	hv_vm_connect(&nv);
	assert_running(&nv, ram);
	wait_verified(&nv, 1);
	hv_vm_stop(&v);
	hv_vm_stop(&nv);
}

/* ------------------------------------------------------ cpr-reboot, normal */

static void case_file(const char *mode)
{
	const char *extra[] = { "-device", BLOB, NULL };
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	g_autofree char *in = g_strdup_printf("file:%s", state);
	g_autofree char *params = g_strdup_printf("{\"mode\": \"%s\"}", mode);
	const char *extra2[] = { "-device", BLOB, "-incoming", in, NULL };
	struct hv_vm v, nv;
	void *ram;

	hv_vm_start_as(&v, NULL, accel, RAM_MIB, 2, extra, TRUE);
	set_params(&v, params);
	json_node_unref(hv_qmp(&v, "migrate", uri));
	{
		g_autoptr(JsonNode) qm = hv_wait_migration(&v, "completed");
		gint64 n = state_bytes(qm);

		/* no memory crosses a restart: the bytes are in the file */
		hv_assert(n >= (gint64)BLOB_SIZE, "%s: the stream has %" G_GINT64_FORMAT " bytes, less than the blob",
			  mode, n);
	}
	hv_vm_stop(&v);
	hv_vm_start_as(&nv, NULL, accel, RAM_MIB, 2, extra2, TRUE);
	ram = hv_map_ram(nv.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	assert_running(&nv, ram);
	wait_verified(&nv, 1);
	hv_vm_stop(&nv);
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[2] : "";

	accel = hv_accel(argc, argv);
	if (!strcmp(c, "exec"))
		case_exec();
	else if (!strcmp(c, "exec-missing"))
		case_exec_missing();
	else if (!strcmp(c, "transfer"))
		case_transfer();
	else if (!strcmp(c, "reboot"))
		case_file("cpr-reboot");
	else if (!strcmp(c, "normal"))
		case_file("normal");
	else {
		fprintf(stderr, "unknown case '%s'\n", c);
		return 2;
	}
	hv_cleanup();
	return 0;
}
