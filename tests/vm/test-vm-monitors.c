// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitors of the real relive-vm (-accel thread) across a cpr-exec
 * update driven from HMP: a negotiated QMP client gets STOP, then RESUME and
 * MIGRATION "completed" from the new binary on the same socket and finishes
 * a command it had half-sent; an unnegotiated one stays so; the HMP client
 * that ran migrate is greeted again; a serial client stays connected. And
 * QMP input meant to crash it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <glib.h>

#include "monitor-client.h"

static const char *vm_bin;

/* Reads lines until the event @name; every line on the way must be an event. */
static char *wait_event(int fd, const char *name)
{
	g_autofree char *tag = g_strdup_printf("\"event\": \"%s\"", name);

	for (int i = 0; i < 50; i++) {
		char *l = mon_read_line(fd);

		assert_non_null(l);
		if (!g_str_has_prefix(l, "{\"timestamp\": "))
			fail_msg("expected an event, got %s", l);
		if (strstr(l, tag))
			return l;
		g_free(l);
	}
	fail_msg("no %s event", name);
	return NULL;
}

static char *read_prompt(int h)
{
	return mon_read_bytes(h, 7);
}

/* Reads HMP output up to and including the next prompt. Return: the text before it. */
static char *hmp_until_prompt(int h)
{
	GString *s = g_string_new(NULL);

	while (!g_str_has_suffix(s->str, "(qemu) ")) {
		g_autofree char *c = mon_read_bytes(h, 1);

		assert_non_null(c);
		g_string_append(s, c);
	}
	g_string_truncate(s, s->len - 7);
	return g_string_free(s, FALSE);
}

static void test_vm_monitors_survive(void **state)
{
	char dir[] = "/tmp/relive-vm-monitors-XXXXXX";
	g_autofree char *qmp = NULL, *hmp = NULL, *ser = NULL, *st = NULL;
	g_autofree char *qspec = NULL, *hspec = NULL, *sspec = NULL;
	g_autofree char *cmd = NULL, *out = NULL, *ev = NULL, *l = NULL;
	g_autofree char *cmdline = NULL, *cmdline2 = NULL;
	const char *args[20];
	int n = 0, a, b, h, s, status;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	qmp = g_build_filename(dir, "qmp.sock", NULL);
	hmp = g_build_filename(dir, "hmp.sock", NULL);
	ser = g_build_filename(dir, "serial.sock", NULL);
	st = g_build_filename(dir, "vm.state", NULL);
	qspec = g_strdup_printf("unix:%s,server=on,wait=off", qmp);
	hspec = g_strdup_printf("unix:%s,server,nowait", hmp);
	sspec = g_strdup_printf("unix:%s,server,nowait", ser);
	args[n++] = vm_bin;
	args[n++] = "-object";
	args[n++] = "memory-backend-memfd,id=ram0,size=128M";
	args[n++] = "-machine";
	args[n++] = "memory-backend=ram0,aux-ram-share=on";
	args[n++] = "-accel";
	args[n++] = "thread";
	args[n++] = "-qmp";
	args[n++] = qspec;
	args[n++] = "-monitor";
	args[n++] = hspec;
	args[n++] = "-serial";
	args[n++] = sspec;
	args[n] = NULL;

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(vm_bin, (char **)args);
		_exit(127);
	}
	a = mon_qmp_open(qmp);
	b = mon_connect(qmp);
	l = mon_read_line(b); /* greeting */
	assert_non_null(l);
	h = mon_connect(hmp);
	s = mon_connect(ser);
	g_free(mon_read_line(h)); /* banner */
	g_free(read_prompt(h));

	/* The new binary's command line, one word quoted the way a shell would. */
	cmdline = g_strjoinv("' '", (char **)args);
	cmd = g_strdup_printf("migrate_set_parameter cpr-exec-command '%s' -incoming 'file:%s'\n",
			      cmdline, st);
	mon_send(h, "migrate_set_parameter mode cpr-exec\n");
	out = hmp_until_prompt(h);
	assert_string_equal(out, "");
	mon_send(h, cmd);
	g_free(out);
	out = hmp_until_prompt(h);
	assert_string_equal(out, "");
	mon_send(h, "info migrate_parameters\n");
	g_free(out);
	out = hmp_until_prompt(h);
	cmdline2 = g_strjoinv(" ", (char **)args);
	assert_non_null(strstr(out, cmdline2));

	/* Half a command on the QMP socket, then the update from HMP. */
	mon_send(a, "{\"execute\": \"query-sta");
	g_free(cmd);
	cmd = g_strdup_printf("migrate -d file:%s\n", st);
	mon_send(h, cmd);
	ev = wait_event(a, "STOP");
	g_free(ev);
	ev = wait_event(a, "RESUME");
	g_free(ev);
	ev = wait_event(a, "MIGRATION");
	while (!strstr(ev, "\"completed\"")) {
		g_free(ev);
		ev = wait_event(a, "MIGRATION");
	}
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	mon_send(a, "tus\", \"id\": 1}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": 1}");

	/* The HMP client: the old prompt, then the new binary's banner and prompt. */
	g_free(out);
	out = hmp_until_prompt(h);
	assert_string_equal(out, "");
	g_free(out);
	out = hmp_until_prompt(h);
	assert_true(g_str_has_suffix(out, "monitor - type 'help' for more information\r\n"));
	mon_send(h, "info status\n");
	g_free(out);
	out = hmp_until_prompt(h);
	assert_string_equal(out, "VM status: running\r\n");

	/* The unnegotiated client got no events and still has to negotiate. */
	assert_true(mon_quiet(b, 50));
	mon_send(b, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(b, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting"
		       " capabilities negotiation with 'qmp_capabilities'\"}}");

	/* The serial client was not hung up on. */
	{
		char c;
		ssize_t r;

		while (!mon_quiet(s, 50)) {
			r = read(s, &c, 1);
			assert_true(r == 1);
		}
	}

	mon_send(a, "{\"execute\": \"quit\"}\n");
	mon_expect_line(a, "{\"return\": {}}");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	close(a);
	close(b);
	close(h);
	close(s);
	unlink(qmp);
	unlink(hmp);
	unlink(ser);
	unlink(st);
	rmdir(dir);
}

