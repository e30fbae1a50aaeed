// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-vm's cpr-exec end to end, with real processes: updates in a row
 * over one QMP connection (same PID, running, heartbeats advancing, a RAM
 * pattern and the state-blob intact), the same through HMP, -incoming
 * defer, a state file whose size does not follow RAM size, and every
 * refusal and failure path. Usage: test-vm-cpr-exec kvm|thread CASE.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define PATTERN_OFF (64ull << 20)
#define PATTERN_LEN (32ull << 20)
#define PATTERN_SEED 0x5eed

static const char *accel;
static char *state;
static char *state_uri;	/* file:STATE */

static void assert_running(struct hv_vm *v)
{
	g_autofree char *st = hv_status(v);

	hv_assert(!strcmp(st, "running"), "status is '%s', expected running", st);
}

static void assert_beating(struct hv_vm *v, const void *ram, unsigned n)
{
	uint64_t before[16];

	for (unsigned i = 0; i < n; i++)
		before[i] = hv_heartbeat(ram, i);
	if (!hv_heartbeats_advance(ram, n, before, 5000)) {
		g_autofree char *log = hv_vm_log(v);

		hv_fail("heartbeats stopped (vCPU 0 at %" G_GUINT64_FORMAT "); VM log:\n%s",
			before[0], log);
	}
}

/* The cpr-exec-command: [trampoline --] relive-vm ARGS -incoming @incoming. */
static char *exec_command(struct hv_vm *v, const char *incoming, bool tramp)
{
	const char *pre[] = { hv_trampoline(), "--", NULL };
	const char *suf[] = { "-incoming", incoming, NULL };

	return hv_vm_argv_json(v, tramp && hv_trampoline() ? pre : NULL, suf);
}

static void set_cpr_exec(struct hv_vm *v, const char *cmd_json)
{
	g_autofree char *args = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}",
						cmd_json);

	json_node_unref(hv_qmp(v, "migrate-set-parameters", args));
}

static void migrate(struct hv_vm *v)
{
	g_autofree char *args = g_strdup_printf("{\"uri\": \"file:%s\"}", state);

	qmp_events_clear(v->qmp);
	json_node_unref(hv_qmp(v, "migrate", args));
}

static gint64 pause_us(JsonNode *qm)
{
	JsonObject *o = json_node_get_object(qm);
	JsonObject *p;

	hv_assert(json_object_has_member(o, "relive-pause"), "query-migrate has no relive-pause");
	p = json_object_get_object_member(o, "relive-pause");
	return json_object_get_int_member(p, "total-us");
}

static gint64 blob_loads(JsonNode *qm)
{
	JsonArray *a = json_object_get_array_member(json_node_get_object(qm), "relive-devices");

	hv_assert(a && json_array_get_length(a) == 1, "query-migrate lists no state-blob");
	return json_object_get_int_member(json_array_get_object_element(a, 0), "verified-loads");
}

/*
 * The state-blob's verified loads once they reach @want: a blob whose memfd
 * crossed the update is checked after the resume.
 */
static gint64 wait_blob_loads(struct hv_vm *v, gint64 want)
{
	gint64 n = -1;

	for (int i = 0; i < 500 && n < want; i++) {
		g_autoptr(JsonNode) qm = hv_qmp(v, "query-migrate", NULL);

		n = blob_loads(qm);
		if (n < want)
			g_usleep(10000);
	}
	return n;
}

static int cmp64(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

/* Updates in a row over one QMP connection that is never closed. */
static void case_qmp(void)
{
	const char *extra[] = { "-device", "state-blob,id=blob0,size=4M", NULL };
	enum { N = 10 };
	struct hv_vm v;
	gint64 pause[N];
	g_autofree char *cmd = NULL;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 512, 2, extra);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 512ull << 20);
	hv_assert(ram, "cannot map ram0 of pid %d", pid);
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED);
	assert_beating(&v, ram, 2);
	cmd = exec_command(&v, state_uri, true);
	set_cpr_exec(&v, cmd);

	for (int i = 0; i < N; i++) {
		uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };
		g_autoptr(JsonNode) qm = NULL;
		g_autofree char *st = NULL;

		migrate(&v);
		hv_wait_event(&v, "RESUME");
		hv_assert(!hv_vm_exited(&v, NULL), "update %d: the VM exited", i);
		hv_assert(v.pid == pid, "update %d: pid changed", i);
		assert_running(&v);
		hv_assert(hv_heartbeats_advance(ram, 2, before, 5000),
			  "update %d: heartbeats did not advance past %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT,
			  i, before[0], before[1]);
		assert_beating(&v, ram, 2);
		qm = hv_wait_migration(&v, "completed");
		hv_assert(wait_blob_loads(&v, 1) == 1, "update %d: state-blob not verified after the update", i);
		pause[i] = pause_us(qm);
		{
			JsonNode *pn = json_object_get_member(json_node_get_object(qm), "relive-pause");
			g_autoptr(JsonGenerator) g = json_generator_new();

			json_generator_set_root(g, pn);
			g_autofree char *txt = json_generator_to_data(g, NULL);
			printf("update %d: %s\n", i + 1, txt);
		}
		/* parameters belong to a process: the new one starts from defaults */
		if (i + 1 < N)
			set_cpr_exec(&v, cmd);
	}
	hv_assert(hv_pattern_check((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED) ==
		  PATTERN_LEN, "RAM pattern above 64 MiB damaged");
	qsort(pause, N, sizeof(pause[0]), cmp64);
	printf("%d cpr-exec updates (%s, accel %s): median pause %" G_GINT64_FORMAT " us (min %" G_GINT64_FORMAT ", max %" G_GINT64_FORMAT ")\n",
	       N, hv_trampoline() ? "through relive-trampoline" : "direct exec", accel,
	       pause[N / 2], pause[0], pause[N - 1]);
	hv_vm_stop(&v);
}

