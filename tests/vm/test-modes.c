// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-vm's cpr-transfer, cpr-reboot and normal file migration end to end
 * with real processes: the happy paths (heartbeats go on, a RAM pattern
 * survives), the refusals (wrong channel types, missing channels,
 * mismatched restart arguments) and the faults of cpr-transfer (nobody
 * listening, a wrong path, a new process that dies or hangs after the cpr
 * channel, one that cannot load): the old process resumes its guest.
 * Usage: test-vm-modes kvm|thread CASE.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "relive/cpr-transfer.h"

#define RAM_MIB 256
#define PATTERN_OFF (64ull << 20)
#define PATTERN_LEN (32ull << 20)
#define SEED 0x5eed

static const char *accel;
static bool ignore_shared;	/* x-ignore-shared on, whatever the backend */

static void assert_status(struct hv_vm *v, const char *want)
{
	g_autofree char *st = hv_status(v);

	hv_assert(!strcmp(st, want), "status is '%s', expected %s", st, want);
}

static void assert_beating(struct hv_vm *v, const void *ram, unsigned n)
{
	uint64_t before[4];

	for (unsigned i = 0; i < n; i++)
		before[i] = hv_heartbeat(ram, i);
	if (!hv_heartbeats_advance(ram, n, before, 5000)) {
		g_autofree char *log = hv_vm_log(v);

		hv_fail("heartbeats stopped (vCPU 0 at %" G_GUINT64_FORMAT "); VM log:\n%s",
			before[0], log);
	}
}

