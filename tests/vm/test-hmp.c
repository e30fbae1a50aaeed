// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * HMP command parsing and output against the stub control: QEMU's texts,
 * "Error: ..." lines, and cpr-exec-command split into words like a shell.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "monitors/monitor-int.h"
#include "control-stub.h"

/* Runs @line and returns its output with "\r\n" turned back into "\n". */
static char *run(const char *line, gboolean *quit)
{
	GString *out = g_string_new(NULL);
	gboolean q = hmp_dispatch_line(line, out);
	char **parts;
	char *s;

	if (quit)
		*quit = q;
	parts = g_strsplit(out->str, "\r\n", -1);
	s = g_strjoinv("\n", parts);
	g_strfreev(parts);
	/* A bare "\n" would mean a line end QEMU's monitor never sends. */
	assert_null(strstr(out->str, "\n") && !strstr(out->str, "\r\n") ? "bare" : NULL);
	g_string_free(out, TRUE);
	return s;
}

static void expect(const char *line, const char *out)
{
	g_autofree char *r = run(line, NULL);

	assert_string_equal(r, out);
}

static void expect_log(const char *expect_text)
{
	assert_string_equal(stub_log ? stub_log->str : "", expect_text);
}

static int setup(void **state)
{
	stub_reset();
	return 0;
}

static void test_banner(void **state)
{
	assert_true(g_str_has_suffix(hmp_banner(),
				     " monitor - type 'help' for more information\r\n"));
	assert_string_equal(HMP_PROMPT, "(qemu) ");
}

static void test_info_status(void **state)
{
	expect("info status", "VM status: running\n");
	expect("stop", "");
	expect("info status", "VM status: paused\n");
	expect("c", "");
	expect("  info   status  ", "VM status: running\n");
	expect("s", "");
	expect("cont", "");
	expect_log("stop\ncont\nstop\ncont\n");
}

static void test_info_migrate(void **state)
{
	expect("info migrate",
	       "Status: completed\n"
	       "Time (ms): total=120, setup=2, down=9\n"
	       "pause:\n"
	       "  stop-us: 100\n  save-us: 4000\n  exec-us: 3000\n  resume-us: 1500\n");
	expect("info migrate_parameters",
	       "mode: normal\ncpr-exec-command: \ndowntime-limit: 300\n");
	expect("info migrate_capabilities", "x-ignore-shared: off\n");
	expect("info nothing", "unknown command: 'info nothing'\n");
}

static void test_set_parameter(void **state)
{
	expect("migrate_set_parameter mode cpr-exec", "");
	expect("migrate_set_parameter cpr-exec-command relive-trampoline -- "
	       "'/usr/bin/relive vm' -m 64M -incoming \"file:/tmp/a b\"  arg\\ x", "");
	expect_log("set-parameter mode=cpr-exec\n"
		   "set-parameters cpr-exec-command=[relive-trampoline][--][/usr/bin/relive vm]"
		   "[-m][64M][-incoming][file:/tmp/a b][arg x]\n");
	expect("info migrate_parameters",
	       "mode: cpr-exec\n"
	       "cpr-exec-command: relive-trampoline -- /usr/bin/relive vm -m 64M -incoming"
	       " file:/tmp/a b arg x\n"
	       "downtime-limit: 300\n");
	/* A quoting error is reported and nothing is set. */
	g_string_truncate(stub_log, 0);
	{
		g_autofree char *r = run("migrate_set_parameter cpr-exec-command a 'b", NULL);

		assert_true(g_str_has_prefix(r, "Error: cpr-exec-command: "));
	}
	expect_log("");
	expect("migrate_set_parameter nope 1", "Error: Invalid parameter 'nope'\n");
	expect("migrate_set_parameter mode",
	       "migrate_set_parameter: missing argument (usage: migrate_set_parameter"
	       " parameter value)\n");
}

static void test_capability(void **state)
{
	expect("migrate_set_capability x-ignore-shared on", "");
	expect("info migrate_capabilities", "x-ignore-shared: on\n");
	expect("migrate_set_capability x-ignore-shared maybe",
	       "migrate_set_capability: Expected 'on' or 'off'\n");
	expect("migrate_set_capability bogus off", "Error: Capability 'bogus' not found\n");
	expect_log("set-capability x-ignore-shared=on\nquery-migrate-capabilities\n"
		   "set-capability bogus=off\n");
}

static void test_migrate(void **state)
{
	expect("migrate -d file:/tmp/vm.state", "");
	expect("migrate file:/tmp/other", "");
	expect("migrate -d tcp:0:4444", "Error: cpr-exec mode requires a file: URI\n");
	expect("migrate", "migrate: missing argument (usage: migrate [-d] [-r] uri)\n");
	expect("migrate_incoming file:/tmp/vm.state", "");
	expect("migrate_cancel", "");
	expect("migrate_cancel now", "migrate_cancel: extraneous characters at the end of line\n");
	expect_log("migrate uri=file:/tmp/vm.state channels=0\n"
		   "migrate uri=file:/tmp/other channels=0\n"
		   "migrate uri=tcp:0:4444 channels=0\n"
		   "migrate-incoming uri=file:/tmp/vm.state channels=0\n"
		   "migrate-cancel\n");
}

static void test_quit_help_unknown(void **state)
{
	gboolean quit = FALSE;
	g_autofree char *h = NULL;

	g_free(run("q", &quit));
	assert_true(quit);
	g_free(run("quit", &quit));
	assert_true(quit);
	g_free(run("info status", &quit));
	assert_false(quit);
	expect("frob", "unknown command: 'frob'\n");
	expect("", "");
	expect("   ", "");
	h = run("help", NULL);
	assert_non_null(strstr(h, "cont|c  -- resume emulation\n"));
	assert_non_null(strstr(h, "migrate [-d] [-r] uri -- migrate to URI"));
	assert_non_null(strstr(h, "quit|q  -- quit the emulator\n"));
	assert_non_null(strstr(h, "migrate_set_parameter parameter value -- "));
	expect("help stop", "stop|s  -- stop emulation\n");
	expect("help info status",
	       "info status  -- show the current VM status (running|paused)\n");
	g_free(h);
	h = run("info", NULL);
	assert_non_null(strstr(h, "info migrate  -- show migration status\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_banner, setup),
		cmocka_unit_test_setup(test_info_status, setup),
		cmocka_unit_test_setup(test_info_migrate, setup),
		cmocka_unit_test_setup(test_set_parameter, setup),
		cmocka_unit_test_setup(test_capability, setup),
		cmocka_unit_test_setup(test_migrate, setup),
		cmocka_unit_test_setup(test_quit_help_unknown, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