static void hmp_expect(struct hv_hmp *h, const char *line, const char *want)
{
	g_autofree char *out = hv_hmp(h, line);

	hv_assert(!want || strstr(out, want), "HMP '%s': output '%s' lacks '%s'", line, out, want);
}

static void case_hmp(void)
{
	struct hv_vm v;
	struct hv_hmp *h;
	g_autofree char *cmdline = NULL;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 512, 2, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 512ull << 20);
	hv_assert(ram, "cannot map ram0");
	h = hv_hmp_connect(v.hmp_path);
	{
		GString *s = g_string_new("migrate_set_parameter cpr-exec-command");

		if (hv_trampoline())
			g_string_append_printf(s, " %s --", hv_trampoline());
		for (unsigned i = 0; v.argv[i]; i++)
			g_string_append_printf(s, " %s", v.argv[i]);
		g_string_append_printf(s, " -incoming file:%s", state);
		cmdline = g_string_free(s, FALSE);
	}
	for (int i = 0; i < 3; i++) {
		uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };
		g_autofree char *mig = g_strdup_printf("migrate -d file:%s", state);
		g_autofree char *out = NULL;

		hmp_expect(h, "migrate_set_parameter mode cpr-exec", NULL);
		hmp_expect(h, cmdline, NULL);
		hmp_expect(h, "info migrate_parameters", "cpr-exec");
		qmp_events_clear(v.qmp);
		out = hv_hmp(h, mig);
		hv_assert(!strstr(out, "rror"), "HMP migrate: %s", out);
		hv_wait_event(&v, "RESUME");
		hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "update %d: the VM is gone", i);
		/* the HMP connection is the same one: it answers */
		hmp_expect(h, "info status", "running");
		hmp_expect(h, "info migrate", "completed");
		hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "update %d: heartbeats stuck", i);
	}
	hv_hmp_close(h);
	hv_vm_stop(&v);
}

static void case_defer(void)
{
	struct hv_vm v;
	g_autofree char *cmd = NULL;
	g_autofree char *args = NULL;
	g_autofree char *st = NULL;
	uint64_t before[2];
	void *ram;

	hv_vm_start(&v, accel, 512, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", 512ull << 20);
	hv_assert(ram, "cannot map ram0");
	cmd = exec_command(&v, "defer", true);
	set_cpr_exec(&v, cmd);
	migrate(&v);
	/* the new process waits for migrate-incoming, guest stopped */
	for (int i = 0; i < 500; i++) {
		GError *e = NULL;
		JsonNode *r = qmp_execute(v.qmp, "query-status", NULL, 1000, &e);

		if (r) {
			const char *s = json_object_get_string_member(json_node_get_object(r), "status");

			if (!strcmp(s, "inmigrate")) {
				json_node_unref(r);
				break;
			}
			json_node_unref(r);
		} else {
			g_error_free(e);
		}
		g_usleep(10000);
	}
	st = hv_status(&v);
	hv_assert(!strcmp(st, "inmigrate"), "status '%s', expected inmigrate", st);
	before[0] = hv_heartbeat(ram, 0);
	before[1] = hv_heartbeat(ram, 1);
	g_usleep(100000);
	hv_assert(hv_heartbeat(ram, 0) == before[0], "the guest runs while waiting for migrate-incoming");
	{
		/* a file that is not there: refused, still waiting */
		g_autofree char *err = hv_qmp_error(&v, "migrate-incoming",
						    "{\"uri\": \"file:/nonexistent/vm.state\"}");
		g_autofree char *st2 = hv_status(&v);

		hv_assert(strstr(err, "/nonexistent/vm.state"), "migrate-incoming error: %s", err);
		hv_assert(!strcmp(st2, "inmigrate"), "status '%s' after a refused migrate-incoming", st2);
	}
	args = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	qmp_events_clear(v.qmp);
	json_node_unref(hv_qmp(&v, "migrate-incoming", args));
	hv_wait_event(&v, "RESUME");
	assert_running(&v);
	hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "heartbeats stuck after migrate-incoming");
	hv_vm_stop(&v);
}

