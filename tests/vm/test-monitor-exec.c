// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Monitor connections survive a real exec: a QMP client that issues migrate
 * gets STOP before and RESUME and MIGRATION "completed" after, from the new
 * binary under the same PID, on the same socket; a half-sent command finishes
 * after the exec; an unnegotiated client stays unnegotiated; HMP gets its
 * banner and prompt again; the listener keeps accepting. A connection or a
 * listener the new binary cannot take over is dropped with a message, and
 * nothing else is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <glib.h>

#include "monitor-client.h"

static const char *server_bin;

static gboolean cmdline_has(pid_t pid, const char *word)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
	g_autofree char *buf = NULL;
	gsize len;

	if (!g_file_get_contents(path, &buf, &len, NULL))
		return FALSE;
	for (gsize off = 0; off < len; off += strlen(buf + off) + 1)
		if (!strcmp(buf + off, word))
			return TRUE;
	return FALSE;
}

static void expect_hmp_banner_prompt(int h)
{
	g_autofree char *banner = mon_read_line(h);
	g_autofree char *prompt = mon_read_bytes(h, 7);

	assert_non_null(banner);
	assert_true(g_str_has_suffix(banner, "monitor - type 'help' for more information"));
	assert_string_equal(prompt, "(qemu) ");
}

static void test_survive_exec(void **state)
{
	struct mon_server s;
	struct stat st1, st2;
	int a, b, h, late;
	g_autofree char *greeting = NULL;
	g_autofree char *prompt = NULL;

	mon_server_start(&s, server_bin);
	a = mon_qmp_open(s.qmp_path);
	b = mon_connect(s.qmp_path);
	greeting = mon_read_line(b);
	assert_non_null(greeting);
	h = mon_connect(s.hmp_path);
	expect_hmp_banner_prompt(h);
	assert_int_equal(stat(s.qmp_path, &st1), 0);
	assert_false(cmdline_has(s.pid, "--incoming"));

	/* migrate, and half of the next command already sent before the exec. */
	mon_send(a, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:exec-self\"},"
		    " \"id\": \"m\"}\n{\"execute\": \"query-st");
	mon_expect_line(a, "{\"return\": {}, \"id\": \"m\"}");
	mon_expect_event(a, "MIGRATION", "{\"status\": \"setup\"}");
	mon_expect_event(a, "STOP", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"active\"}");
	/* From the new binary: */
	mon_expect_event(a, "RESUME", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"completed\"}");
	assert_true(cmdline_has(s.pid, "--incoming"));

	mon_send(a, "atus\", \"id\": 9}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": 9}");

	/* The HMP client is greeted by the new binary and keeps working. */
	expect_hmp_banner_prompt(h);
	mon_send(h, "info status\n");
	mon_expect_line(h, "VM status: running");
	prompt = mon_read_bytes(h, 7);
	assert_string_equal(prompt, "(qemu) ");

	/* b saw no events and still has to negotiate. */
	assert_true(mon_quiet(b, 50));
	mon_send(b, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(b, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting"
		       " capabilities negotiation with 'qmp_capabilities'\"}}");
	mon_send(b, "{\"execute\": \"qmp_capabilities\"}\n");
	mon_expect_line(b, "{\"return\": {}}");

	/* Same socket inode, still 0600, still accepting. */
	assert_int_equal(stat(s.qmp_path, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	assert_int_equal(st2.st_mode & 07777, 0600);
	late = mon_qmp_open(s.qmp_path);

	/* A second update with everyone still connected. */
	mon_send(late, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:exec-self\"}}\n");
	mon_expect_line(late, "{\"return\": {}}");
	mon_expect_event(late, "MIGRATION", "{\"status\": \"setup\"}");
	mon_expect_event(late, "STOP", NULL);
	mon_expect_event(late, "MIGRATION", "{\"status\": \"active\"}");
	mon_expect_event(late, "RESUME", NULL);
	mon_expect_event(late, "MIGRATION", "{\"status\": \"completed\"}");
	for (int i = 0; i < 5; i++) {
		g_autofree char *l = mon_read_line(a);

		assert_non_null(l);
	}
	mon_send(a, "{\"execute\": \"quit\"}\n");
	mon_expect_line(a, "{\"return\": {}}");

	close(a);
	close(b);
	close(h);
	close(late);
	mon_server_stop(&s);
}

/*
 * HMP on stdio (a socketpair here): greeted again after the exec, as QEMU's
 * stdio monitor is, and stdin/stdout are left blocking at exit as found,
 * although both binaries had made them nonblocking.
 */
static void test_stdio_across_exec(void **state)
{
	char dir[] = "/tmp/relive-monitor-XXXXXX";
	g_autofree char *qmp = NULL, *qspec = NULL, *out = NULL;
	int sv[2], a, status, fl;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	qmp = g_build_filename(dir, "qmp.sock", NULL);
	qspec = g_strdup_printf("unix:%s,server,nowait", qmp);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		execl(server_bin, server_bin, qspec, "stdio", (char *)NULL);
		_exit(127);
	}
	expect_hmp_banner_prompt(sv[0]);
	a = mon_qmp_open(qmp);
	mon_send(a, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:exec-self\"}}\n");
	mon_expect_line(a, "{\"return\": {}}");
	mon_expect_event(a, "MIGRATION", "{\"status\": \"setup\"}");
	mon_expect_event(a, "STOP", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"active\"}");
	mon_expect_event(a, "RESUME", NULL);
	expect_hmp_banner_prompt(sv[0]);
	mon_send(sv[0], "info status\n");
	mon_expect_line(sv[0], "VM status: running");
	out = mon_read_bytes(sv[0], 7);
	assert_string_equal(out, "(qemu) ");
	mon_send(sv[0], "quit\n");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fl = fcntl(sv[1], F_GETFL);
	assert_false(fl & O_NONBLOCK);
	close(a);
	close(sv[0]);
	close(sv[1]);
	unlink(qmp);
	rmdir(dir);
}

/*
 * A client that is not reading when the update comes: what did not fit in
 * its socket crosses in the state and arrives once, in order, after the
 * exec; the pause never waited for it.
 */
static void test_unread_output_crosses(void **state)
{
	enum { N = 1500 };
	struct mon_server s;
	GString *burst = g_string_new(NULL);
	int a, status;

	mon_server_start(&s, server_bin);
	a = mon_qmp_open(s.qmp_path);
	for (int i = 0; i < N; i++)
		g_string_append_printf(burst, "{\"execute\": \"query-commands\", \"id\": %d}\n", i);
	g_string_append(burst, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:exec-self\"},"
			       " \"id\": \"m\"}\n");
	mon_send(a, burst->str);
	/* Let the server queue everything and exec before we read a byte. */
	for (int i = 0; i < 500 && !cmdline_has(s.pid, "--incoming"); i++)
		g_usleep(10000);
	assert_true(cmdline_has(s.pid, "--incoming"));
	for (int i = 0; i < N; i++) {
		g_autofree char *l = mon_read_line(a);
		g_autofree char *tail = g_strdup_printf("], \"id\": %d}", i);

		assert_non_null(l);
		assert_true(g_str_has_prefix(l, "{\"return\": [{\"name\": "));
		assert_true(g_str_has_suffix(l, tail));
	}
	mon_expect_line(a, "{\"return\": {}, \"id\": \"m\"}");
	mon_expect_event(a, "MIGRATION", "{\"status\": \"setup\"}");
	mon_expect_event(a, "STOP", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"active\"}");
	mon_expect_event(a, "RESUME", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"completed\"}");
	mon_send(a, "{\"execute\": \"quit\"}\n");
	mon_expect_line(a, "{\"return\": {}}");
	assert_int_equal(waitpid(s.pid, &status, 0), s.pid);
	s.pid = 0;
	g_string_free(burst, TRUE);
	close(a);
	mon_server_stop(&s);
}

/* Starts the server with MONITOR_SERVER_BREAK=@brk and its stderr in @log. */
static void start_breaking(struct mon_server *s, const char *brk, const char *log)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	setenv("MONITOR_SERVER_BREAK", brk, 1);
	mon_server_start(s, server_bin);
	unsetenv("MONITOR_SERVER_BREAK");
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
}

/* Migrates through @a and expects every event of the update on it. */
static void update_through(int a)
{
	mon_send(a, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:exec-self\"}}\n");
	mon_expect_line(a, "{\"return\": {}}");
	mon_expect_event(a, "MIGRATION", "{\"status\": \"setup\"}");
	mon_expect_event(a, "STOP", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"active\"}");
	mon_expect_event(a, "RESUME", NULL);
	mon_expect_event(a, "MIGRATION", "{\"status\": \"completed\"}");
}

static void expect_log(const char *log, const char *what)
{
	g_autofree char *text = NULL;

	assert_true(g_file_get_contents(log, &text, NULL, NULL));
	if (!strstr(text, what))
		fail_msg("the server did not say '%s'; its stderr:\n%s", what, text);
}

/*
 * A connection the new binary cannot take over is dropped with a message;
 * the other connections, of the same chardev and of others, go on.
 */
static void test_lost_connection_dropped(void **state)
{
	struct mon_server s;
	g_autofree char *log = NULL, *greeting = NULL, *prompt = NULL;
	int a, b, h;

	log = g_strdup_printf("%s/monitor-server-%d.log", g_get_tmp_dir(), (int)getpid());
	/* QMP's connections are chardev-conn 0 (a) and 1 (b), HMP's is 2 */
	start_breaking(&s, "chardev-conn:1", log);
	a = mon_qmp_open(s.qmp_path);
	b = mon_connect(s.qmp_path);
	greeting = mon_read_line(b);
	assert_non_null(greeting);
	h = mon_connect(s.hmp_path);
	expect_hmp_banner_prompt(h);

	update_through(a);
	assert_null(mon_read_line(b));
	expect_log(log, "chardev-conn 1");
	expect_log(log, "its client is dropped and may connect again");
	mon_send(a, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	expect_hmp_banner_prompt(h);
	mon_send(h, "info status\n");
	mon_expect_line(h, "VM status: running");
	prompt = mon_read_bytes(h, 7);
	assert_string_equal(prompt, "(qemu) ");
	close(b);
	b = mon_qmp_open(s.qmp_path); /* dropped, not refused: it connects again */
	close(a);
	close(b);
	close(h);
	mon_server_stop(&s);
	unlink(log);
}

/*
 * A listening socket the new binary cannot take over: that chardev starts
 * afresh, listening again, its clients dropped; the other chardevs go on.
 */
static void test_lost_listener_restarts(void **state)
{
	struct mon_server s;
	g_autofree char *log = NULL, *prompt = NULL;
	int a, h;

	log = g_strdup_printf("%s/monitor-server-%d.log", g_get_tmp_dir(), (int)getpid());
	/* chardev-listen 0 is QMP's, 1 HMP's */
	start_breaking(&s, "chardev-listen:1", log);
	a = mon_qmp_open(s.qmp_path);
	h = mon_connect(s.hmp_path);
	expect_hmp_banner_prompt(h);

	update_through(a);
	assert_null(mon_read_line(h));
	expect_log(log, "chardev-listen 1");
	expect_log(log, "it starts afresh");
	close(h);
	h = mon_connect(s.hmp_path);
	expect_hmp_banner_prompt(h);
	mon_send(h, "info status\n");
	mon_expect_line(h, "VM status: running");
	prompt = mon_read_bytes(h, 7);
	assert_string_equal(prompt, "(qemu) ");
	mon_send(a, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	close(a);
	close(h);
	mon_server_stop(&s);
	unlink(log);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_survive_exec),
		cmocka_unit_test(test_stdio_across_exec),
		cmocka_unit_test(test_unread_output_crosses),
		cmocka_unit_test(test_lost_connection_dropped),
		cmocka_unit_test(test_lost_listener_restarts),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s MONITOR-SERVER\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