/*
 * Input that once took relive-vm down: a channel member of the wrong type,
 * and 100000 nested brackets from a client that has not negotiated. Each
 * gets an error; the connections, the process and the guest stay.
 */
static void test_vm_qmp_bad_input(void **state)
{
	char dir[] = "/tmp/relive-vm-qmp-input-XXXXXX";
	g_autofree char *qmp = NULL, *qspec = NULL, *deep = NULL;
	const char *args[12];
	int n = 0, a, b, status;
	pid_t pid;
	GString *g;

	assert_non_null(mkdtemp(dir));
	qmp = g_build_filename(dir, "qmp.sock", NULL);
	qspec = g_strdup_printf("unix:%s,server=on,wait=off", qmp);
	args[n++] = vm_bin;
	args[n++] = "-m";
	args[n++] = "64M";
	args[n++] = "-accel";
	args[n++] = "thread";
	args[n++] = "-qmp";
	args[n++] = qspec;
	args[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(vm_bin, (char **)args);
		_exit(127);
	}
	a = mon_qmp_open(qmp);
	mon_send(a, "{\"execute\":\"migrate\",\"arguments\":{\"channels\":"
		 "[{\"channel-type\":null,\"addr\":{}}]}}\n");
	mon_expect_line(a, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid"
			" parameter type for 'channels[0].channel-type', expected: string\"}}");
	mon_send(a, "{\"execute\":\"migrate\",\"arguments\":{\"channels\":[{\"channel-type\":"
		 "\"main\",\"addr\":{\"transport\":\"file\",\"filename\":{}}}]}}\n");
	mon_expect_line(a, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid"
			" parameter type for 'channels[0].addr.filename', expected: string\"}}");

	b = mon_connect(qmp);
	g_free(mon_read_line(b)); /* greeting */
	g = g_string_new(NULL);
	for (int i = 0; i < 100000; i++)
		g_string_append_c(g, '[');
	for (int i = 0; i < 100000; i++)
		g_string_append_c(g, ']');
	g_string_append(g, "{\"execute\": \"qmp_capabilities\"}\n");
	deep = g_string_free(g, FALSE);
	mon_send(b, deep);
	mon_expect_line(b, "{\"error\": {\"class\": \"GenericError\", \"desc\":"
			" \"JSON nesting depth limit exceeded\"}}");
	/* The rest of that message is dropped, the next one runs. */
	mon_expect_line(b, "{\"return\": {}}");
	mon_send(b, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(b, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	mon_send(a, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);

	mon_send(a, "{\"execute\": \"quit\"}\n");
	mon_expect_line(a, "{\"return\": {}}");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(a);
	close(b);
	unlink(qmp);
	rmdir(dir);
}

/*
 * Started with 0, 1 and 2 closed and -monitor stdio: the guest's memfds must
 * not take those numbers (the banner would go into guest memory, and HMP
 * would read guest memory as commands). They are /dev/null instead.
 */
static void test_vm_stdio_closed(void **state)
{
	char dir[] = "/tmp/relive-vm-stdio-XXXXXX";
	g_autofree char *qmp = NULL, *qspec = NULL;
	const char *args[14];
	int n = 0, a, status;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	qmp = g_build_filename(dir, "qmp.sock", NULL);
	qspec = g_strdup_printf("unix:%s,server=on,wait=off", qmp);
	args[n++] = vm_bin;
	args[n++] = "-object";
	args[n++] = "memory-backend-memfd,id=ram0,size=64M";
	args[n++] = "-machine";
	args[n++] = "memory-backend=ram0";
	args[n++] = "-accel";
	args[n++] = "thread";
	args[n++] = "-monitor";
	args[n++] = "stdio";
	args[n++] = "-qmp";
	args[n++] = qspec;
	args[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(0);
		close(1);
		close(2);
		execv(vm_bin, (char **)args);
		_exit(127);
	}
	a = mon_qmp_open(qmp);
	for (int fd = 0; fd <= 2; fd++) {
		g_autofree char *link = g_strdup_printf("/proc/%d/fd/%d", (int)pid, fd);
		g_autofree char *target = g_file_read_link(link, NULL);

		assert_non_null(target);
		assert_string_equal(target, "/dev/null");
	}
	mon_send(a, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	mon_send(a, "{\"execute\": \"quit\"}\n");
	mon_expect_line(a, "{\"return\": {}}");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(a);
	unlink(qmp);
	rmdir(dir);
}

/*
 * An -incoming channel in JSON whose members have the wrong types is
 * refused with a message, exit status 1: never a crash.
 */
static void test_vm_incoming_channel_types(void **state)
{
	static const struct {
		const char *arg, *want;
	} cases[] = {
		{ "{\"channel-type\":\"main\",\"addr\":{\"transport\":5}}", "a file or a unix socket" },
		{ "{\"channel-type\":\"main\",\"addr\":{\"transport\":\"file\",\"filename\":7}}",
		  "a file or a unix socket" },
		{ "{\"channel-type\":\"cpr\",\"addr\":{\"transport\":\"socket\",\"type\":true,\"path\":\"/x\"}}",
		  "must be a unix socket" },
		{ "{\"channel-type\":\"cpr\",\"addr\":{\"transport\":\"socket\",\"type\":\"unix\",\"path\":[]}}",
		  "must be a unix socket" },
		{ "{\"channel-type\":1,\"addr\":{}}", "expected {" },
	};

	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *argv[] = { vm_bin, "-m", "16M", "-accel", "thread",
				       "-incoming", cases[i].arg, NULL };
		g_autofree char *err = NULL;
		int status;

		assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
					 NULL, NULL, NULL, &err, &status, NULL));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(err, cases[i].want))
			fail_msg("-incoming %s: wait status %d, stderr '%s' (want exit 1 and '%s')",
				 cases[i].arg, status, err, cases[i].want);
	}
}