/* A VM stopped by the user stays stopped across the update, and cont runs it. */
static void case_paused(void)
{
	struct hv_vm v;
	g_autofree char *cmd = NULL;
	g_autofree char *st = NULL;
	uint64_t hb;
	void *ram;
	int i;

	hv_vm_start(&v, accel, 256, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", 256ull << 20);
	hv_assert(ram, "cannot map ram0");
	json_node_unref(hv_qmp(&v, "stop", NULL));
	cmd = exec_command(&v, state_uri, true);
	set_cpr_exec(&v, cmd);
	migrate(&v);
	/* the new process is the one whose query-migrate has the pause breakdown */
	for (i = 0; i < 1000; i++) {
		g_autoptr(JsonNode) qm = hv_qmp(&v, "query-migrate", NULL);

		if (json_object_has_member(json_node_get_object(qm), "relive-pause"))
			break;
		g_usleep(10000);
	}
	hv_assert(i < 1000, "the update did not complete");
	st = hv_status(&v);
	hv_assert(!strcmp(st, "paused"), "status '%s' after updating a stopped VM", st);
	hb = hv_heartbeat(ram, 0);
	g_usleep(100000);
	hv_assert(hv_heartbeat(ram, 0) == hb, "the guest runs after updating a stopped VM");
	json_node_unref(hv_qmp(&v, "cont", NULL));
	assert_running(&v);
	assert_beating(&v, ram, 2);
	hv_vm_stop(&v);
}

/* -incoming defer, and the deferred load fails: rollback keeps the monitors. */
static void case_defer_rollback(void)
{
	const char *suf[] = { "-smp", "3", "-incoming", "defer", NULL };
	const char *pre[] = { hv_trampoline(), "--", NULL };
	g_autofree char *cmd = NULL;
	g_autofree char *args = g_strdup_printf("{\"uri\": \"%s\"}", state_uri);
	struct hv_vm v;
	uint64_t before;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 256, 2, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_assert(ram, "cannot map ram0");
	cmd = hv_vm_argv_json(&v, hv_trampoline() ? pre : NULL, suf);
	set_cpr_exec(&v, cmd);
	migrate(&v);
	for (int i = 0; i < 500; i++) {
		g_autofree char *st = hv_status(&v);

		if (!strcmp(st, "inmigrate"))
			break;
		g_usleep(10000);
	}
	before = hv_heartbeat(ram, 0);
	qmp_events_clear(v.qmp);
	/* the reply may or may not make it out before the rollback's exec */
	qmp_send(v.qmp, "migrate-incoming", args, NULL);
	hv_wait_event(&v, "RESUME");
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone");
	assert_running(&v);
	hv_assert(hv_heartbeats_advance(ram, 1, &before, 5000), "heartbeats stuck after rollback");
	hv_vm_stop(&v);
}

/* A client on the serial port's unix socket stays connected across updates. */
static void case_serial(void)
{
	g_autofree char *sock = hv_path("serial.sock");
	g_autofree char *spec = g_strdup_printf("unix:%s,server,nowait", sock);
	const char *extra[] = { "-serial", spec, NULL };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { 0, 300000 };
	g_autofree char *cmd = NULL;
	GString *got = g_string_new(NULL);
	struct hv_vm v;
	char buf[256];
	ssize_t n;
	int fd;

	hv_vm_start(&v, accel, 256, 1, extra);
	g_strlcpy(a.sun_path, sock, sizeof(a.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	hv_assert(connect(fd, (void *)&a, sizeof(a)) == 0, "serial: connect: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cmd = exec_command(&v, state_uri, true);
	for (int i = 0; i < 3; i++) {
		set_cpr_exec(&v, cmd);
		migrate(&v);
		hv_wait_event(&v, "RESUME");
		assert_running(&v);
		/* nothing to read (the banner went out before we connected), but no end of file */
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			g_string_append_len(got, buf, n);
		hv_assert(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
			  "update %d: the serial connection was closed", i);
	}
	close(fd);
	g_string_free(got, TRUE);
	hv_vm_stop(&v);
}

static void expect_refusal(struct hv_vm *v, const void *ram, const char *args,
			   const char *want)
{
	g_autofree char *err = hv_qmp_error(v, "migrate", args);

	hv_assert(strstr(err, want), "migrate %s: error '%s' lacks '%s'", args, err, want);
	assert_running(v);
	if (ram)
		assert_beating(v, ram, 1);
	hv_assert(access(state, F_OK) < 0, "a refused migration left %s", state);
}

static void case_refusals(void)
{
	struct hv_vm v;
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	g_autofree char *cmd = NULL;
	void *ram;

	hv_vm_start(&v, accel, 256, 1, NULL);
	ram = hv_map_ram(v.pid, "ram0", 256ull << 20);
	json_node_unref(hv_qmp(&v, "migrate-set-parameters", "{\"mode\": \"cpr-exec\"}"));
	expect_refusal(&v, ram, uri, "cpr-exec-command");
	cmd = exec_command(&v, state_uri, false);
	set_cpr_exec(&v, cmd);
	expect_refusal(&v, ram, "{\"uri\": \"unix:/tmp/nothing.sock\"}", "file:");
	expect_refusal(&v, ram, "{\"uri\": \"tcp:127.0.0.1:4444\"}", "file:");
	expect_refusal(&v, ram, "{\"uri\": \"file:/nonexistent-dir/vm.state\"}", "nonexistent-dir");
	set_cpr_exec(&v, "[\"/nonexistent/relive-vm\", \"-incoming\", \"defer\"]");
	expect_refusal(&v, ram, uri, "nonexistent");
	hv_vm_stop(&v);

	/* private RAM: memory-backend-ram as guest RAM */
	{
		const char *argv[] = { hv_vm_binary(), "-object", "memory-backend-ram,id=pr,size=128M",
				       "-machine", "memory-backend=pr,aux-ram-share=on", "-accel", accel,
				       "-qmp", NULL, "-serial", "none", NULL };
		g_autofree char *sock = hv_path("qmp2.sock");
		g_autofree char *spec = g_strdup_printf("unix:%s,server,nowait", sock);
		g_autofree char *log = hv_path("vm2.log");
		g_autoptr(GError) e = NULL;
		struct hv_vm w = { 0 };

		argv[8] = spec;
		w.pid = fork();
		if (w.pid == 0) {
			execv(argv[0], (char **)argv);
			_exit(127);
		}
		hv_track_pid(w.pid);
		w.log = g_strdup(log);
		w.qmp = qmp_connect(sock, HV_TIMEOUT_MS, &e);
		hv_assert(w.qmp, "VM with private RAM did not start: %s", e ? e->message : "");
		set_cpr_exec(&w, "[\"/bin/true\"]");
		expect_refusal(&w, NULL, uri, "memory-backend-ram");
		hv_vm_stop(&w);
	}
}

/* exec fails in the old process: it resumes, the file is gone, query-migrate says why. */
static void case_exec_fails(void)
{
	struct hv_vm v;
	g_autofree char *bad = hv_path("not-a-binary");
	g_autofree char *cmd = NULL;
	g_autoptr(JsonNode) qm = NULL;
	JsonObject *o;
	void *ram;
	pid_t pid;

	g_file_set_contents(bad, "#!/nonexistent/interpreter\n", -1, NULL);
	chmod(bad, 0700);
	hv_vm_start(&v, accel, 256, 2, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	cmd = g_strdup_printf("[\"%s\"]", bad);
	set_cpr_exec(&v, cmd);
	migrate(&v);
	qm = hv_wait_migration(&v, "failed");
	o = json_node_get_object(qm);
	hv_assert(json_object_has_member(o, "error-desc") &&
		  strstr(json_object_get_string_member(o, "error-desc"), "not-a-binary"),
		  "query-migrate has no error-desc naming the command");
	hv_assert(v.pid == pid, "pid changed");
	assert_running(&v);
	assert_beating(&v, ram, 2);
	hv_assert(access(state, F_OK) < 0, "the state file of a failed exec is still there");
	hv_vm_stop(&v);
}

/*
 * Writing the state fails after the stop (the file may not grow past 1 MiB):
 * the guest resumes in the old process, the partial file is gone, a state
 * saved before under the same name is untouched, and query-migrate says
 * failed and why.
 */
static void case_write_fails(void)
{
	static const char old_state[] = "a state saved earlier";
	/* preserve=off: the blob's bytes are written, past the limit */
	const char *extra[] = { "-device", "state-blob,id=blob0,size=8M,preserve=off", NULL };
	struct rlimit lim = { 1 << 20, 1 << 20 };
	g_autofree char *cmd = NULL;
	g_autoptr(JsonNode) qm = NULL;
	g_autofree char *leftovers = NULL;
	struct hv_vm v;
	JsonObject *o;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 256, 2, extra);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_assert(g_file_set_contents(state, old_state, -1, NULL), "cannot write %s", state);
	hv_assert(prlimit(pid, RLIMIT_FSIZE, &lim, NULL) == 0, "prlimit: %s", strerror(errno));
	cmd = exec_command(&v, state_uri, true);
	set_cpr_exec(&v, cmd);
	migrate(&v);
	qm = hv_wait_migration(&v, "failed");
	o = json_node_get_object(qm);
	hv_assert(json_object_has_member(o, "error-desc"), "query-migrate has no error-desc");
	printf("error-desc: %s\n", json_object_get_string_member(o, "error-desc"));
	hv_assert(v.pid == pid, "pid changed");
	assert_running(&v);
	assert_beating(&v, ram, 2);
	{
		GDir *d = g_dir_open(hv_tmpdir(), 0, NULL);
		const char *n;

		g_autofree char *text = NULL;

		while ((n = g_dir_read_name(d)))
			/* the writer's temporary name is .vm.state.XXXXXXXX.tmp */
			hv_assert(!(strstr(n, "vm.state") && g_str_has_suffix(n, ".tmp")),
				  "left behind: %s", n);
		g_dir_close(d);
		hv_assert(g_file_get_contents(state, &text, NULL, NULL) &&
			  !strcmp(text, old_state), "the earlier %s was changed", state);
		unlink(state);
	}
	hv_vm_stop(&v);
}

/*
 * The new binary cannot load the state. A configuration mismatch: it rolls
 * back to the old binary, which loads it: same PID, running. A corrupt
 * file: the new binary names section and offset and exits non-zero, and
 * guest RAM is untouched.
 */
static void case_rollback(void)
{
	struct hv_vm v;
	g_autofree char *cmd = NULL;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 256, 2, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED);
	{
		/* the "new binary" is started with 3 vCPUs: the state has 2 */
		const char *suf[] = { "-smp", "3", "-incoming", NULL, NULL };
		const char *pre[] = { hv_trampoline(), "--", NULL };
		const char *in = state_uri;

		suf[3] = in;
		cmd = hv_vm_argv_json(&v, hv_trampoline() ? pre : NULL, suf);
	}
	set_cpr_exec(&v, cmd);
	{
		uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };
		g_autofree char *log = NULL;

		migrate(&v);
		hv_wait_event(&v, "RESUME");
		hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone after rollback");
		assert_running(&v);
		hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "heartbeats stuck after rollback");
		log = hv_vm_log(&v);
		hv_assert(strstr(log, "vCPU count") && strstr(log, "rolling back"),
			  "the log does not say why and that it rolled back:\n%s", log);
	}

	/* now a corrupt file: a wrapper damages it between save and load */
	{
		GString *s = g_string_new("[\"/bin/sh\", \"-c\", ");
		g_autofree char *script = g_strdup_printf(
			"printf XXXXXXXX | dd of=%s bs=1 seek=600 conv=notrunc 2>/dev/null; exec \\\"$@\\\"",
			state);
		g_autofree char *rest = exec_command(&v, state_uri, true);
		g_autofree char *log = NULL;
		uint64_t hb;
		int status = 0;

		g_string_append_printf(s, "\"%s\", \"sh\", %s", script, rest + 1);
		g_free(cmd);
		cmd = g_string_free(s, FALSE);
		set_cpr_exec(&v, cmd);
		migrate(&v);
		for (int i = 0; i < 1000 && !hv_vm_exited(&v, &status); i++)
			g_usleep(10000);
		hv_assert(v.pid == 0, "the VM did not exit on a corrupt state file");
		hv_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exit status %d", status);
		log = hv_vm_log(&v);
		hv_assert(strstr(log, "offset") && strstr(log, "section"),
			  "the error does not name section and offset:\n%s", log);
		printf("corrupt state file, the VM's log:\n%s", log);
		hb = hv_heartbeat(ram, 0);
		hv_assert(hv_pattern_check((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED) ==
			  PATTERN_LEN, "a failed load touched guest RAM");
		g_usleep(50000);
		hv_assert(hv_heartbeat(ram, 0) == hb, "the guest ran after a failed load");
	}
	hv_vm_stop(&v);
}

/*
 * The new binary fails before it loads anything: another RAM size (the
 * preserved memfd does not fit), an option it does not know, no -incoming.
 * Each time the old binary comes back through the rollback command: same
 * PID, running, its RAM pattern intact, heartbeats advancing.
 */
static void case_early_rollback(void)
{
	static const struct {
		const char *what;
		const char *from, *to;	/* edit of the command line's JSON */
		const char *want;	/* in the log */
	} variants[] = {
		{ "other RAM size", "size=256M", "size=128M", "134217728" },
		{ "unknown option", "\"-incoming\"", "\"-bogus\", \"-incoming\"", "-bogus" },
		{ "no -incoming", NULL, NULL, "without -incoming" },
	};
	struct hv_vm v;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 256, 2, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED);
	for (unsigned i = 0; i < G_N_ELEMENTS(variants); i++) {
		const char *pre[] = { hv_trampoline(), "--", NULL };
		const char *suf[] = { "-incoming", state_uri, NULL };
		g_autofree char *cmd = NULL;
		g_autofree char *log = NULL;
		uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };

		cmd = hv_vm_argv_json(&v, hv_trampoline() ? pre : NULL,
				      variants[i].from ? suf : NULL);
		if (variants[i].from) {
			g_auto(GStrv) parts = g_strsplit(cmd, variants[i].from, 2);

			hv_assert(parts[1], "%s: '%s' not in %s", variants[i].what,
				  variants[i].from, cmd);
			g_free(cmd);
			cmd = g_strjoin(variants[i].to, parts[0], parts[1], NULL);
		}
		set_cpr_exec(&v, cmd);
		migrate(&v);
		hv_wait_event(&v, "RESUME");
		hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "%s: the VM is gone",
			  variants[i].what);
		assert_running(&v);
		hv_assert(hv_heartbeats_advance(ram, 2, before, 5000),
			  "%s: heartbeats stuck after the rollback", variants[i].what);
		hv_assert(hv_pattern_check((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED) ==
			  PATTERN_LEN, "%s: guest RAM changed", variants[i].what);
		log = hv_vm_log(&v);
		hv_assert(strstr(log, variants[i].want) && strstr(log, "rolling back"),
			  "%s: the log does not say why and that it rolled back:\n%s",
			  variants[i].what, log);
		unlink(state);
	}
	hv_vm_stop(&v);
}

