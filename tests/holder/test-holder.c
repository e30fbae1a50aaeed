// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-holder.so with real processes and real exec. The test is its own
 * subreaper; each case forks a victim that runs with the holder preloaded,
 * maps and populates a memfd and execs this binary again (the "new image")
 * the way QEMU's cpr-exec does, or fails to. The new image lists its fds,
 * starts a thread that waits (a stopped vCPU) and, when told, runs it (the
 * guest resumed). The test checks from outside which holder exists, what it
 * holds, who its parent is, and how it ended.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "holder.h"

#define RAM_NAME "holder-test-ram"
#define RAM_SIZE (64u << 20)

static const char *cur_case = "";

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: [%s] %s: ", __FILE__, __LINE__,    \
				cur_case, #cond);                                  \
			fprintf(stderr, __VA_ARGS__);                              \
			fprintf(stderr, "\n");                                     \
			exit(1);                                                   \
		}                                                                  \
	} while (0)

/* --------------------------------------------------------- /proc helpers */

struct proc {
	int pid;
	int ppid;
	char state;
	char comm[32];
};

static int read_proc(int pid, struct proc *p)
{
	char path[64], buf[512], *l, *r;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	l = strchr(buf, '(');
	r = strrchr(buf, ')');
	if (!l || !r || r - l - 1 >= (long)sizeof(p->comm))
		return -1;
	p->pid = pid;
	memcpy(p->comm, l + 1, r - l - 1);
	p->comm[r - l - 1] = 0;
	if (sscanf(r + 2, "%c %d", &p->state, &p->ppid) != 2)
		return -1;
	return 0;
}

/* Processes named @comm (or any when NULL) whose parent is @ppid; returns how many. */
static int find_children(int ppid, const char *comm, struct proc *out, int cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	CHECK(d, "opendir /proc: %s", strerror(errno));
	while ((e = readdir(d))) {
		struct proc p;
		int pid = atoi(e->d_name);

		if (pid <= 0 || read_proc(pid, &p) || p.ppid != ppid)
			continue;
		if (comm && strcmp(p.comm, comm))
			continue;
		if (n < cap)
			out[n] = p;
		n++;
	}
	closedir(d);
	return n;
}

static int holds_mapping(int pid, const char *needle)
{
	char path[64], line[512];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The fds open in this process, besides the one listing them, as "0 1 2 5". */
static void list_fds(char *buf, size_t cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fds[256], n = 0;
	size_t len = 0;

	buf[0] = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && n < 256) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd != dirfd(d))
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (fds[j] < fds[i]) {
				int t = fds[i];
				fds[i] = fds[j];
				fds[j] = t;
			}
	for (int i = 0; i < n && len < cap; i++)
		len += snprintf(buf + len, cap - len, "%s%d", i ? " " : "", fds[i]);
}

/* ------------------------------------------------------ the new image */

static atomic_int spin_stop;
static int go_pipe[2];

/* A vCPU: waits until the guest is resumed, then runs until told to stop. */
static void *vcpu(void *arg)
{
	char c;
	volatile unsigned long n = 0;

	while (read(go_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	while (!atomic_load(&spin_stop))
		n++;
	return NULL;
}

static int new_image(int ram_fd)
{
	char fds[512], want[64], line[32];
	pthread_t t;

	/* Before anything of ours is open: exactly what the old image left. */
	list_fds(fds, sizeof(fds));
	snprintf(want, sizeof(want), "0 1 2 %d", ram_fd);
	if (strcmp(fds, want)) {
		printf("fds %s\n", fds);
		fflush(stdout);
		return 1;
	}
	if (pipe2(go_pipe, O_CLOEXEC) || pthread_create(&t, NULL, vcpu, NULL))
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "go\n")) {
			if (write(go_pipe[1], "g", 1) != 1)
				return 1;
		} else {
			break;
		}
	}
	atomic_store(&spin_stop, 1);
	if (write(go_pipe[1], "s", 1) != 1)
		return 1;
	pthread_join(t, NULL);
	return 0;
}

/* ------------------------------------------------------ the old image */

enum exec_kind { K_EXECVP, K_EXECV, K_EXECVE, K_EXECVPE };

static const char *kind_name[] = { "execvp", "execv", "execve", "execvpe" };