static void assert_pattern(const void *ram)
{
	uint64_t at = hv_pattern_check((const char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);

	hv_assert(at == PATTERN_LEN, "RAM pattern damaged at offset %" G_GUINT64_FORMAT,
		  (uint64_t)PATTERN_OFF + at);
}

static void wait_path(const char *path)
{
	for (int i = 0; i < 1000; i++) {
		if (access(path, F_OK) == 0)
			return;
		g_usleep(10000);
	}
	hv_fail("%s never appeared", path);
}

static void set_mode(struct hv_vm *v, const char *mode)
{
	g_autofree char *a = g_strdup_printf("{\"mode\": \"%s\"}", mode);

	json_node_unref(hv_qmp(v, "migrate-set-parameters", a));
}

static char *channels(const char *main_path, const char *cpr_path)
{
	return g_strdup_printf("{\"channels\": ["
			       "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}},"
			       "{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}}]}",
			       main_path, cpr_path);
}

/* The new process: the old one's machine arguments, its own sockets, two -incoming. */
static void start_new(struct hv_vm *nv, const char *name, unsigned smp,
		      const char *main_path, const char *cpr_path, bool json)
{
	g_autofree char *m = g_strdup_printf("unix:%s", main_path);
	g_autofree char *c = json ?
		g_strdup_printf("{\"channel-type\":\"cpr\",\"addr\":{\"transport\":\"socket\",\"type\":\"unix\",\"path\":\"%s\"}}",
				cpr_path) :
		g_strdup_printf("cpr:unix:%s", cpr_path);
	const char *extra[] = { "-incoming", m, "-incoming", c, NULL };

	hv_vm_start_as(nv, name, accel, RAM_MIB, smp, extra, FALSE);
}

/* A migration that must fail with @want in error-desc, the guest running on. */
static void expect_failed_resumed(struct hv_vm *v, const void *ram, const char *want)
{
	g_autoptr(JsonNode) qm = hv_wait_migration(v, "failed");
	const char *desc = json_object_get_string_member_with_default(json_node_get_object(qm),
								      "error-desc", "");

	hv_assert(strstr(desc, want), "error-desc '%s' lacks '%s'", desc, want);
	assert_status(v, "running");
	assert_beating(v, ram, 2);
	assert_pattern(ram);
}

/* ------------------------------------------------------------ cpr-transfer */

/* Two hops: old -> new1 (JSON cpr channel) -> new2 (short form). */
static void case_transfer(void)
{
	struct hv_vm v[3];
	void *ram;

	hv_vm_start(&v[0], accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v[0].pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	assert_beating(&v[0], ram, 2);
	for (int hop = 1; hop <= 2; hop++) {
		g_autofree char *name = g_strdup_printf("new%d-", hop);
		g_autofree char *mp = hv_path(hop == 1 ? "main1.sock" : "main2.sock");
		g_autofree char *cp = hv_path(hop == 1 ? "cpr1.sock" : "cpr2.sock");
		g_autofree char *args = channels(mp, cp);
		uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };
		struct hv_vm *old = &v[hop - 1], *nv = &v[hop];
		g_autoptr(JsonNode) qm = NULL;
		JsonObject *o;

		start_new(nv, name, 2, mp, cp, hop == 1);
		wait_path(cp);
		set_mode(old, "cpr-transfer");
		qmp_events_clear(old->qmp);
		json_node_unref(hv_qmp(old, "migrate", args));
		json_node_unref(hv_wait_migration(old, "completed"));
		assert_status(old, "postmigrate");
		{
			/* the guest is the new process's: the old one may not run it too */
			g_autofree char *err = hv_qmp_error(old, "cont", NULL);

			hv_assert(strstr(err, "new process"), "hop %d: cont: '%s'", hop, err);
			assert_status(old, "postmigrate");
		}
		hv_vm_connect(nv);
		assert_status(nv, "running");
		hv_assert(hv_heartbeats_advance(ram, 2, before, 5000),
			  "hop %d: heartbeats did not go on", hop);
		assert_pattern(ram);
		qm = hv_qmp(nv, "query-migrate", NULL);
		o = json_node_get_object(qm);
		hv_assert(!g_strcmp0(json_object_get_string_member_with_default(o, "status", ""),
				     "completed"), "hop %d: new process's query-migrate is not completed", hop);
		if (json_object_has_member(o, "relive-pause"))
			printf("hop %d: pause %" G_GINT64_FORMAT " us\n", hop,
			       json_object_get_int_member(json_object_get_object_member(o, "relive-pause"),
							  "total-us"));
		hv_assert(access(cp, F_OK) != 0 && access(mp, F_OK) != 0,
			  "hop %d: channel sockets left behind", hop);
		hv_vm_stop(old);
		assert_beating(nv, ram, 2);
	}
	assert_pattern(ram);
	hv_vm_stop(&v[2]);
}

/*
 * The old process writes the stream into a private directory with a random
 * name: a name planted in $TMPDIR beforehand (a directory where the stream
 * once went, $TMPDIR/relive-transfer-PID.state) changes nothing, and
 * nothing is left behind.
 */
static void case_transfer_private_state(void)
{
	g_autofree char *tmp = hv_path("tmp");
	g_autofree char *mp = hv_path("main1.sock"), *cp = hv_path("cpr1.sock");
	g_autofree char *args = channels(mp, cp), *planted = NULL;
	struct hv_vm v, nv;
	const char *name;
	GDir *d;

	hv_assert(mkdir(tmp, 0700) == 0, "mkdir %s", tmp);
	g_setenv("TMPDIR", tmp, TRUE);
	hv_vm_start(&v, accel, RAM_MIB, 1, NULL);
	planted = g_strdup_printf("%s/relive-transfer-%d.state", tmp, (int)v.pid);
	hv_assert(mkdir(planted, 0755) == 0, "mkdir %s", planted);
	start_new(&nv, "new1-", 1, mp, cp, false);
	wait_path(cp);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", args));
	json_node_unref(hv_wait_migration(&v, "completed"));
	hv_vm_connect(&nv);
	assert_status(&nv, "running");
	hv_vm_stop(&v);
	d = g_dir_open(tmp, 0, NULL);
	while ((name = g_dir_read_name(d)))
		hv_assert(!strcmp(name, strrchr(planted, '/') + 1),
			  "%s left behind in $TMPDIR", name);
	g_dir_close(d);
	rmdir(planted);
	hv_vm_stop(&nv);
	rmdir(tmp);
	g_unsetenv("TMPDIR");
}

static void case_transfer_refusals(void)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *state = hv_path("vm.state");
	struct hv_vm v;
	struct hv_hmp *h;
	void *ram;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	set_mode(&v, "cpr-transfer");
	{
		/* the cpr channel on a file */
		g_autofree char *a = g_strdup_printf("{\"channels\": ["
			"{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}},"
			"{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"file\", \"filename\": \"%s\"}}]}",
			mp, state);
		g_autofree char *err = hv_qmp_error(&v, "migrate", a);

		hv_assert(strstr(err, "cpr channel must be a unix socket"), "file cpr channel: '%s'", err);
	}
	{
		/* no cpr channel at all */
		g_autofree char *a = g_strdup_printf("{\"uri\": \"unix:%s\"}", mp);
		g_autofree char *err = hv_qmp_error(&v, "migrate", a);

		hv_assert(strstr(err, "'cpr' channel"), "no cpr channel: '%s'", err);
	}
	{
		/* a file main channel */
		g_autofree char *a = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
		g_autofree char *err = hv_qmp_error(&v, "migrate", a);

		hv_assert(strstr(err, "unix socket"), "file main channel: '%s'", err);
	}
	{
		/* an incompatible capability */
		g_autofree char *a = channels(mp, cp);
		g_autofree char *err = NULL;

		json_node_unref(hv_qmp(&v, "migrate-set-capabilities",
				       "{\"capabilities\": [{\"capability\": \"postcopy-ram\", \"state\": true}]}"));
		err = hv_qmp_error(&v, "migrate", a);
		hv_assert(strstr(err, "postcopy"), "postcopy-ram: '%s'", err);
		json_node_unref(hv_qmp(&v, "migrate-set-capabilities",
				       "{\"capabilities\": [{\"capability\": \"postcopy-ram\", \"state\": false}]}"));
	}
	h = hv_hmp_connect(v.hmp_path);
	{
		g_autofree char *line = g_strdup_printf("migrate -d unix:%s", mp);
		g_autofree char *out = hv_hmp(h, line);

		hv_assert(strstr(out, "QMP"), "HMP migrate in cpr-transfer: '%s'", out);
	}
	hv_hmp_close(h);
	assert_status(&v, "running");
	assert_beating(&v, ram, 2);
	assert_pattern(ram);
	hv_vm_stop(&v);
}

