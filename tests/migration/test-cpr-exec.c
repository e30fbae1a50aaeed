// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpr-exec's exec step with real processes: a child registers a memfd and a
 * socket, opens descriptors it does not register, and calls rl_cpr_exec() on
 * this same program, which then checks from /proc/self/fd that exactly the
 * preserved descriptors (and the state memfd) arrived, that the holder exists
 * with no descriptors, and that releasing it reaps it. Also a failed exec:
 * everything undone and the holder reaped, whether the exec started it or it
 * was held before (rl_cpr_exec_hold()), as a holder held and called off.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "relive/cpr.h"

static struct rl_cpr_state *st;
static const char *self;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* Descriptors open in this process, without the directory's own. */
static int list_fds(pid_t pid, int *fds, int max)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (!pid && fd == dirfd(d))
			continue;
		if (n < max)
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

static bool has_fd(const int *fds, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (fds[i] == fd)
			return true;
	return false;
}

/* The exec'd side: argv[2] = "holder" or "noholder". */
static int after_exec(const char *expect)
{
	struct rl_error err = { "" };
	int fds[64], n, statefd, ret;
	const char *env = getenv(RL_CPR_ENV);
	uint64_t holder = 0;
	char path[64];
	struct stat sb;

	CHECK(env, "no %s after exec", RL_CPR_ENV);
	CHECK(getenv(RL_CPR_ROLLBACK_ENV), "no %s after exec", RL_CPR_ROLLBACK_ENV);
	statefd = atoi(env);
	n = list_fds(0, fds, 64);
	/* 0, 1, 2, ram0, qmp, the state memfd: nothing else crossed. */
	CHECK(n == 6, "%d descriptors arrived, want 6", n);
	CHECK(has_fd(fds, n, 0) && has_fd(fds, n, 1) && has_fd(fds, n, 2), "stdio");
	CHECK(has_fd(fds, n, statefd), "state memfd %d missing", statefd);
	CHECK(lseek(statefd, 0, SEEK_CUR) == 0, "state offset moved");

	st = rl_cpr_state_new();
	CHECK(st, "rl_cpr_state_new");
	ret = rl_cpr_state_load(st, &err);
	CHECK(ret == 0, "load: %s", err.msg);
	CHECK(!getenv(RL_CPR_ENV), "variable still set");
	CHECK(!getenv(RL_CPR_ROLLBACK_ENV), "the rollback copy would reach a child");
	CHECK(fstat(statefd, &sb) < 0, "state memfd still open");
	CHECK(rl_cpr_fd_count(st) == 2, "%u fds in the state", rl_cpr_fd_count(st));
	ret = rl_cpr_verify_fd(st, "ram0", 0, &err);
	CHECK(ret >= 0, "%s", err.msg);
	CHECK(!(fcntl(ret, F_GETFD) & FD_CLOEXEC), "ram0 came with close-on-exec");
	ret = rl_cpr_verify_fd(st, "qmp", 0, &err);
	CHECK(ret >= 0, "%s", err.msg);
	CHECK(rl_cpr_time_get(st, RL_CPR_T_EXEC, &holder) == 0, "no exec time");
	CHECK(rl_cpr_rollback_argc(st) == 2 && !strcmp(rl_cpr_rollback_arg(st, 0), "old-binary") &&
	      !strcmp(rl_cpr_rollback_arg(st, 1), "-incoming"), "rollback command lost");

	if (!strcmp(expect, "noholder")) {
		CHECK(rl_cpr_value_get(st, RL_CPR_V_HOLDER, &holder) == -ENOENT,
		      "holder recorded without one");
		CHECK(rl_cpr_exec_release_holder(st) == -ENOENT, "release");
		/* not even one held before the exec */
		CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child crossed");
		return 0;
	}
	CHECK(rl_cpr_value_get(st, RL_CPR_V_HOLDER, &holder) == 0, "no holder pid");
	if (!strncmp(expect, "held:", 5))
		CHECK(holder == strtoull(expect + 5, NULL, 10),
		      "holder %d is not the one held before the exec (%s)", (int)holder, expect + 5);
	snprintf(path, sizeof(path), "/proc/%d", (int)holder);
	CHECK(stat(path, &sb) == 0, "holder %d does not exist", (int)holder);
	/* Closing its descriptors is the holder's first act; give it a moment. */
	for (int i = 0; i < 5000 && (n = list_fds(holder, fds, 64)) != 0; i++)
		usleep(1000);
	CHECK(n == 0, "holder %d holds %d descriptors", (int)holder, n);
	{
		char status[4096], *pp;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)holder);
		f = fopen(path, "re");
		CHECK(f, "status");
		status[fread(status, 1, sizeof(status) - 1, f)] = 0;
		fclose(f);
		pp = strstr(status, "PPid:");
		CHECK(pp && atoi(pp + 5) == getpid(), "holder's parent is not us");
	}
	CHECK(rl_cpr_exec_release_holder(st) == 0, "release failed");
	snprintf(path, sizeof(path), "/proc/%d", (int)holder);
	CHECK(stat(path, &sb) < 0, "holder %d still exists (not reaped)", (int)holder);
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "children left");
	CHECK(rl_cpr_exec_release_holder(st) < 0, "second release succeeded");
	return 0;
}

