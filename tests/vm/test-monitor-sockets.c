// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The monitors over real unix sockets in a temp dir, served by a separate
 * process: socket modes, greeting and handshake, events only to negotiated
 * clients, bad input keeping the connection, clients that vanish mid-line,
 * mid-reply or stop reading, and HMP's prompt.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <glib.h>

#include "monitor-client.h"

static const char *server_bin;

static int setup(void **state)
{
	struct mon_server *s = g_new0(struct mon_server, 1);

	mon_server_start(s, server_bin);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct mon_server *s = *state;

	mon_server_stop(s);
	g_free(s);
	return 0;
}

static void test_socket_modes(void **state)
{
	struct mon_server *s = *state;
	struct stat st;
	int fd = mon_connect(s->qmp_path);

	close(fd);
	fd = mon_connect(s->hmp_path);
	close(fd);
	assert_int_equal(lstat(s->qmp_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(s->hmp_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_greeting_and_commands(void **state)
{
	struct mon_server *s = *state;
	int fd = mon_connect(s->qmp_path);

	mon_expect_line(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2,"
			" \"major\": 10}, \"package\": \"relive-vm " RELIVE_VERSION "\"},"
			" \"capabilities\": [\"oob\"]}}");
	mon_send(fd, "{\"execute\": \"query-status\", \"id\": 1}\n");
	mon_expect_line(fd, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting"
			" capabilities negotiation with 'qmp_capabilities'\"}, \"id\": 1}");
	/* Two commands in one write, the second split across writes. */
	mon_send(fd, "{\"execute\": \"qmp_capabilities\"}\r\n{\"execute\": \"query-st");
	mon_expect_line(fd, "{\"return\": {}}");
	mon_send(fd, "atus\", \"id\": 2}\n");
	mon_expect_line(fd, "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": 2}");
	close(fd);
}

static void test_bad_input_keeps_connection(void **state)
{
	struct mon_server *s = *state;
	int fd = mon_qmp_open(s->qmp_path);
	g_autofree char *l = NULL;

	/* Unbalanced input waits for its close, as in QEMU; then it is an error. */
	mon_send(fd, "{\"execute\": \n");
	assert_true(mon_quiet(fd, 50));
	mon_send(fd, "}\n");
	l = mon_read_line(fd);
	assert_non_null(l);
	assert_true(g_str_has_prefix(l, "{\"error\": {\"class\": \"GenericError\", \"desc\":"
					" \"JSON parse error, "));
	mon_send(fd, "42\n");
	mon_expect_line(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must"
			" be a JSON object\"}}");
	mon_send(fd, "{\"arguments\": {}}\n");
	mon_expect_line(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input lacks"
			" member 'execute'\"}}");
	mon_send(fd, "{\"execute\": \"nope\", \"id\": \"x\"}\n");
	mon_expect_line(fd, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command"
			" nope has not been found\"}, \"id\": \"x\"}");
	mon_send(fd, "{\"execute\": \"migrate\", \"arguments\": {\"uri\": true}}\n");
	mon_expect_line(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter"
			" type for 'uri', expected: string\"}}");
	mon_send(fd, "\n   \n{\"execute\": \"query-status\"}\n");
	mon_expect_line(fd, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	/* As QEMU's streamer: a message over several lines, two on one line. */
	mon_send(fd, "{\n  \"execute\": \"query-status\",\n  \"id\": [\"}\"]\n}\n");
	mon_expect_line(fd, "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": [\"}\"]}");
	mon_send(fd, "{\"execute\": \"cont\", \"id\": 1}{\"execute\": \"cont\", \"id\": 2}\n");
	mon_expect_line(fd, "{\"return\": {}, \"id\": 1}");
	mon_expect_line(fd, "{\"return\": {}, \"id\": 2}");
	close(fd);
}

static void test_events_only_negotiated(void **state)
{
	struct mon_server *s = *state;
	int a = mon_qmp_open(s->qmp_path);
	int b = mon_connect(s->qmp_path);
	int c = mon_qmp_open(s->qmp_path);
	g_autofree char *greeting = mon_read_line(b);

	assert_non_null(greeting);
	mon_send(a, "{\"execute\": \"stop\"}\n");
	/* The machine sends STOP while the command runs, before the reply. */
	mon_expect_event(a, "STOP", NULL);
	mon_expect_line(a, "{\"return\": {}}");
	mon_expect_event(c, "STOP", NULL);
	mon_send(c, "{\"execute\": \"cont\", \"id\": 5}\n");
	mon_expect_event(c, "RESUME", NULL);
	mon_expect_line(c, "{\"return\": {}, \"id\": 5}");
	mon_expect_event(a, "RESUME", NULL);
	/* b never negotiated: its next line is the reply, no event came first. */
	assert_true(mon_quiet(b, 100));
	mon_send(b, "{\"execute\": \"qmp_capabilities\"}\n");
	mon_expect_line(b, "{\"return\": {}}");
	close(a);
	close(b);
	close(c);
}

static void test_vanishing_clients(void **state)
{
	struct mon_server *s = *state;
	int a = mon_qmp_open(s->qmp_path);
	GString *burst = g_string_new(NULL);
	int b, c;

	/* Mid-line: half a command, then gone. */
	b = mon_qmp_open(s->qmp_path);
	mon_send(b, "{\"execute\": \"qu");
	close(b);
	/* Mid-reply: many commands, close without reading the replies. */
	c = mon_qmp_open(s->qmp_path);
	for (int i = 0; i < 200; i++)
		g_string_append(burst, "{\"execute\": \"query-commands\"}\n");
	mon_send(c, burst->str);
	shutdown(c, SHUT_RDWR);
	close(c);
	/* HMP mid-line too. */
	b = mon_connect(s->hmp_path);
	mon_send(b, "info sta");
	close(b);

	mon_send(a, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	g_string_free(burst, TRUE);
	close(a);
	assert_int_equal(waitpid(((struct mon_server *)*state)->pid, NULL, WNOHANG), 0);
}

static void test_reader_that_stops_is_dropped(void **state)
{
	struct mon_server *s = *state;
	int a = mon_qmp_open(s->qmp_path);
	int slow = mon_qmp_open(s->qmp_path);
	GString *burst = g_string_new(NULL);
	char buf[65536];
	ssize_t n;
	size_t total = 0;

	/* ~20000 replies of ~700 bytes: far past the output bound, never read. */
	for (int i = 0; i < 500; i++)
		g_string_append(burst, "{\"execute\": \"query-commands\"}\n");
	/* The server may cut the connection while we are still sending. */
	for (int i = 0; i < 40; i++)
		if (mon_try_send(slow, burst->str) < 0)
			break;
	/* The server kept serving others meanwhile. */
	mon_send(a, "{\"execute\": \"query-status\"}\n");
	mon_expect_line(a, "{\"return\": {\"running\": true, \"status\": \"running\"}}");
	/* The slow client was cut off: reading drains to EOF, well short of all replies. */
	while ((n = read(slow, buf, sizeof(buf))) > 0)
		total += n;
	assert_true(total < 20000u * 600u);
	g_string_free(burst, TRUE);
	close(slow);
	close(a);
}

static void test_hmp_prompt(void **state)
{
	struct mon_server *s = *state;
	int h = mon_connect(s->hmp_path);
	int h2 = mon_connect(s->hmp_path);
	g_autofree char *banner = mon_read_line(h);
	g_autofree char *prompt = mon_read_bytes(h, 7);
	g_autofree char *l = NULL;

	assert_non_null(banner);
	assert_true(g_str_has_suffix(banner, "monitor - type 'help' for more information"));
	assert_string_equal(prompt, "(qemu) ");
	mon_send(h, "info status\n");
	mon_expect_line(h, "VM status: running");
	g_free(prompt);
	prompt = mon_read_bytes(h, 7);
	assert_string_equal(prompt, "(qemu) ");
	mon_send(h, "migrate_set_parameter cpr-exec-command a 'b c' d\nfoo\n");
	g_free(prompt);
	prompt = mon_read_bytes(h, 7);
	assert_string_equal(prompt, "(qemu) ");
	mon_expect_line(h, "unknown command: 'foo'");
	/* A second HMP client is served independently. */
	l = mon_read_line(h2);
	assert_non_null(l);
	close(h2);
	close(h);
}

static void test_quit(void **state)
{
	struct mon_server *s = *state;
	int a = mon_qmp_open(s->qmp_path);
	int status;

	mon_send(a, "{\"execute\": \"quit\"}\n");
	mon_expect_line(a, "{\"return\": {}}");
	assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(a);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_greeting_and_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_keeps_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_only_negotiated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanishing_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_that_stops_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmp_prompt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s MONITOR-SERVER\n", argv[0]);
		return 2;
	}
	server_bin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
