// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP dispatcher against the stub control: greeting shape, the handshake,
 * every command, and QEMU's error shapes for bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "monitors/monitor-int.h"
#include "control-stub.h"

static gboolean neg;

static char *run(const char *line)
{
	gboolean quit;

	return qmp_dispatch_line(line, &neg, &quit);
}

/* Asserts the reply to @line is exactly @expect (without "\r\n"). */
static void expect_reply(const char *line, const char *expect)
{
	g_autofree char *r = run(line);
	g_autofree char *want = g_strconcat(expect, "\r\n", NULL);

	assert_non_null(r);
	assert_string_equal(r, want);
}

static void expect_log(const char *expect)
{
	assert_string_equal(stub_log ? stub_log->str : "", expect);
}

static int setup(void **state)
{
	stub_reset();
	neg = TRUE;
	return 0;
}

static void test_greeting(void **state)
{
	g_autofree char *g = qmp_greeting();

	assert_string_equal(g,
		"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 10},"
		" \"package\": \"relive-vm " RELIVE_VERSION "\"}, \"capabilities\": [\"oob\"]}}\r\n");
}

static void test_handshake(void **state)
{
	neg = FALSE;
	expect_reply("{\"execute\": \"query-status\", \"id\": 1}",
		     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\":"
		     " \"Expecting capabilities negotiation with 'qmp_capabilities'\"}, \"id\": 1}");
	expect_reply("{\"execute\": \"no-such\"}",
		     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\":"
		     " \"Expecting capabilities negotiation with 'qmp_capabilities'\"}}");
	assert_false(neg);
	expect_reply("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]},"
		     " \"id\": \"a\"}", "{\"return\": {}, \"id\": \"a\"}");
	assert_true(neg);
	expect_reply("{\"execute\": \"qmp_capabilities\"}",
		     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\":"
		     " \"Capabilities negotiation is already complete, command ignored\"}}");
	expect_log("");
}

static void test_handshake_bad_enable(void **state)
{
	neg = FALSE;
	expect_reply("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"x\"]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'enable[0]' does not accept value 'x'\"}}");
	assert_false(neg);
}

static void test_query_status(void **state)
{
	expect_reply("{\"execute\": \"query-status\", \"id\": {\"n\": [1]}}",
		     "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": {\"n\": [1]}}");
	expect_reply("{\"execute\": \"stop\"}", "{\"return\": {}}");
	expect_reply("{\"execute\": \"query-status\"}",
		     "{\"return\": {\"running\": false, \"status\": \"paused\"}}");
	expect_reply("{\"execute\": \"cont\"}", "{\"return\": {}}");
	expect_log("stop\ncont\n");
}

static void test_queries(void **state)
{
	expect_reply("{\"execute\": \"query-migrate\"}",
		     "{\"return\": {\"status\": \"completed\", \"total-time\": 120, \"setup-time\": 2,"
		     " \"downtime\": 9, \"pause\": {\"stop-us\": 100, \"save-us\": 4000,"
		     " \"exec-us\": 3000, \"resume-us\": 1500}}}");
	expect_reply("{\"execute\": \"query-migrate-parameters\"}",
		     "{\"return\": {\"mode\": \"normal\", \"cpr-exec-command\": [],"
		     " \"downtime-limit\": 300}}");
	expect_reply("{\"execute\": \"query-migrate-capabilities\"}",
		     "{\"return\": [{\"capability\": \"x-ignore-shared\", \"state\": false}]}");
	expect_reply("{\"execute\": \"query-version\"}",
		     "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 10},"
		     " \"package\": \"relive-vm " RELIVE_VERSION "\"}}");
	expect_log("query-migrate\nquery-migrate-parameters\nquery-migrate-capabilities\n");
}

static void test_query_commands(void **state)
{
	g_autofree char *r = run("{\"execute\": \"query-commands\"}");
	const char *names[] = {
		"cont", "migrate", "migrate-incoming", "migrate-set-capabilities",
		"migrate-set-parameters", "migrate_cancel", "qmp_capabilities",
		"query-commands", "query-migrate", "query-migrate-capabilities",
		"query-migrate-parameters", "query-status", "query-version", "quit", "stop",
	};

	assert_true(g_str_has_prefix(r, "{\"return\": [{\"name\": \"cont\"}, "));
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *n = g_strdup_printf("{\"name\": \"%s\"}", names[i]);

		assert_non_null(strstr(r, n));
	}
}

static void test_set_parameters(void **state)
{
	expect_reply("{\"execute\": \"migrate-set-parameters\", \"arguments\":"
		     " {\"mode\": \"cpr-exec\", \"cpr-exec-command\": [\"relive-trampoline\","
		     " \"--\", \"relive-vm\", \"-incoming\", \"file:vm state\"]}}",
		     "{\"return\": {}}");
	expect_log("set-parameters mode=cpr-exec\nset-parameters cpr-exec-command="
		   "[relive-trampoline][--][relive-vm][-incoming][file:vm state]\n");
	expect_reply("{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"bogus\": 1}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'bogus' is unexpected\"}}");
}