/*
 * The new binary does not exist: the blocker check sees the trampoline, the
 * trampoline cannot exec the binary and runs the rollback command instead.
 */
static void case_missing_binary(void)
{
	struct hv_vm v;
	g_autofree char *cmd = NULL;
	g_autofree char *log = NULL;
	uint64_t before[2];
	void *ram;
	pid_t pid;

	if (!hv_trampoline()) {
		fprintf(stderr, "relive-trampoline was not built\n");
		exit(1);
	}
	hv_vm_start(&v, accel, 256, 2, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_assert(ram, "cannot map ram0");
	{
		const char *pre[] = { hv_trampoline(), "--", NULL };
		const char *suf[] = { "-incoming", state_uri, NULL };
		char *bin = v.argv[0];

		v.argv[0] = (char *)"/nonexistent/relive-vm";
		cmd = hv_vm_argv_json(&v, pre, suf);
		v.argv[0] = bin;
	}
	set_cpr_exec(&v, cmd);
	before[0] = hv_heartbeat(ram, 0);
	before[1] = hv_heartbeat(ram, 1);
	migrate(&v);
	hv_wait_event(&v, "RESUME");
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone");
	assert_running(&v);
	hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "heartbeats stuck after rollback");
	log = hv_vm_log(&v);
	hv_assert(strstr(log, "/nonexistent/relive-vm"),
		  "the log does not name the missing binary:\n%s", log);
	hv_vm_stop(&v);
}