/* Nobody listens, then a wrong path: the guest never stops; then it works. */
static void case_transfer_not_listening(void)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *wrong = hv_path("nope.sock");
	g_autofree char *a = channels(mp, cp);
	g_autofree char *aw = channels(mp, wrong);
	struct hv_vm v, nv;
	void *ram;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));
	expect_failed_resumed(&v, ram, "cpr channel");

	start_new(&nv, "new-", 2, mp, cp, false);
	wait_path(cp);
	json_node_unref(hv_qmp(&v, "migrate", aw));
	expect_failed_resumed(&v, ram, "nope.sock");

	/* the new process was left alone by the failures: it still works */
	json_node_unref(hv_qmp(&v, "migrate", a));
	json_node_unref(hv_wait_migration(&v, "completed"));
	hv_vm_connect(&nv);
	assert_status(&nv, "running");
	hv_vm_stop(&v);
	assert_beating(&nv, ram, 2);
	assert_pattern(ram);
	hv_vm_stop(&nv);
}

/* The new process is killed before migrate: its sockets are stale. */
static void case_transfer_dies_before(void)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	struct hv_vm v, nv;
	void *ram;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	start_new(&nv, "new-", 2, mp, cp, false);
	wait_path(cp);
	kill(nv.pid, SIGKILL);
	hv_vm_stop(&nv);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));
	expect_failed_resumed(&v, ram, "cpr channel");
	hv_vm_stop(&v);
}

/*
 * A new process that reads the cpr channel and then exits (@hang: keeps it
 * open and never answers), played by a child of this test on the library's
 * receiving side.
 */
static pid_t fake_new(const char *cp, bool hang)
{
	pid_t pid = fork();

	hv_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rl_cpr_state *s = rl_cpr_state_new();
		struct rl_error err = { { 0 } };
		int lfd, fd;

		if (rl_cpr_transfer_listen(cp, &lfd, &err) < 0 ||
		    rl_cpr_transfer_accept(lfd, 20000, &fd, &err) < 0 ||
		    !s || rl_cpr_transfer_recv(fd, s, 5000, &err) < 0) {
			fprintf(stderr, "fake new process: %s\n", err.msg);
			_exit(1);
		}
		if (hang)
			pause();
		_exit(rl_cpr_find_fd(s, "ram0", 0) >= 0 ? 0 : 2);
	}
	hv_track_pid(pid);
	return pid;
}