static int do_exec(enum exec_kind k, const char *path, char **argv, int cpr)
{
	static char var[] = "QEMU_CPR_EXEC_STATE=-1";
	char *envp[256];
	int n = 0;

	if (k == K_EXECVP || k == K_EXECV) {
		if (cpr)
			putenv(var);
		return k == K_EXECVP ? execvp(path, argv) : execv(path, argv);
	}
	/* The variable only in what the new image gets, not in this one's environ. */
	for (char **e = environ; *e && n < 254; e++)
		envp[n++] = *e;
	if (cpr)
		envp[n++] = var;
	envp[n] = NULL;
	return k == K_EXECVE ? execve(path, argv, envp) : execvpe(path, argv, envp);
}

static int old_image(const char *self, enum exec_kind k, int cpr, int fail)
{
	char fd_arg[16], before[512], after[512];
	char *argv[] = { (char *)self, "new", fd_arg, NULL };
	char *bad[] = { "/nonexistent/relive-holder-test", NULL };
	int fd = memfd_create(RAM_NAME, 0); /* no close-on-exec: preserved, like QEMU's RAM */
	struct proc h[4];
	char *ram;
	int ret, err;

	if (fd < 0 || ftruncate(fd, RAM_SIZE))
		return 10;
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED)
		return 11;
	for (size_t off = 0; off < RAM_SIZE; off += 4096)
		ram[off] = 1;
	snprintf(fd_arg, sizeof(fd_arg), "%d", fd);
	if (!fail) {
		do_exec(k, self, argv, cpr);
		return 12;
	}

	list_fds(before, sizeof(before));
	ret = do_exec(k, bad[0], bad, cpr);
	err = errno;
	list_fds(after, sizeof(after));
	if (ret != -1 || err != ENOENT) {
		printf("returned %d, errno %d\n", ret, err);
		return 13;
	}
	if (strcmp(before, after)) {
		printf("fds before %s, after %s\n", before, after);
		return 14;
	}
	/* Let go at once: dead (a zombie of the test) by the time exec returned. */
	for (int i = 0, n = find_children(getppid(), NULL, h, 4); i < n && i < 4; i++)
		if (h[i].pid != getpid() && h[i].state != 'Z') {
			printf("holder %d still %c\n", h[i].pid, h[i].state);
			return 15;
		}
	if (ram[0] != 1)
		return 16;
	printf("failed-as-expected\n");
	return 0;
}

/* ---------------------------------------------------------- the test */

enum ending { END_NONE, END_RELEASE, END_BOUND, END_FAIL };

struct victim {
	pid_t pid;
	FILE *in;  /* its stdin */
	FILE *out; /* its stdout */
};

static void start_victim(struct victim *v, const char *self, const char *holder_so,
			 enum exec_kind k, int cpr, int fail, const char *timeout_ms)
{
	int to[2], from[2];
	char kind[8];

	CHECK(!pipe2(to, O_CLOEXEC) && !pipe2(from, O_CLOEXEC), "pipe: %s", strerror(errno));
	snprintf(kind, sizeof(kind), "%d", k);
	v->pid = fork();
	CHECK(v->pid >= 0, "fork: %s", strerror(errno));
	if (!v->pid) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		setenv("LD_PRELOAD", holder_so, 1);
		setenv("RELIVE_HOLDER_TIMEOUT_MS", timeout_ms, 1);
		execl(self, self, "old", kind, cpr ? "cpr" : "plain", fail ? "fail" : "ok",
		      (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	v->in = fdopen(to[1], "w");
	v->out = fdopen(from[0], "r");
	CHECK(v->in && v->out, "fdopen");
}

static void expect_line(struct victim *v, const char *want)
{
	char line[512];

	CHECK(fgets(line, sizeof(line), v->out), "no line from the victim, wanted %s", want);
	line[strcspn(line, "\n")] = 0;
	CHECK(!strcmp(line, want), "victim said \"%s\", wanted \"%s\"", line, want);
}

static void say(struct victim *v, const char *line)
{
	fprintf(v->in, "%s\n", line);
	fflush(v->in);
}

/* Waits for @pid, a child of ours, for at most @ms; returns its wait status. */
static int wait_child(pid_t pid, int ms, const char *what)
{
	int st;

	for (int i = 0; i < ms; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		CHECK(r >= 0, "waitpid %s: %s", what, strerror(errno));
		if (r == pid)
			return st;
		usleep(1000);
	}
	CHECK(0, "%s %d did not end within %d ms", what, pid, ms);
	return -1;
}

static void run_case(const char *self, const char *holder_so, enum exec_kind k,
		     enum ending end)
{
	int cpr = end != END_NONE, fail = end == END_FAIL;
	const char *timeout = end == END_BOUND ? "300" : "60000";
	struct victim v;
	struct proc h[4], kids[4];
	char name[64];
	int n, st;

	snprintf(name, sizeof(name), "%s %s", kind_name[k],
		 end == END_NONE ? "without cpr-exec" : end == END_RELEASE ? "released" :
		 end == END_BOUND ? "bound" : "exec fails");
	cur_case = name;
	start_victim(&v, self, holder_so, k, cpr, fail, timeout);

	if (fail) {
		expect_line(&v, "failed-as-expected");
		st = wait_child(v.pid, 10000, "victim");
		CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "victim status %#x", st);
		n = find_children(getpid(), HOLDER_NAME, h, 4);
		CHECK(n == 1, "%d holders left to reap, wanted the one killed", n);
		st = wait_child(h[0].pid, 1000, "holder");
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "holder status %#x", st);
		goto out;
	}