/* relive-vm copied to DIR. Return: the copy's path, g_free. */
static char *binary_copy(const char *dir)
{
	g_autofree char *bin = NULL, *data = NULL;
	g_autoptr(GError) e = NULL;
	gsize len;

	g_mkdir_with_parents(dir, 0700);
	bin = g_build_filename(dir, "relive-vm", NULL);
	hv_assert(g_file_get_contents(hv_vm_binary(), &data, &len, &e) &&
		  g_file_set_contents(bin, data, len, &e), "copy relive-vm: %s", e->message);
	hv_assert(chmod(bin, 0755) == 0, "chmod %s", bin);
	return g_steal_pointer(&bin);
}

/*
 * After the resume nothing but the host ends the new process: a pidfile it
 * cannot write is a message, and the guest runs on in it.
 */
static void case_after_resume(void)
{
	const char *suf[] = { "-pidfile", "/nonexistent-dir/relive.pid", "-incoming", NULL, NULL };
	g_autofree char *cmd = NULL, *log = NULL;
	uint64_t before;
	struct hv_vm v;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 256, 1, NULL);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED);
	suf[3] = state_uri;
	cmd = hv_vm_argv_json(&v, NULL, suf);
	set_cpr_exec(&v, cmd);
	before = hv_heartbeat(ram, 0);
	migrate(&v);
	hv_wait_event(&v, "RESUME");
	g_usleep(200000);
	log = hv_vm_log(&v);
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone:\n%s", log);
	assert_running(&v);
	hv_assert(hv_heartbeats_advance(ram, 1, &before, 5000), "heartbeats stuck");
	hv_assert(hv_pattern_check((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED) ==
		  PATTERN_LEN, "guest RAM changed");
	hv_assert(strstr(log, "-pidfile /nonexistent-dir/relive.pid") &&
		  strstr(log, "the guest runs on"), "the log does not say what failed:\n%s", log);
	hv_assert(!strstr(log, "rolling back"), "it rolled back after the resume:\n%s", log);
	hv_vm_stop(&v);
}