static void case_transfer_dies_after(bool hang)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	struct hv_vm v;
	void *ram;
	pid_t pid;
	int st = 0;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	pid = fake_new(cp, hang);
	wait_path(cp);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));
	expect_failed_resumed(&v, ram, hang ? "did not close the CPR channel" : "main channel");
	if (hang)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	hv_assert(hang || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
		  "the fake new process did not get the RAM memfd (status 0x%x)", st);
	hv_vm_stop(&v);
}

/*
 * A new process that takes the CPR state, accepts the main channel and never
 * reads it: the stream (a 16 MiB state-blob written, preserve=off) does not
 * fit in the socket, and the old process must not wait for the reader with
 * its guest stopped.
 */
static void case_transfer_stalls(void)
{
	const char *extra[] = { "-device", "state-blob,id=blob0,size=16M,preserve=off", NULL };
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	struct hv_vm v;
	void *ram;
	pid_t pid;

	hv_vm_start(&v, accel, RAM_MIB, 2, extra);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	pid = fork();
	hv_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rl_cpr_state *s = rl_cpr_state_new();
		struct rl_error err = { { 0 } };
		int mlfd, lfd, fd, msock;

		if (!s || rl_cpr_transfer_listen(mp, &mlfd, &err) < 0 ||
		    rl_cpr_transfer_listen(cp, &lfd, &err) < 0 ||
		    rl_cpr_transfer_accept(lfd, 20000, &fd, &err) < 0 ||
		    rl_cpr_transfer_recv(fd, s, 5000, &err) < 0) {
			fprintf(stderr, "fake new process: %s\n", err.msg);
			_exit(1);
		}
		close(fd);
		if (rl_cpr_transfer_accept(mlfd, 20000, &msock, &err) < 0)
			_exit(1);
		pause(); /* holds the main channel open, reads nothing */
		_exit(0);
	}
	hv_track_pid(pid);
	wait_path(cp);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));
	expect_failed_resumed(&v, ram, "main channel");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	hv_vm_stop(&v);
}

/*
 * The commit (docs/modes.md): one side held back at @step
 * (RELIVE_VM_TEST_DELAY, longer than the other side's timeout). Whatever
 * the step, exactly one process runs the guest afterwards, with its RAM.
 */
static void case_transfer_commit(const char *step)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	g_autofree char *delay = g_strdup_printf("%s:7000", step);
	gboolean old_side = g_str_has_prefix(step, "old-");
	g_autofree char *old_st = NULL, *log = NULL;
	bool old_runs, new_runs = false;
	struct hv_vm v, nv;
	void *ram;

	if (old_side)
		setenv("RELIVE_VM_TEST_DELAY", delay, 1);
	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	unsetenv("RELIVE_VM_TEST_DELAY");
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	if (!old_side)
		setenv("RELIVE_VM_TEST_DELAY", delay, 1);
	start_new(&nv, "new-", 2, mp, cp, false);
	unsetenv("RELIVE_VM_TEST_DELAY");
	wait_path(cp);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));

	/* both sides decided: the old one's migration ended, the new one resumed or left */
	for (int i = 0; i < 3000; i++) {
		g_autoptr(JsonNode) qm = hv_qmp(&v, "query-migrate", NULL);
		const char *st = json_object_get_string_member_with_default(json_node_get_object(qm),
									    "status", "");

		if (!strcmp(st, "completed") || !strcmp(st, "failed"))
			break;
		g_usleep(10000);
	}
	for (int i = 0; i < 3000; i++) {
		if (hv_vm_exited(&nv, NULL))
			break;
		if (access(nv.qmp_path, F_OK) == 0) {
			hv_vm_connect(&nv);
			new_runs = true;
			break;
		}
		g_usleep(10000);
	}
	old_st = hv_status(&v);
	old_runs = !strcmp(old_st, "running");
	if (new_runs) {
		g_autofree char *st = hv_status(&nv);

		new_runs = !strcmp(st, "running");
	}
	log = hv_vm_log(&v);
	hv_assert(old_runs + new_runs == 1,
		  "%s: the old process is %s, the new one %s: exactly one must run the guest\nold log:\n%s",
		  step, old_st, new_runs ? "runs it" : "does not", log);
	printf("%s: the %s process runs the guest\n", step, old_runs ? "old" : "new");
	assert_beating(old_runs ? &v : &nv, ram, 2);
	assert_pattern(ram);
	/* and it stays that way: the other one is not about to start */
	g_usleep(1000000);
	{
		g_autofree char *still = hv_status(old_runs ? &v : &nv);

		hv_assert(!strcmp(still, "running"), "%s: the guest stopped", step);
	}
	if (old_runs)
		hv_assert(nv.pid == 0 || hv_vm_exited(&nv, NULL) || !new_runs,
			  "%s: the new process is still there", step);
	else
		assert_status(&v, "postmigrate");
	hv_vm_stop(&nv); /* frees it also when the process has exited */
	hv_vm_stop(&v);
}