/*
 * A chardev whose spec is not UTF-8 could never cross an update (the
 * monitors' state is JSON): it is refused at start, exit status 1.
 */
static void test_vm_chardev_not_utf8(void **state)
{
	const char *argv[] = { vm_bin, "-m", "16M", "-accel", "thread", "-qmp",
			       "unix:/tmp/relive-\xe9.sock,server=on,wait=off", NULL };
	g_autofree char *err = NULL;
	int status;

	assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
				 NULL, NULL, NULL, &err, &status, NULL));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(err, "must be UTF-8"))
		fail_msg("wait status %d, stderr '%s'", status, err);
}

/*
 * -pidfile is locked before it is written: a second relive-vm with the same
 * pidfile is refused, naming the first's pid, and the file keeps it.
 */
static void test_vm_pidfile_locked(void **state)
{
	char dir[] = "/tmp/relive-vm-pidfile-XXXXXX";
	g_autofree char *pf = NULL, *want = NULL, *text = NULL, *err = NULL;
	const char *args[] = { vm_bin, "-m", "64M", "-accel", "thread", "-serial", "none",
			       "-pidfile", NULL, NULL };
	int status;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	pf = g_build_filename(dir, "vm.pid", NULL);
	args[8] = pf;
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(vm_bin, (char **)args);
		_exit(127);
	}
	want = g_strdup_printf("%d\n", (int)pid);
	for (int i = 0; i < 500; i++) {
		g_free(text);
		text = NULL;
		if (g_file_get_contents(pf, &text, NULL, NULL) && !strcmp(text, want))
			break;
		g_usleep(10000);
	}
	assert_string_equal(text, want);
	assert_true(g_spawn_sync(NULL, (char **)args, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
				 NULL, &err, &status, NULL));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	g_free(text);
	text = g_strdup_printf("process %d holds it", (int)pid);
	if (!strstr(err, text))
		fail_msg("message '%s' does not name the holder %d", err, (int)pid);
	g_free(text);
	assert_true(g_file_get_contents(pf, &text, NULL, NULL));
	assert_string_equal(text, want);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* a clean exit removes its own pidfile */
	assert_int_equal(access(pf, F_OK), -1);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_monitors_survive),
		cmocka_unit_test(test_vm_qmp_bad_input),
		cmocka_unit_test(test_vm_stdio_closed),
		cmocka_unit_test(test_vm_pidfile_locked),
		cmocka_unit_test(test_vm_incoming_channel_types),
		cmocka_unit_test(test_vm_chardev_not_utf8),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s RELIVE-VM\n", argv[0]);
		return 2;
	}
	vm_bin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