/*
 * A package upgrade renames a new file over the old binary while the VM
 * runs, then the update fails: the rollback brings back the binary that
 * wrote the state, not what the path names now (a script that exits).
 */
static void case_replaced_rollback(void)
{
	g_autofree char *dir = hv_path("installed");
	g_autofree char *bin = binary_copy(dir);
	g_autofree char *cmd = NULL, *log = NULL, *exe = NULL, *link = NULL;
	g_autofree char *bin_new = g_strconcat(bin, ".new", NULL);
	uint64_t before[2];
	struct hv_vm v;
	void *ram;
	pid_t pid;

	setenv("RELIVE_VM", bin, 1);
	hv_vm_start(&v, accel, 256, 2, NULL);
	unsetenv("RELIVE_VM");
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED);

	/* the upgrade: a new file written beside, renamed over */
	hv_assert(g_file_set_contents(bin_new, "#!/bin/sh\nexit 3\n", -1, NULL) &&
		  chmod(bin_new, 0755) == 0 && rename(bin_new, bin) == 0, "replace %s", bin);

	/* the new binary (the build tree's) is started with 3 vCPUs: the state has 2 */
	{
		const char *suf[] = { "-smp", "3", "-incoming", state_uri, NULL };
		char *old = v.argv[0];

		v.argv[0] = (char *)hv_vm_binary();
		cmd = hv_vm_argv_json(&v, NULL, suf);
		v.argv[0] = old;
	}
	set_cpr_exec(&v, cmd);
	before[0] = hv_heartbeat(ram, 0);
	before[1] = hv_heartbeat(ram, 1);
	migrate(&v);
	hv_wait_event(&v, "RESUME");
	log = hv_vm_log(&v);
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone:\n%s", log);
	assert_running(&v);
	hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "heartbeats stuck after rollback");
	hv_assert(hv_pattern_check((char *)ram + PATTERN_OFF, PATTERN_LEN, PATTERN_SEED) ==
		  PATTERN_LEN, "guest RAM changed across the rollback");
	hv_assert(strstr(log, "rolling back"), "the log does not say it rolled back:\n%s", log);
	/* it is the old executable: the one whose path was renamed over */
	exe = g_strdup_printf("/proc/%d/exe", pid);
	link = g_file_read_link(exe, NULL);
	hv_assert(link && g_str_has_suffix(link, " (deleted)"),
		  "the rolled-back process runs %s, not the replaced binary", link ? link : "?");
	hv_vm_stop(&v);
}