/*
 * The new process sets up (RAM, VM, slots, vCPUs) before the old one stops
 * the guest: a new process held back for a second there (RELIVE_VM_TEST_DELAY
 * new-setup) leaves the guest running meanwhile, and the second is not in
 * the pause it reports.
 */
static void case_transfer_sets_up_running(void)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	g_autoptr(JsonNode) qm = NULL;
	struct hv_vm v, nv;
	uint64_t before[2];
	JsonObject *o;
	gint64 total;
	void *ram;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	setenv("RELIVE_VM_TEST_DELAY", "new-setup:1500", 1);
	start_new(&nv, "new-", 2, mp, cp, false);
	unsetenv("RELIVE_VM_TEST_DELAY");
	wait_path(cp);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));
	g_usleep(300000);
	before[0] = hv_heartbeat(ram, 0);
	before[1] = hv_heartbeat(ram, 1);
	g_usleep(300000);
	hv_assert(hv_heartbeat(ram, 0) > before[0] && hv_heartbeat(ram, 1) > before[1],
		  "the guest stopped while the new process set up");
	json_node_unref(hv_wait_migration(&v, "completed"));
	hv_vm_connect(&nv);
	assert_status(&nv, "running");
	assert_beating(&nv, ram, 2);
	assert_pattern(ram);
	qm = hv_qmp(&nv, "query-migrate", NULL);
	o = json_node_get_object(qm);
	hv_assert(json_object_has_member(o, "relive-pause"), "no relive-pause in query-migrate");
	o = json_object_get_object_member(o, "relive-pause");
	total = json_object_get_int_member(o, "total-us");
	printf("pause %" G_GINT64_FORMAT " us, stop %" G_GINT64_FORMAT " us\n", total,
	       json_object_get_int_member(o, "stop-us"));
	hv_assert(total > 0 && total < 1000000,
		  "the new process's pause of %" G_GINT64_FORMAT " us holds its setup", total);
	hv_assert(json_object_get_int_member(o, "stop-us") > 0,
		  "the old process's times did not come with GO");
	hv_vm_stop(&v);
	hv_vm_stop(&nv);
}

/* The new process reads the cpr channel, then cannot load (other -smp). */
static void case_transfer_mismatch(void)
{
	g_autofree char *mp = hv_path("main.sock");
	g_autofree char *cp = hv_path("cpr.sock");
	g_autofree char *a = channels(mp, cp);
	struct hv_vm v, nv;
	g_autofree char *log = NULL;
	void *ram;
	int st = 0;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	start_new(&nv, "new-", 1, mp, cp, false);
	wait_path(cp);
	set_mode(&v, "cpr-transfer");
	json_node_unref(hv_qmp(&v, "migrate", a));
	expect_failed_resumed(&v, ram, "did not take the state over");
	for (int i = 0; i < 500 && !hv_vm_exited(&nv, &st); i++)
		g_usleep(10000);
	log = hv_vm_log(&nv);
	hv_assert(strstr(log, "-smp"), "the new process's log does not name -smp:\n%s", log);
	hv_vm_stop(&nv);
	hv_vm_stop(&v);
}

/* ------------------------------------------------ cpr-reboot and normal */

/*
 * Saves to a file in @mode, quits, restarts from the file: the guest goes
 * on. @mem: memory options instead of the harness's memfd (@file: the
 * backend's path), @small: the file must hold no RAM.
 */