static void test_set_capabilities(void **state)
{
	expect_reply("{\"execute\": \"migrate-set-capabilities\", \"arguments\":"
		     " {\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}]}}",
		     "{\"return\": {}}");
	expect_log("set-capability x-ignore-shared=on\n");
	expect_reply("{\"execute\": \"migrate-set-capabilities\", \"arguments\":"
		     " {\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": \"yes\"}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'capabilities[0].state', expected: boolean\"}}");
	expect_reply("{\"execute\": \"migrate-set-capabilities\", \"arguments\":"
		     " {\"capabilities\": [{\"state\": true}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'capabilities[0].capability' is missing\"}}");
	expect_reply("{\"execute\": \"migrate-set-capabilities\", \"arguments\": {}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'capabilities' is missing\"}}");
	expect_reply("{\"execute\": \"migrate-set-capabilities\", \"arguments\":"
		     " {\"capabilities\": [{\"capability\": \"nope\", \"state\": true}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Capability 'nope' not found\"}}");
	/* Nothing applied when a later entry is malformed. */
	g_string_truncate(stub_log, 0);
	expect_reply("{\"execute\": \"migrate-set-capabilities\", \"arguments\":"
		     " {\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}, 3]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'capabilities[1]', expected: object\"}}");
	expect_log("");
}

static void test_migrate(void **state)
{
	/* Every member of every channel is checked, with QEMU's messages. */
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": null, \"addr\": {}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0].channel-type', expected: string\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\": [7]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0]', expected: object\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\"}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'channels[0].addr' is missing\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"foo\", \"addr\": {}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'channel-type' does not accept value 'foo'\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": 5}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0].addr.transport', expected: string\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": \"file\", \"filename\": 3}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0].addr.filename', expected: string\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\","
		     " \"type\": \"unix\", \"path\": []}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0].addr.path', expected: string\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\","
		     " \"type\": \"vsock\", \"path\": \"x\"}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'channels[0].addr.cid' is missing\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": \"file\","
		     " \"filename\": \"x\", \"offset\": 0, \"bogus\": 1}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'channels[0].addr.bogus' is unexpected\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": \"exec\", \"args\": [1]}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0].addr.args[0]', expected: string\"}}");
	expect_reply("{\"execute\": \"migrate-incoming\", \"arguments\": {\"channels\":"
		     " [{\"channel-type\": \"main\", \"addr\": {\"transport\": null}}]}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'channels[0].addr.transport', expected: string\"}}");
	expect_log("");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:/tmp/vm.state\","
		     " \"detach\": true, \"resume\": false}, \"id\": 7}",
		     "{\"return\": {}, \"id\": 7}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"channels\": ["
		     "{\"channel-type\": \"main\", \"addr\": {\"transport\": \"file\", \"filename\": \"/x\"}},"
		     "{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\","
		     " \"path\": \"/c\"}}]}}", "{\"return\": {}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:1:2\"}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"cpr-exec mode requires a file: URI\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Either 'uri' or"
		     " 'channels' argument should be present in 'migrate' qmp command\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:a\", \"channels\": []}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"'uri' and 'channels'"
		     " arguments are mutually exclusive; exactly one of the two should be present"
		     " in 'migrate' qmp command\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"uri\": 5}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'uri', expected: string\"}}");
	expect_reply("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"file:a\", \"detach\": 1}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Invalid parameter type for 'detach', expected: boolean\"}}");
	expect_reply("{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"file:/tmp/vm.state\"}}",
		     "{\"return\": {}}");
	expect_reply("{\"execute\": \"migrate_cancel\"}", "{\"return\": {}}");
	expect_reply("{\"execute\": \"migrate-cancel\"}", "{\"return\": {}}");
	expect_log("migrate uri=file:/tmp/vm.state channels=0\n"
		   "migrate uri=(null) channels=2\n"
		   "migrate uri=tcp:1:2 channels=0\n"
		   "migrate-incoming uri=file:/tmp/vm.state channels=0\n"
		   "migrate-cancel\nmigrate-cancel\n");
}

static void test_quit(void **state)
{
	gboolean quit = FALSE;
	g_autofree char *r = qmp_dispatch_line("{\"execute\": \"quit\"}", &neg, &quit);

	assert_string_equal(r, "{\"return\": {}}\r\n");
	assert_true(quit);
}

