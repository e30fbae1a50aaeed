// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Modes, capabilities, parameters, URIs, the blockers with their messages,
 * and the migration status and run state machines.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "relive/migrate.h"
#include "relive/stream.h"

static void test_modes(void **state)
{
	static const char *const names[] = { "normal", "cpr-reboot",
					     "cpr-transfer", "cpr-exec" };
	enum rl_mig_mode m;

	for (unsigned i = 0; i < 4; i++) {
		assert_string_equal(rl_mig_mode_name(i), names[i]);
		assert_int_equal(rl_mig_mode_parse(names[i], &m), 0);
		assert_int_equal(m, i);
		assert_int_equal(rl_mig_mode_is_cpr(i), i != 0);
	}
	assert_int_equal(rl_mig_mode_parse("cpr_exec", &m), -EINVAL);
	assert_int_equal(rl_mig_mode_parse("", &m), -EINVAL);
	assert_null(rl_mig_mode_name(RL_MODE__MAX));
}

static void test_caps(void **state)
{
	static const char *const names[] = { "x-ignore-shared", "postcopy-ram",
					     "background-snapshot", "x-colo" };
	enum rl_mig_cap c;

	for (unsigned i = 0; i < 4; i++) {
		assert_string_equal(rl_mig_cap_name(i), names[i]);
		assert_int_equal(rl_mig_cap_parse(names[i], &c), 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(rl_mig_cap_parse("multifd", &c), -EINVAL);
}

static void test_params(void **state)
{
	const char *argv[] = { "relive-trampoline", "--", "relive-vm", NULL };
	struct rl_mig_params p;

	rl_mig_params_init(&p);
	assert_int_equal(p.mode, RL_MODE_NORMAL);
	assert_null(p.cpr_exec_command);
	assert_int_equal(rl_mig_params_set_exec_command(&p, argv), 0);
	assert_string_equal(p.cpr_exec_command[2], "relive-vm");
	assert_null(p.cpr_exec_command[3]);
	assert_int_equal(rl_mig_params_set_exec_command(&p, NULL), 0);
	assert_null(p.cpr_exec_command);
	assert_int_equal(rl_mig_params_set_exec_command(&p, argv), 0);
	rl_mig_params_free(&p);
	assert_null(p.cpr_exec_command);
}

static void test_uri(void **state)
{
	struct rl_error err = { "" };
	struct rl_mig_uri u;

	assert_int_equal(rl_mig_uri_parse("file:/tmp/vm.state", &u, &err), 0);
	assert_int_equal(u.kind, RL_URI_FILE);
	assert_string_equal(u.path, "/tmp/vm.state");
	assert_int_equal(rl_mig_uri_parse("unix:/run/x.sock", &u, &err), 0);
	assert_int_equal(u.kind, RL_URI_UNIX);
	assert_int_equal(rl_mig_uri_parse("exec:cat > x", &u, &err), 0);
	assert_int_equal(u.kind, RL_URI_EXEC);
	assert_int_equal(rl_mig_uri_parse("fd:3", &u, &err), 0);
	assert_int_equal(u.kind, RL_URI_FD);
	assert_int_equal(rl_mig_uri_parse("file:vm.state,offset=4096", &u, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "offset="));
	assert_int_equal(rl_mig_uri_parse("file:", &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nothing after"));
	assert_int_equal(rl_mig_uri_parse("/tmp/vm.state", &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown migration URI '/tmp/vm.state'"));
	assert_int_equal(rl_mig_uri_parse("", &u, &err), -EINVAL);
}

/* A VM whose one block is a shared memfd: passes every RAM check. */
struct fixture {
	struct rl_ram_registry reg;
	struct rl_mig_vm vm;
	struct rl_mig_params p;
	struct rl_error err;
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rl_ram_block b = { .name = "ram0", .size = 1 << 20,
				  .backing = RL_RAM_MEMFD, .shared = true,
				  .fd = 0 };
	const char *cmd[] = { "sh", "-c", "true", NULL };

	assert_non_null(f);
	assert_int_equal(rl_ram_add(&f->reg, &b), 0);
	f->vm.ram = &f->reg;
	f->vm.aux_ram_share = true;
	rl_mig_params_init(&f->p);
	f->p.mode = RL_MODE_CPR_EXEC;
	assert_int_equal(rl_mig_params_set_exec_command(&f->p, cmd), 0);
	strcpy(f->dir, "/tmp/relive-blockers-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	snprintf(path, sizeof(path), "%s/noexec", f->dir);
	unlink(path);
	rmdir(f->dir);
	rl_ram_registry_free(&f->reg);
	rl_mig_params_free(&f->p);
	free(f);
	return 0;
}

static int check(struct fixture *f, const char *uri)
{
	memset(f->err.msg, 0, sizeof(f->err.msg));
	return rl_mig_check_blockers(&f->vm, &f->p, uri, &f->err);
}

/* A stream configuration the loader would refuse blocks before the stop. */
static void test_blocker_stream_config(void **state)
{
	struct fixture *f = *state;
	const char *devices[] = { "machine", "serial0", "serial0" };
	struct rl_stream_config cfg = { .nr_vcpus = 1, .ram = &f->reg,
					.devices = devices, .nr_devices = 3 };
	char uri[128];

	snprintf(uri, sizeof(uri), "file:%s/vm.state", f->dir);
	f->vm.stream = &cfg;
	assert_int_equal(check(f, uri), -EINVAL);
	assert_non_null(strstr(f->err.msg, "device 'serial0' listed twice"));
	cfg.nr_devices = 2;
	assert_int_equal(check(f, uri), 0);
}

static void test_blockers_pass(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(check(f, "file:/tmp/vm.state"), 0);
	f->p.mode = RL_MODE_NORMAL;
	f->vm.aux_ram_share = false;
	f->vm.has_implicit_ram = true;
	f->reg.blocks[0].shared = false;
	assert_int_equal(check(f, "unix:/tmp/x.sock"), 0);
	f->p.mode = RL_MODE_CPR_REBOOT;
	f->p.caps[RL_CAP_X_IGNORE_SHARED] = true;
	assert_int_equal(check(f, "file:/tmp/vm.state"), 0);
}

static void test_blocker_private_ram(void **state)
{
	struct fixture *f = *state;
	struct rl_ram_block *b = &f->reg.blocks[0];

	b->backing = RL_RAM_ANON;
	b->shared = false;
	b->fd = -1;
	assert_int_equal(check(f, "file:/tmp/vm.state"), -EPERM);
	assert_string_equal(f->err.msg,
			    "memory-backend-ram 'ram0' is not shared: cpr-exec needs share=on (use memory-backend-memfd,share=on)");
	f->p.mode = RL_MODE_CPR_TRANSFER;
	assert_int_equal(check(f, "unix:/tmp/x.sock"), -EPERM);
	assert_string_equal(f->err.msg,
			    "memory-backend-ram 'ram0' is not shared: cpr-transfer needs share=on (use memory-backend-memfd,share=on)");
	b->backing = RL_RAM_MEMFD;
	b->fd = 0;
	assert_int_equal(check(f, "unix:/tmp/x.sock"), -EPERM);
	assert_string_equal(f->err.msg,
			    "memory-backend-memfd 'ram0' is not shared: cpr-transfer needs share=on (add share=on to it)");
	b->backing = RL_RAM_ANON;
	b->shared = true;
	b->fd = -1;
	assert_int_equal(check(f, "unix:/tmp/x.sock"), -EPERM);
	assert_non_null(strstr(f->err.msg, "memory-backend-ram 'ram0' has no file descriptor"));
}

static void test_blocker_implicit_ram(void **state)
{
	struct fixture *f = *state;

	f->vm.aux_ram_share = false;
	f->vm.has_implicit_ram = true;
	assert_int_equal(check(f, "file:/tmp/vm.state"), -EPERM);
	assert_non_null(strstr(f->err.msg, "cpr-exec needs -machine aux-ram-share=on"));
	f->vm.aux_ram_share = true;
	assert_int_equal(check(f, "file:/tmp/vm.state"), 0);
	f->reg.blocks[0].implicit = true;
	f->reg.blocks[0].shared = false;
	assert_int_equal(check(f, "file:/tmp/vm.state"), -EPERM);
	assert_string_equal(f->err.msg,
			    "RAM block 'ram0' is not shared: cpr-exec needs -machine aux-ram-share=on");
}

static void test_blocker_caps(void **state)
{
	static const struct {
		enum rl_mig_cap cap;
		const char *msg;
	} cases[] = {
		{ RL_CAP_POSTCOPY_RAM, "Cannot use postcopy with CPR" },
		{ RL_CAP_BACKGROUND_SNAPSHOT, "Cannot use background snapshot with CPR" },
		{ RL_CAP_X_COLO, "Cannot use COLO with CPR" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < 3; i++) {
		for (enum rl_mig_mode m = RL_MODE_CPR_REBOOT; m <= RL_MODE_CPR_EXEC; m++) {
			char want[160];

			f->p.mode = m;
			f->p.caps[cases[i].cap] = true;
			assert_int_equal(check(f, "file:/tmp/vm.state"), -EINVAL);
			snprintf(want, sizeof(want), "%s (mode %s): migrate_set_capability %s off",
				 cases[i].msg, rl_mig_mode_name(m),
				 rl_mig_cap_name(cases[i].cap));
			assert_string_equal(f->err.msg, want);
			f->p.mode = RL_MODE_NORMAL;
			assert_int_equal(check(f, "file:/tmp/vm.state"), 0);
			f->p.caps[cases[i].cap] = false;
		}
	}
}

static void test_blocker_uri(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(check(f, "unix:/tmp/x.sock"), -EINVAL);
	assert_non_null(strstr(f->err.msg, "cpr-exec needs a file: URI, not 'unix:/tmp/x.sock'"));
	assert_int_equal(check(f, "exec:cat > /tmp/x"), -EINVAL);
	assert_non_null(strstr(f->err.msg, "'exec:cat > /tmp/x' is not supported (use file:PATH)"));
	assert_int_equal(check(f, "file:/tmp/x,offset=8"), -EINVAL);
	assert_non_null(strstr(f->err.msg, "offset="));
	f->p.mode = RL_MODE_CPR_TRANSFER;
	assert_int_equal(check(f, "unix:/tmp/x.sock"), 0);
	assert_int_equal(check(f, "tcp:localhost:4444"), -EINVAL);
	assert_non_null(strstr(f->err.msg, "(use file:PATH or unix:PATH)"));
}

static void test_blocker_command(void **state)
{
	struct fixture *f = *state;
	const char *missing[] = { "relive-no-such-binary-xyz", "--", NULL };
	const char *abs_missing[] = { "/nonexistent/relive-vm", NULL };
	const char *dir[] = { "/tmp", NULL };
	const char *noexec[] = { NULL, NULL };
	char path[128];
	int fd;

	rl_mig_params_set_exec_command(&f->p, NULL);
	assert_int_equal(check(f, "file:/tmp/vm.state"), -EINVAL);
	assert_non_null(strstr(f->err.msg, "Parameter 'cpr-exec-command' required for cpr-exec"));

	rl_mig_params_set_exec_command(&f->p, missing);
	assert_int_equal(check(f, "file:/tmp/vm.state"), -ENOENT);
	assert_non_null(strstr(f->err.msg, "cpr-exec-command: 'relive-no-such-binary-xyz' not found in PATH"));

	rl_mig_params_set_exec_command(&f->p, abs_missing);
	assert_int_equal(check(f, "file:/tmp/vm.state"), -ENOENT);
	assert_string_equal(f->err.msg, "cpr-exec-command: '/nonexistent/relive-vm' does not exist");

	rl_mig_params_set_exec_command(&f->p, dir);
	assert_int_equal(check(f, "file:/tmp/vm.state"), -EACCES);
	assert_non_null(strstr(f->err.msg, "'/tmp' is not an executable file"));

	snprintf(path, sizeof(path), "%s/noexec", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	noexec[0] = path;
	rl_mig_params_set_exec_command(&f->p, noexec);
	/* root may execute anything with an x bit; this file has none. */
	assert_int_equal(check(f, "file:/tmp/vm.state"), -EACCES);

	/* Other modes do not need the command at all. */
	f->p.mode = RL_MODE_CPR_TRANSFER;
	assert_int_equal(check(f, "unix:/tmp/x.sock"), 0);
}

static void test_status_machine(void **state)
{
	enum rl_mig_status s = RL_MIG_NONE;

	assert_string_equal(rl_mig_status_name(RL_MIG_ACTIVE), "active");
	assert_string_equal(rl_mig_status_name(RL_MIG_CANCELLED), "cancelled");
	assert_true(rl_mig_status_is_idle(s));
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_ACTIVE), -EINVAL);
	assert_int_equal(s, RL_MIG_NONE);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_SETUP), 0);
	assert_false(rl_mig_status_is_idle(s));
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_COMPLETED), -EINVAL);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_ACTIVE), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_COMPLETED), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_FAILED), -EINVAL);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_SETUP), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_ACTIVE), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_FAILED), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_SETUP), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_CANCELLING), 0);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_ACTIVE), -EINVAL);
	assert_int_equal(rl_mig_status_set(&s, RL_MIG_CANCELLED), 0);
	assert_true(rl_mig_status_is_idle(s));
	assert_int_equal(rl_mig_status_set(&s, RL_MIG__MAX), -EINVAL);
}