static void save_restore(const char *mode, const char *const *mem, const char *file,
			 bool small, unsigned ram_mib)
{
	/* @ram_mib: every page above the guest's 64 MiB filled and checked */
	uint64_t poff = PATTERN_OFF;
	uint64_t plen = ram_mib ? ((uint64_t)ram_mib << 20) - PATTERN_OFF : PATTERN_LEN;
	unsigned mib = ram_mib ? ram_mib : RAM_MIB;
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	g_autofree char *in = g_strdup_printf("file:%s", state);
	const char *extra[8] = { NULL };
	uint64_t size = (uint64_t)mib << 20;
	struct hv_vm v, nv;
	gint64 t0, t_save, t_load, state_bytes;
	uint64_t hb[2];
	struct stat sb;
	unsigned n = 0;
	void *ram;

	for (unsigned i = 0; mem && mem[i]; i++)
		extra[n++] = mem[i];
	hv_vm_start_as(&v, NULL, accel, mem ? 0 : mib, 2, extra, TRUE);
	if (file) {
		int fd = open(file, O_RDWR | O_CLOEXEC);

		hv_assert(fd >= 0, "cannot open %s", file);
		ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		hv_assert(ram != MAP_FAILED, "cannot map %s", file);
	} else {
		ram = hv_map_ram(v.pid, "ram0", size);
		hv_assert(ram, "cannot map ram0");
	}
	hv_pattern_fill((char *)ram + poff, plen, SEED);
	assert_beating(&v, ram, 2);
	set_mode(&v, mode);
	if (small || ignore_shared)
		json_node_unref(hv_qmp(&v, "migrate-set-capabilities",
				       "{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}]}"));
	t0 = g_get_monotonic_time();
	json_node_unref(hv_qmp(&v, "migrate", uri));
	/* GiBs to disk: the harness's wait is for small guests */
	for (int i = 0; i < 3000; i++) {
		g_autofree char *st = NULL;
		g_autoptr(JsonNode) r = hv_qmp(&v, "query-migrate", NULL);

		st = g_strdup(json_object_get_string_member_with_default(json_node_get_object(r),
									 "status", ""));
		if (!strcmp(st, "completed"))
			break;
		hv_assert(strcmp(st, "failed"), "migrate failed: %s",
			  json_object_get_string_member_with_default(json_node_get_object(r),
								     "error-desc", ""));
		g_usleep(20000);
	}
	{
		g_autoptr(JsonNode) r = hv_wait_migration(&v, "completed");

		state_bytes = json_object_get_int_member_with_default(json_node_get_object(r),
								       "relive-state-bytes", -1);
	}
	t_save = g_get_monotonic_time() - t0;
	assert_status(&v, "postmigrate");
	hv_assert(stat(state, &sb) == 0 && (sb.st_mode & 0777) == 0600, "%s: not a 0600 file", state);
	/* what holds data: neither RAM kept in place nor the holes of zero pages */
	hv_assert(state_bytes > 0 && state_bytes <= (gint64)sb.st_blocks * 512,
		  "relive-state-bytes %" G_GINT64_FORMAT " for %lld bytes on disk",
		  state_bytes, (long long)sb.st_blocks * 512);
	printf("%s: state file %lld bytes on disk (%lld apparent)\n", mode,
	       (long long)sb.st_blocks * 512, (long long)sb.st_size);
	hv_assert(!small || sb.st_blocks * 512 < (8 << 20),
		  "x-ignore-shared with a shared file backend wrote RAM (%lld bytes)",
		  (long long)sb.st_blocks * 512);
	/* RAM kept in place leaves no hole either: the file is not sized for it */
	hv_assert(!small || sb.st_size < (8 << 20),
		  "x-ignore-shared with a shared file backend: %lld bytes apparent size",
		  (long long)sb.st_size);
	hv_assert(small || sb.st_blocks * 512 >= (long long)plen,
		  "the state file cannot hold the RAM (%lld bytes)", (long long)sb.st_blocks * 512);
	hb[0] = hv_heartbeat(ram, 0);
	hb[1] = hv_heartbeat(ram, 1);
	hv_vm_stop(&v);
	if (!file) /* memfd RAM died with the process */
		munmap(ram, size);

	extra[n++] = "-incoming";
	extra[n++] = in;
	t0 = g_get_monotonic_time();
	hv_vm_start_as(&nv, NULL, accel, mem ? 0 : mib, 2, extra, FALSE);
	{
		/* QMP comes up after the load: GiBs read back take their time */
		g_autoptr(GError) e = NULL;

		nv.qmp = qmp_connect(nv.qmp_path, HV_TIMEOUT_MS + 30 * (int)(mib >> 10) * 1000, &e);
		if (!nv.qmp) {
			g_autofree char *log = hv_vm_log(&nv);

			hv_fail("the restored relive-vm did not come up (%s); its log:\n%s",
				e->message, log);
		}
	}
	t_load = g_get_monotonic_time() - t0;
	if (!file) {
		ram = hv_map_ram(nv.pid, "ram0", size);
		hv_assert(ram, "cannot map the restored ram0");
	}
	assert_status(&nv, "running");
	hv_assert(hv_heartbeat(ram, 0) >= hb[0] && hv_heartbeat(ram, 1) >= hb[1],
		  "heartbeats went back after the restore");
	hv_assert(hv_heartbeats_advance(ram, 2, hb, 5000), "heartbeats did not go on");
	{
		uint64_t at = hv_pattern_check((char *)ram + poff, plen, SEED);

		hv_assert(at == plen, "RAM differs after the restore at offset %" G_GUINT64_FORMAT,
			  poff + at);
	}
	printf("%s, %u MiB, %" G_GUINT64_FORMAT " MiB filled: migrate->completed %.2f s (%.2f GB/s), restart to QMP %.2f s\n",
	       mode, mib, plen >> 20, t_save / 1e6, small ? 0 : plen / (t_save * 1e3), t_load / 1e6);
	munmap(ram, size);
	hv_vm_stop(&nv);
}