static void test_bad_input(void **state)
{
	g_autofree char *r = run("{\"execute\": ");

	assert_true(g_str_has_prefix(r, "{\"error\": {\"class\": \"GenericError\", \"desc\":"
					" \"JSON parse error, "));
	expect_reply("[1, 2]", "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"QMP input must be a JSON object\"}}");
	expect_reply("\"str\"", "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"QMP input must be a JSON object\"}}");
	expect_reply("{\"id\": 3}", "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"QMP input lacks member 'execute'\"}, \"id\": 3}");
	expect_reply("{\"execute\": 3}", "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"QMP input member 'execute' must be a string\"}}");
	expect_reply("{\"execute\": \"stop\", \"arguments\": []}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"QMP input member 'arguments' must be an object\"}}");
	expect_reply("{\"execute\": \"stop\", \"extra\": 1}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"QMP input member 'extra' is unexpected\"}}");
	expect_reply("{\"execute\": \"stop\", \"arguments\": {\"x\": 1}}",
		     "{\"error\": {\"class\": \"GenericError\", \"desc\":"
		     " \"Parameter 'x' is unexpected\"}}");
	expect_reply("{\"execute\": \"frobnicate\", \"id\": null}",
		     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\":"
		     " \"The command frobnicate has not been found\"}, \"id\": null}");
	expect_reply("{\"execute\": \"query-status\", \"id\": \"\\u00e9\\n\"}",
		     "{\"return\": {\"running\": true, \"status\": \"running\"}, \"id\": \"\\u00E9\\n\"}");
	assert_null(run("   "));
	expect_log("");
}

static void expect_split(const char *buf, size_t want_start, size_t want_end)
{
	size_t start = 99;
	gboolean too_deep = TRUE;
	size_t end = qmp_next_value(buf, strlen(buf), &start, &too_deep);

	assert_false(too_deep);
	assert_int_equal(end, want_end);
	assert_int_equal(start, want_start);
}

static void test_splitter(void **state)
{
	expect_split("", 0, 0);
	expect_split("  \r\n ", 5, 0);
	expect_split("{\"execute\": \"stop\"}", 0, 19);
	/* Several on one line, one across lines, brackets inside strings. */
	expect_split("{\"a\": 1}{\"b\": 2}\n", 0, 8);
	expect_split("\n{\"a\":\n [1,\n {}]\n}\r\n", 1, 18);
	expect_split("{\"a\": \"}\\\"{\"}x", 0, 13);
	expect_split("{\"a\": [1, 2}", 0, 0);
	/* Anything else runs to the end of its line. */
	expect_split("  42\n{}", 2, 5);
	expect_split("garbage", 0, 0);
	expect_split("}\n", 0, 2);
}

/*
 * Nesting past QMP_MAX_NESTING stops the scan at the bracket that went too
 * deep; the skip then drops the rest of that message, strings included,
 * and nothing after it.
 */
static void test_too_deep(void **state)
{
	g_autoptr(GString) deep = g_string_new(NULL);
	size_t start, end, n;
	gboolean too_deep;
	uint32_t skip;

	for (int i = 0; i < QMP_MAX_NESTING; i++)
		g_string_append_c(deep, i % 2 ? '{' : '[');
	end = qmp_next_value(deep->str, deep->len, &start, &too_deep);
	assert_int_equal(end, 0);
	assert_false(too_deep);
	g_string_append(deep, "[\"]]\"]");
	end = qmp_next_value(deep->str, deep->len, &start, &too_deep);
	assert_true(too_deep);
	assert_int_equal(end, QMP_MAX_NESTING + 1);

	skip = qmp_skip_start();
	/* Across two reads: a string with closers in it, then the closers. */
	n = qmp_skip_value("\"]]\"]", 5, &skip);
	assert_int_equal(n, 5);
	assert_int_not_equal(skip, 0);
	g_string_truncate(deep, 0);
	for (int i = 0; i < QMP_MAX_NESTING; i++)
		g_string_append_c(deep, ']');
	g_string_append(deep, "{\"execute\": \"stop\"}");
	n = qmp_skip_value(deep->str, deep->len, &skip);
	assert_int_equal(skip, 0);
	assert_int_equal(n, QMP_MAX_NESTING);
	assert_string_equal(deep->str + n, "{\"execute\": \"stop\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_greeting, setup),
		cmocka_unit_test_setup(test_handshake, setup),
		cmocka_unit_test_setup(test_handshake_bad_enable, setup),
		cmocka_unit_test_setup(test_query_status, setup),
		cmocka_unit_test_setup(test_queries, setup),
		cmocka_unit_test_setup(test_query_commands, setup),
		cmocka_unit_test_setup(test_set_parameters, setup),
		cmocka_unit_test_setup(test_set_capabilities, setup),
		cmocka_unit_test_setup(test_migrate, setup),
		cmocka_unit_test_setup(test_quit, setup),
		cmocka_unit_test_setup(test_bad_input, setup),
		cmocka_unit_test(test_splitter),
		cmocka_unit_test(test_too_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