static void setup(int *mfd, int sv[2])
{
	const char *rb[] = { "old-binary", "-incoming", NULL };

	*mfd = memfd_create("ram0", MFD_CLOEXEC);
	CHECK(*mfd >= 0 && ftruncate(*mfd, 1 << 20) == 0, "memfd");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	st = rl_cpr_state_new();
	CHECK(st, "rl_cpr_state_new");
	rl_cpr_state_set_mode(st, 3);
	CHECK(rl_cpr_add_fd(st, "ram0", 0, *mfd) == 0, "add ram0");
	CHECK(rl_cpr_add_fd(st, "qmp", 0, sv[0]) == 0, "add qmp");
	CHECK(rl_cpr_set_rollback(st, rb) == 0, "rollback");
}

/*
 * A child that registers, execs this program, and must come back with 0;
 * with @hold, the holder is started ahead, as before a guest stops.
 */
static void run_exec(bool holder, bool hold)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		struct rl_cpr_exec_opts opts = { .no_holder = !holder };
		char expect[32];
		char *argv[] = { (char *)self, "--after-exec", expect, NULL };
		struct rl_error err = { "" };
		int mfd, sv[2], extra, held = 0;

		setup(&mfd, sv);
		if (hold) {
			held = rl_cpr_exec_hold();
			CHECK(held > 0, "hold: %s", strerror(-held));
		}
		snprintf(expect, sizeof(expect), "%s", !holder ? "noholder" : "holder");
		if (held && holder)
			snprintf(expect, sizeof(expect), "held:%d", held);
		/* Registered nowhere: must not cross. */
		extra = open("/dev/null", O_RDONLY | O_CLOEXEC);
		CHECK(extra >= 0, "open");
		/* 1 GiB populated would make the test slow; a few MiB are mapped. */
		void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		CHECK(m != MAP_FAILED, "mmap");
		memset(m, 1, 1 << 20);
		rl_cpr_exec(st, argv, &opts, &err);
		fprintf(stderr, "exec failed: %s\n", err.msg);
		_exit(2);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "exec'd side failed (status 0x%x)", status);
}

static void run_failed_exec(void)
{
	char *argv[] = { "/nonexistent/relive-vm", "-incoming", "defer", NULL };
	struct rl_error err = { "" };
	int before[64], after[64], nb, na, mfd, sv[2], ret;

	setup(&mfd, sv);
	nb = list_fds(0, before, 64);
	ret = rl_cpr_exec(st, argv, NULL, &err);
	CHECK(ret == -ENOENT, "ret %d", ret);
	CHECK(strstr(err.msg, "/nonexistent/relive-vm"), "message: %s", err.msg);
	na = list_fds(0, after, 64);
	CHECK(na == nb, "%d descriptors before, %d after", nb, na);
	CHECK(fcntl(mfd, F_GETFD) & FD_CLOEXEC, "close-on-exec not restored");
	CHECK(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, "close-on-exec not restored");
	CHECK(!getenv(RL_CPR_ENV), "variable left set");
	CHECK(!getenv(RL_CPR_ROLLBACK_ENV), "rollback copy left set");
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "holder not reaped");
	CHECK(rl_cpr_value_get(st, RL_CPR_V_HOLDER, &(uint64_t){ 0 }) == -ENOENT,
	      "holder pid left in the state");
	CHECK(rl_cpr_exec(st, (char *[]){ NULL }, NULL, &err) == -EINVAL, "empty argv");
	close(mfd);
	close(sv[0]);
	close(sv[1]);
	rl_cpr_state_free(st);
	st = NULL;
}

/* Held, then called off: the holder is ours until unheld, then reaped. */
static void run_hold_unhold(void)
{
	char path[64], status[4096], *pp;
	struct stat sb;
	FILE *f;
	int pid = rl_cpr_exec_hold();

	CHECK(pid > 0, "hold: %s", strerror(-pid));
	CHECK(rl_cpr_exec_hold() == -EBUSY, "a second holder held");
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	CHECK(f, "holder %d does not exist", pid);
	status[fread(status, 1, sizeof(status) - 1, f)] = 0;
	fclose(f);
	pp = strstr(status, "PPid:");
	CHECK(pp && atoi(pp + 5) == getpid(), "holder's parent is not us");
	rl_cpr_exec_unhold();
	snprintf(path, sizeof(path), "/proc/%d", pid);
	CHECK(stat(path, &sb) < 0, "holder %d still exists (not reaped)", pid);
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "children left");
	rl_cpr_exec_unhold();
	/* and a held holder is the failed exec's to end */
	CHECK(rl_cpr_exec_hold() > 0, "hold again");
	run_failed_exec();
	CHECK(rl_cpr_exec_hold() > 0, "no hold after a failed exec");
	rl_cpr_exec_unhold();
}

int main(int argc, char **argv)
{
	self = "/proc/self/exe";
	if (argc == 3 && !strcmp(argv[1], "--after-exec"))
		return after_exec(argv[2]);
	/* Whatever the test runner left open is not ours to count. */
	close_range(3, ~0U, 0);
	run_failed_exec();
	printf("ok failed exec undone\n");
	run_hold_unhold();
	printf("ok held holder called off, and ended by a failed exec\n");
	run_exec(true, false);
	printf("ok exec with holder\n");
	run_exec(true, true);
	printf("ok exec with the holder held before it\n");
	run_exec(false, false);
	printf("ok exec without holder\n");
	run_exec(false, true);
	printf("ok exec without holder, the held one ended\n");
	return 0;
}