static void test_run_state_machine(void **state)
{
	enum rl_run_state r = RL_RUN_RUNNING, q;

	assert_string_equal(rl_run_state_name(RL_RUN_POSTMIGRATE), "postmigrate");
	assert_string_equal(rl_run_state_name(RL_RUN_INMIGRATE), "inmigrate");
	assert_string_equal(rl_run_state_name(RL_RUN_FINISH_MIGRATE), "finish-migrate");
	assert_int_equal(rl_run_state_parse("paused", &q), 0);
	assert_int_equal(q, RL_RUN_PAUSED);
	assert_int_equal(rl_run_state_parse("stopped", &q), -EINVAL);
	assert_true(rl_run_state_is_running(RL_RUN_RUNNING));
	assert_false(rl_run_state_is_running(RL_RUN_POSTMIGRATE));

	/* save fails after the stop: back to running */
	assert_int_equal(rl_run_state_set(&r, RL_RUN_FINISH_MIGRATE), 0);
	assert_int_equal(rl_run_state_set(&r, RL_RUN_RUNNING), 0);
	/* save succeeds */
	assert_int_equal(rl_run_state_set(&r, RL_RUN_FINISH_MIGRATE), 0);
	assert_int_equal(rl_run_state_set(&r, RL_RUN_POSTMIGRATE), 0);
	assert_int_equal(rl_run_state_set(&r, RL_RUN_INMIGRATE), -EINVAL);
	assert_int_equal(r, RL_RUN_POSTMIGRATE);
	/* the new process */
	r = RL_RUN_PRELAUNCH;
	assert_int_equal(rl_run_state_set(&r, RL_RUN_INMIGRATE), 0);
	assert_int_equal(rl_run_state_set(&r, RL_RUN_INMIGRATE), 0);
	assert_int_equal(rl_run_state_set(&r, RL_RUN_RUNNING), 0);
	r = RL_RUN_SHUTDOWN;
	assert_int_equal(rl_run_state_set(&r, RL_RUN_RUNNING), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_uri),
		cmocka_unit_test_setup_teardown(test_blockers_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocker_private_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocker_implicit_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocker_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocker_uri, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocker_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocker_stream_config, setup, teardown),
		cmocka_unit_test(test_status_machine),
		cmocka_unit_test(test_run_state_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