/* The state file's size does not follow RAM size (shared memfd RAM is not written). */
/*
 * x-state-writer fallback: the same update with the pwritev writer; a bad
 * value is refused and changes nothing.
 */
static void case_writer_fallback(void)
{
	/* preserve=off: the blob's bytes go through the writer too */
	const char *extra[] = { "-device", "state-blob,id=blob0,size=1M,preserve=off", NULL };
	g_autoptr(JsonNode) params = NULL;
	g_autoptr(JsonNode) qm = NULL;
	g_autofree char *cmd = NULL;
	g_autofree char *err = NULL;
	struct hv_vm v;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, 256, 1, extra);
	pid = v.pid;
	ram = hv_map_ram(pid, "ram0", 256ull << 20);
	hv_assert(ram, "cannot map ram0 of pid %d", pid);
	err = hv_qmp_error(&v, "migrate-set-parameters",
			   "{\"mode\": \"cpr-exec\", \"x-state-writer\": \"aio\"}");
	hv_assert(err && strstr(err, "x-state-writer"), "a bad x-state-writer was not refused: %s",
		  err ? err : "(accepted)");
	params = hv_qmp(&v, "query-migrate-parameters", NULL);
	hv_assert(!strcmp(json_object_get_string_member(json_node_get_object(params), "mode"),
			  "normal"), "a refused migrate-set-parameters changed mode");
	json_node_unref(hv_qmp(&v, "migrate-set-parameters", "{\"x-state-writer\": \"fallback\"}"));
	json_node_unref(params);
	params = hv_qmp(&v, "query-migrate-parameters", NULL);
	hv_assert(!strcmp(json_object_get_string_member(json_node_get_object(params),
							"x-state-writer"), "fallback"),
		  "query-migrate-parameters does not show x-state-writer fallback");
	cmd = exec_command(&v, state_uri, true);
	set_cpr_exec(&v, cmd);
	migrate(&v);
	hv_wait_event(&v, "RESUME");
	hv_assert(v.pid == pid, "pid changed");
	assert_running(&v);
	assert_beating(&v, ram, 1);
	qm = hv_wait_migration(&v, "completed");
	hv_assert(blob_loads(qm) == 1, "state-blob not verified at load");
	json_node_unref(params);
	/* parameters belong to a process: the new one starts from io_uring */
	params = hv_qmp(&v, "query-migrate-parameters", NULL);
	hv_assert(!strcmp(json_object_get_string_member(json_node_get_object(params),
							"x-state-writer"), "io_uring"),
		  "the new process did not start from the default writer");
	hv_vm_stop(&v);
}

static void case_size(void)
{
	uint64_t size[2];
	unsigned mib[2] = { 256, 2048 };

	for (int i = 0; i < 2; i++) {
		struct hv_vm v;
		g_autofree char *cmd = NULL;
		struct stat st;

		hv_vm_start(&v, accel, mib[i], 2, NULL);
		cmd = exec_command(&v, state_uri, false);
		set_cpr_exec(&v, cmd);
		migrate(&v);
		hv_wait_event(&v, "RESUME");
		hv_assert(stat(state, &st) == 0, "%s: %s", state, strerror(errno));
		size[i] = st.st_size;
		hv_vm_stop(&v);
		unlink(state);
	}
	printf("state file: %" G_GUINT64_FORMAT " bytes with 256 MiB, %" G_GUINT64_FORMAT " bytes with 2 GiB\n",
	       size[0], size[1]);
	hv_assert(size[0] == size[1], "state file grows with RAM: %" G_GUINT64_FORMAT " vs %" G_GUINT64_FORMAT,
		  size[0], size[1]);
	hv_assert(size[0] < (1u << 20), "state file of %" G_GUINT64_FORMAT " bytes", size[0]);
}