/*
 * A state file damaged in its RAM pages: the restore reads each page once,
 * into guest RAM, and checks it there. The new process exits naming the
 * section and the offset, its guest never runs, and the file stays for a
 * retry.
 */
static void case_normal_corrupt(void)
{
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	g_autofree char *in = g_strdup_printf("file:%s", state);
	const char *extra[] = { "-incoming", in, NULL };
	g_autofree char *log = NULL;
	unsigned char page[4096], *file, *at;
	uint64_t size = (uint64_t)RAM_MIB << 20;
	struct hv_vm v, nv;
	struct stat sb;
	int fd, status = 0;
	void *ram;

	hv_vm_start_as(&v, NULL, accel, RAM_MIB, 1, NULL, TRUE);
	ram = hv_map_ram(v.pid, "ram0", size);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	munmap(ram, size);
	set_mode(&v, "normal");
	json_node_unref(hv_qmp(&v, "migrate", uri));
	json_node_unref(hv_wait_migration(&v, "completed"));
	hv_vm_stop(&v);

	/* one byte of the pattern's first page, wherever the file holds it */
	hv_pattern_fill(page, sizeof(page), SEED);
	fd = open(state, O_RDWR | O_CLOEXEC);
	hv_assert(fd >= 0 && fstat(fd, &sb) == 0, "cannot open %s", state);
	file = mmap(NULL, sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	hv_assert(file != MAP_FAILED, "cannot map %s", state);
	at = memmem(file, sb.st_size, page, sizeof(page));
	hv_assert(at, "the pattern is not in %s", state);
	at[100] ^= 0xff;
	munmap(file, sb.st_size);
	close(fd);

	hv_vm_start_as(&nv, "new-", accel, RAM_MIB, 1, extra, FALSE);
	for (int i = 0; i < 2000 && !hv_vm_exited(&nv, &status); i++)
		g_usleep(10000);
	hv_assert(nv.pid == 0, "the VM did not exit on a damaged state file");
	hv_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d", status);
	log = hv_vm_log(&nv);
	hv_assert(strstr(log, "section 'ram0' at offset") && strstr(log, "CRC mismatch"),
		  "the error does not name the section and offset:\n%s", log);
	hv_assert(stat(state, &sb) == 0, "the state file is gone");
	printf("%s", log);
	hv_vm_stop(&nv);
}

/* A restart with other machine arguments is refused, naming the option. */
static void case_reboot_mismatch(void)
{
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	g_autofree char *in = g_strdup_printf("file:%s", state);
	const char *extra[] = { "-incoming", in, NULL };
	struct hv_vm v, nv;
	g_autofree char *log = NULL;
	int st = 0;

	hv_vm_start(&v, accel, RAM_MIB, 2, NULL);
	set_mode(&v, "cpr-reboot");
	{
		/* cpr-reboot writes to files only */
		g_autofree char *err = hv_qmp_error(&v, "migrate", "{\"uri\": \"tcp:127.0.0.1:4444\"}");

		hv_assert(*err, "tcp: accepted in cpr-reboot");
	}
	json_node_unref(hv_qmp(&v, "migrate", uri));
	json_node_unref(hv_wait_migration(&v, "completed"));
	hv_vm_stop(&v);
	hv_vm_start_as(&nv, NULL, accel, RAM_MIB, 4, extra, FALSE);
	for (int i = 0; i < 1000 && !hv_vm_exited(&nv, &st); i++)
		g_usleep(10000);
	log = hv_vm_log(&nv);
	hv_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "restart with -smp 4 did not fail");
	hv_assert(strstr(log, "-smp: 2 in") && strstr(log, "4 here"),
		  "the error does not name -smp with both values:\n%s", log);
	hv_vm_stop(&nv);
}