	expect_line(&v, "ready");
	n = find_children(getpid(), HOLDER_NAME, h, 4);
	CHECK(find_children(v.pid, NULL, kids, 4) == 0, "the new image has a child %d (%s)",
	      kids[0].pid, kids[0].comm);
	if (!cpr) {
		CHECK(n == 0, "a holder (%d) without QEMU_CPR_EXEC_STATE", h[0].pid);
		say(&v, "stop");
		st = wait_child(v.pid, 10000, "new image");
		CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "new image status %#x", st);
		CHECK(find_children(getpid(), NULL, kids, 4) == 0, "a process left: %d (%s)",
		      kids[0].pid, kids[0].comm);
		goto out;
	}
	CHECK(n == 1, "%d holders while the new image runs, wanted 1", n);
	CHECK(h[0].state != 'Z', "holder %d is a zombie", h[0].pid);
	CHECK(holds_mapping(h[0].pid, "/memfd:" RAM_NAME),
	      "holder %d does not hold the old image's mapping of the RAM memfd", h[0].pid);
	/* The new image waits, its vCPU has not run: the holder must stay. */
	usleep(100000);
	if (end == END_RELEASE) {
		CHECK(read_proc(h[0].pid, &h[1]) == 0 && h[1].state != 'Z',
		      "holder %d let go before the vCPU ran", h[0].pid);
		say(&v, "go");
		st = wait_child(h[0].pid, 10000, "holder");
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == HOLDER_RELEASED,
		      "holder status %#x, wanted exit %d (released)", st, HOLDER_RELEASED);
	} else {
		st = wait_child(h[0].pid, 10000, "holder");
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == HOLDER_BOUND,
		      "holder status %#x, wanted exit %d (bound)", st, HOLDER_BOUND);
	}
	CHECK(kill(v.pid, 0) == 0, "the new image is gone with the holder");
	say(&v, "stop");
	st = wait_child(v.pid, 10000, "new image");
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "new image status %#x", st);
	CHECK(find_children(getpid(), NULL, kids, 4) == 0, "a process left: %d (%s)",
	      kids[0].pid, kids[0].comm);
out:
	fclose(v.in);
	fclose(v.out);
	printf("ok - %s\n", name);
}

int main(int argc, char **argv)
{
	const char *holder_so = getenv("RELIVE_HOLDER");
	char self[4096];
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "new"))
		return new_image(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "old"))
		return old_image("/proc/self/exe", (enum exec_kind)atoi(argv[2]),
				 !strcmp(argv[3], "cpr"), !strcmp(argv[4], "fail"));

	CHECK(holder_so && *holder_so, "RELIVE_HOLDER names no relive-holder.so");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
	self[n] = 0;
	/* Orphaned holders come to the test, which reaps them and sees how they ended. */
	CHECK(!prctl(PR_SET_CHILD_SUBREAPER, 1), "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));

	for (enum exec_kind k = K_EXECVP; k <= K_EXECVPE; k++)
		run_case(self, holder_so, k, END_RELEASE);
	run_case(self, holder_so, K_EXECVP, END_NONE);
	run_case(self, holder_so, K_EXECVE, END_NONE);
	run_case(self, holder_so, K_EXECVP, END_BOUND);
	run_case(self, holder_so, K_EXECVP, END_FAIL);
	run_case(self, holder_so, K_EXECVE, END_FAIL);
	return 0;
}