/* Bad options: exit status 1 and a message that names the option. */
static void case_options(void)
{
	static const struct {
		const char *args[4];
		const char *want;
	} bad[] = {
		{ { "-m", "abc" }, "-m abc" },
		{ { "-smp", "0" }, "-smp 0" },
		{ { "-bogus" }, "-bogus" },
		{ { "-object", "memory-backend-foo,id=x,size=1M" }, "memory-backend-foo" },
		{ { "-object", "memory-backend-memfd,id=x,size=5000" }, "size=5000" },
		{ { "-machine", "memory-backend=nope" }, "nope" },
		{ { "-device", "virtio-net" }, "virtio-net" },
		{ { "-incoming", "tcp:1.2.3.4:5" }, "-incoming tcp:1.2.3.4:5" },
		{ { "-accel", "tcg" }, "-accel tcg" },
		{ { "-serial", "pty" }, "-serial pty" },
		{ { "-m" }, "-m: requires an argument" },
		{ { "-serial", "stdio", "-monitor", "stdio" }, "stdio: only one of" },
	};

	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *argv[7] = { hv_vm_binary() };
		g_autofree char *err = NULL;
		g_autoptr(GError) e = NULL;
		int status;

		for (int k = 0; k < 4 && bad[i].args[k]; k++)
			argv[k + 1] = bad[i].args[k];
		hv_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
				       NULL, NULL, &err, &status, &e), "spawn: %s", e->message);
		hv_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
			  "%s %s: exit status %d, expected 1", argv[1], argv[2] ? argv[2] : "", status);
		hv_assert(strstr(err, bad[i].want), "%s: message '%s' does not name '%s'",
			  argv[1], err, bad[i].want);
	}
	{
		const char *argv[] = { hv_vm_binary(), "--help", NULL };
		g_autofree char *out = NULL;
		int status;

		hv_assert(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out, NULL, &status, NULL) &&
			  status == 0 && strstr(out, "executes NO guest code") && strstr(out, "-incoming defer"),
			  "--help: %s", out ? out : "");
	}
}

/* -daemonize: the parent returns once the VM runs; -pidfile names the daemon. */
static void case_daemonize(void)
{
	g_autofree char *pidfile = hv_path("vm.pid");
	g_autofree char *sock = hv_path("qmp-d.sock");
	g_autofree char *spec = g_strdup_printf("unix:%s,server,nowait", sock);
	g_autofree char *txt = NULL;
	const char *argv[] = { hv_vm_binary(), "-m", "64M", "-accel", accel, "-daemonize",
			       "-pidfile", pidfile, "-qmp", spec, NULL };
	g_autoptr(GError) e = NULL;
	struct hv_vm v = { 0 };
	int status;

	hv_assert(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, NULL, NULL, &status, &e),
		  "spawn: %s", e ? e->message : "");
	hv_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "-daemonize: parent status %d", status);
	hv_assert(g_file_get_contents(pidfile, &txt, NULL, NULL), "no pidfile after the parent returned");
	v.pid = atoi(txt);
	hv_assert(v.pid > 0 && kill(v.pid, 0) == 0, "pidfile says '%s', no such process", txt);
	hv_assert(getsid(v.pid) == v.pid, "the daemon did not call setsid()");
	/* listening before the parent returned: connect at once */
	v.qmp = qmp_connect(sock, 100, &e);
	hv_assert(v.qmp, "QMP: %s", e ? e->message : "");
	qmp_send(v.qmp, "quit", NULL, NULL);
	for (int i = 0; i < 300 && kill(v.pid, 0) == 0; i++)
		g_usleep(10000);
	hv_assert(kill(v.pid, 0) < 0, "the daemon did not quit");
	hv_assert(access(pidfile, F_OK) < 0, "the pidfile is still there after quit");
	qmp_close(v.qmp);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
		{ "qmp", case_qmp }, { "hmp", case_hmp }, { "defer", case_defer },
		{ "refusals", case_refusals }, { "exec-fails", case_exec_fails },
		{ "write-fails", case_write_fails }, { "defer-rollback", case_defer_rollback },
		{ "serial", case_serial }, { "paused", case_paused },
		{ "rollback", case_rollback }, { "missing-binary", case_missing_binary },
		{ "early-rollback", case_early_rollback },
		{ "replaced-rollback", case_replaced_rollback },
		{ "after-resume", case_after_resume },
		{ "size", case_size }, { "options", case_options },
		{ "daemonize", case_daemonize }, { "writer-fallback", case_writer_fallback },
	};

	accel = hv_accel(argc, argv);
	state = hv_path("vm.state");
	state_uri = g_strdup_printf("file:%s", state);
	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		if (argc > 2 && strcmp(argv[2], cases[i].name))
			continue;
		cases[i].fn();
	}
	hv_cleanup();
	return 0;
}