int main(int argc, char **argv)
{
	const char *c = argc > 2 ? argv[2] : "";

	accel = hv_accel(argc, argv);
	if (!strcmp(c, "transfer"))
		case_transfer();
	else if (!strcmp(c, "transfer-private-state"))
		case_transfer_private_state();
	else if (!strcmp(c, "transfer-refusals"))
		case_transfer_refusals();
	else if (!strcmp(c, "transfer-not-listening"))
		case_transfer_not_listening();
	else if (!strcmp(c, "transfer-dies-before"))
		case_transfer_dies_before();
	else if (!strcmp(c, "transfer-dies-after"))
		case_transfer_dies_after(false);
	else if (!strcmp(c, "transfer-hangs"))
		case_transfer_dies_after(true);
	else if (!strcmp(c, "transfer-stalls"))
		case_transfer_stalls();
	else if (g_str_has_prefix(c, "transfer-commit-"))
		case_transfer_commit(c + strlen("transfer-commit-"));
	else if (!strcmp(c, "transfer-sets-up-running"))
		case_transfer_sets_up_running();
	else if (!strcmp(c, "transfer-mismatch"))
		case_transfer_mismatch();
	else if (!strcmp(c, "reboot"))
		save_restore("cpr-reboot", NULL, NULL, false, 0);
	else if (!strcmp(c, "reboot-memfd-ignore-shared")) {
		/* a memfd does not outlive the process: written all the same */
		ignore_shared = true;
		save_restore("cpr-reboot", NULL, NULL, false, 0);
	}
	else if (!strcmp(c, "reboot-shared")) {
		g_autofree char *f = g_strdup_printf("/dev/shm/relive-test-%d", getpid());
		g_autofree char *o = g_strdup_printf("memory-backend-file,id=ram0,size=%uM,mem-path=%s,share=on",
						     RAM_MIB, f);
		const char *mem[] = { "-object", o, "-machine", "memory-backend=ram0", NULL };

		save_restore("cpr-reboot", mem, f, true, 0);
		unlink(f);
	} else if (!strcmp(c, "reboot-shared-aux")) {
		/* aux-ram-share puts the ROM in a memfd: written, the file still not */
		g_autofree char *f = g_strdup_printf("/dev/shm/relive-test-%d", getpid());
		g_autofree char *o = g_strdup_printf("memory-backend-file,id=ram0,size=%uM,mem-path=%s,share=on",
						     RAM_MIB, f);
		const char *mem[] = { "-object", o, "-machine", "memory-backend=ram0,aux-ram-share=on", NULL };

		save_restore("cpr-reboot", mem, f, true, 0);
		unlink(f);
	} else if (!strcmp(c, "reboot-mismatch"))
		case_reboot_mismatch();
	else if (!strcmp(c, "normal"))
		save_restore("normal", NULL, NULL, false, 0);
	else if (!strcmp(c, "normal-corrupt"))
		case_normal_corrupt();
	else if (!strcmp(c, "normal-full"))
		save_restore("normal", NULL, NULL, false, argc > 3 ? atoi(argv[3]) : 1024);
	else {
		fprintf(stderr, "unknown case '%s'\n", c);
		return 2;
	}
	hv_cleanup();
	return 0;
}
