// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-trampoline with real processes and real exec: each case forks a
 * child that creates memfds, sockets and files, writes a CPR state (relive's
 * or QEMU's fixture), clears close-on-exec, perhaps breaks something, and
 * execs the trampoline in front of tests/trampoline/checker, which reports
 * what arrived. Exit code, stderr and the report are checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpr-internal.h"

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: [%s] %s: ", __FILE__, __LINE__,    \
				cur_case, #cond);                                  \
			fprintf(stderr, __VA_ARGS__);                              \
			fprintf(stderr, "\n--- stderr:\n%s--- report:\n%s", res.err, \
				res.report);                                       \
			exit(1);                                                   \
		}                                                                  \
	} while (0)

static const char *tramp, *checker, *cur_case = "";
static char dir[] = "/tmp/relive-tramp-XXXXXX";
static char out_path[256], err_path[256];
static struct rl_cpr_state st;

struct result {
	int code;         /* exit status, or 128 + signal */
	char err[8192];   /* the trampoline's stderr */
	char report[8192]; /* the checker's report, "" when it did not run */
};
static struct result res;

enum fault {
	F_NONE,
	F_CLOSE_RAM1,   /* ram1 closed before exec */
	F_CLOEXEC_QMP,  /* close-on-exec set again on qmp */
	F_SWAP_RAM0,    /* another memfd dup2'ed over ram0's number */
	F_SHRINK_RAM0,  /* ram0 truncated below its recorded size */
	F_STRAY,        /* /dev/null left open at fd 40 */
	F_STRAY_HIGH,   /* ... and at fd 700, past the first block of numbers polled */
	F_MANY_STRAYS,  /* 4200 of them: more than the poll scan keeps, so /proc is listed */
	F_CORRUPT,      /* a byte of the state flipped */
	F_TRUNCATE,     /* the state cut in half */
	F_NO_STATE,     /* no variable */
	F_BAD_ROLLBACK, /* the rollback command does not exist either */
	F_LOOP,         /* the rollback command is a trampoline in front of a broken binary */
	F_UNSEALED,     /* the state memfd not sealed */
	F_SEALED_DIFFERENTLY, /* ... sealed, but not against writes and growing */
	F_STD_CLOSED,   /* 0, 1 and 2 closed, and a stray for the trampoline to report */
	F_EXE_RENAMED,  /* rollback through its fd; another file renamed over its path */
	F_EXE_DELETED,  /* ... its path deleted */
	F_BIG_STATE,    /* a 40 KiB rollback command: the CRC's three-lane path */
};

static void slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	buf[0] = 0;
	if (fd < 0)
		return;
	n = read(fd, buf, cap - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

/* The seals rl_cpr_state_write_memfd() sets. */
#define STATE_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Write @len bytes (faults already injected) as the state memfd, with @seals. */
static int raw_state_fd(const void *buf, size_t len, int at, int seals)
{
	int fd = memfd_create("state", MFD_ALLOW_SEALING);

	/* Offset 5: the trampoline must neither depend on nor move it. */
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || lseek(fd, 5, SEEK_SET) != 5 ||
	    (seals && fcntl(fd, F_ADD_SEALS, seals) < 0))
		_exit(90);
	if (at >= 0 && fd != at) {
		if (dup2(fd, at) < 0)
			_exit(91);
		close(fd);
		fd = at;
	}
	return fd;
}

/* @dst = a copy of @src, mode 0755. */
static void copy_exe(const char *src, const char *dst)
{
	static char buf[1 << 20];
	int in = open(src, O_RDONLY | O_CLOEXEC), out;
	ssize_t n = in < 0 ? -1 : read(in, buf, sizeof(buf));

	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (n <= 0 || n == sizeof(buf) || out < 0 || write(out, buf, n) != n)
		_exit(86);
	close(in);
	close(out);
}

/*
 * The old VMM's executable, held open as relive-vm holds its own: a copy of
 * the checker. Return: its fd.
 */
static int old_exe(char *path, size_t cap)
{
	int fd;

	snprintf(path, cap, "%s/old-vmm", dir);
	copy_exe(checker, path);
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		_exit(87);
	return fd;
}

/* In the child: the relive case's fds, state and fault, then exec. */
static void child_relive(enum fault fault, char **argv, bool with_rollback)
{
	const char *rb[] = { checker, "--rolled-back", NULL };
	const char *bad_rb[] = { "/nonexistent/old-relive-vm", "-incoming", "defer", NULL };
	const char *loop_rb[] = { tramp, "--", "/nonexistent/broken-relive-vm", NULL };
	const char *exe_rb[] = { NULL, "--rolled-back", "--through-fd", NULL };
	bool exe = fault == F_EXE_RENAMED || fault == F_EXE_DELETED;
	char exe_path[300], other_path[300];
	int ram0, ram1, sv[2], sfd, other;
	char num[16];
	uint8_t buf[1 << 16];
	size_t len;

	ram0 = memfd_create("ram0", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ram1 = memfd_create("ram1", MFD_CLOEXEC);
	if (ram0 < 0 || ram1 < 0 || ftruncate(ram0, 1 << 20) || ftruncate(ram1, 8192))
		_exit(92);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		_exit(93);
	rl_cpr_state_init(&st);
	st.mode = 3;
	if (rl_cpr_add_fd(&st, "ram0", 0, ram0) || rl_cpr_add_fd(&st, "ram1", 0, ram1) ||
	    rl_cpr_add_fd(&st, "qmp", 0, sv[0]))
		_exit(94);
	if (exe) {
		if (rl_cpr_set_rollback_exe(&st, old_exe(exe_path, sizeof(exe_path))))
			_exit(95);
		exe_rb[0] = exe_path;
	}
	if (fault == F_BIG_STATE) {
		static char arg[100];
		static const char *big_rb[404] = { NULL, "--rolled-back" };

		memset(arg, 'x', sizeof(arg) - 1);
		big_rb[0] = checker;
		for (int i = 2; i < 402; i++)
			big_rb[i] = arg;
		if (rl_cpr_set_rollback(&st, big_rb))
			_exit(95);
	} else if (with_rollback && rl_cpr_set_rollback(&st, fault == F_BAD_ROLLBACK ? bad_rb :
						      fault == F_LOOP ? loop_rb :
						      exe ? exe_rb : rb))
		_exit(95);
	if (rl_cpr_state_encode(&st, buf, sizeof(buf), &len))
		_exit(96);
	if (fault == F_CORRUPT)
		buf[len / 2] ^= 0x10;
	if (fault == F_TRUNCATE)
		len /= 2;
	sfd = raw_state_fd(buf, len, -1, fault == F_UNSEALED ? 0 :
				  fault == F_SEALED_DIFFERENTLY ? F_SEAL_SHRINK | F_SEAL_SEAL :
				  STATE_SEALS);
	snprintf(num, sizeof(num), "%d", sfd);
	if (fault != F_NO_STATE)
		setenv(RL_CPR_ENV, num, 1);
	if (rl_cpr_preserve(&st))
		_exit(97);

	switch (fault) {
	case F_CLOSE_RAM1:
		close(ram1);
		break;
	case F_CLOEXEC_QMP:
		fcntl(sv[0], F_SETFD, FD_CLOEXEC);
		break;
	case F_SWAP_RAM0:
		other = memfd_create("ram0", 0);
		if (other < 0 || ftruncate(other, 1 << 20) || dup2(other, ram0) < 0)
			_exit(98);
		close(other);
		break;
	case F_SHRINK_RAM0:
		if (ftruncate(ram0, 4096))
			_exit(98);
		break;
	case F_EXE_RENAMED:
		/* A package upgrade: the new binary (here, not even one) renamed over the path. */
		snprintf(other_path, sizeof(other_path), "%s/new-vmm", dir);
		other = open(other_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
		if (other < 0 || write(other, "broken\n", 7) != 7 || rename(other_path, exe_path))
			_exit(98);
		close(other);
		break;
	case F_EXE_DELETED:
		if (unlink(exe_path))
			_exit(98);
		break;
	case F_STRAY:
	case F_STRAY_HIGH:
	case F_STD_CLOSED:
		other = open("/dev/null", O_RDONLY);
		if (other < 0 || dup2(other, 40) < 0 ||
		    (fault == F_STRAY_HIGH && dup2(other, 700) < 0))
			_exit(98);
		close(other);
		break;
	case F_MANY_STRAYS: {
		struct rlimit rl = { 8192, 8192 };

		other = open("/dev/null", O_RDONLY);
		if (other < 0 || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(98);
		for (int fd = 40; fd < 40 + 4200; fd++)
			if (dup2(other, fd) < 0)
				_exit(98);
		close(other);
		break;
	}
	default:
		break;
	}
	if (fault == F_STD_CLOSED)
		close_range(0, 2, 0);
	switch (fault) {
	case F_LOOP:
		/* A loop of rollbacks stays in this process: end it. */
		alarm(10);
		break;
	default:
		break;
	}
	execv(tramp, argv);
	_exit(99);
}

/* In the child: QEMU's fixture with its fds reproduced at their numbers. */
static void child_qemu(const char *fixture, bool file_backend, char **argv)
{
	static const struct {
		const char *name;
		int fd;
	} fds[] = {
		{ "/rom@etc/acpi/rsdp", 19 }, { "/rom@etc/table-loader", 18 },
		{ "/rom@etc/acpi/tables", 17 }, { "pc.rom", 16 },
		{ "pc.bios", 15 }, { "ram0", 10 },
	};
	char path[4096], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", RL_FIXTURES, fixture);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(80);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		_exit(81);
	raw_state_fd(buf, n, 21, 0);
	setenv(RL_CPR_QEMU_ENV, "21", 1);
	for (unsigned i = 0; i < 6; i++) {
		if (file_backend && fds[i].fd == 10) {
			/* QEMU's own leak: the file backend opened without O_CLOEXEC. */
			snprintf(path, sizeof(path), "%s/ram0-backend", dir);
			fd = open(path, O_RDWR | O_CREAT, 0600);
		} else {
			fd = memfd_create(fds[i].name, 0);
		}
		if (fd < 0 || dup2(fd, fds[i].fd) < 0)
			_exit(82);
		close(fd);
	}
	execv(tramp, argv);
	_exit(99);
}

/*
 * A QEMU-format state listing fds the way QEMU 10.2 names them, each opened
 * as the kind of file QEMU would have there (tests/fixtures/README.md).
 */
enum qemu_fd_how {
	Q_MEMFD,     /* memory-backend-memfd */
	Q_SHM,       /* memory-backend-shm: a /dev/shm file, already unlinked */
	Q_EVENTFD,   /* a VFIO interrupt */
	Q_CHARDEV,   /* a VFIO device, container or iommufd */
	Q_NOT_OPEN,  /* listed, but not open at exec */
	Q_FILE,      /* a file in the test's directory, "guest-ram" */
};

struct qemu_fd {
	const char *name;
	int id;
	int fd;
	enum qemu_fd_how how;
};

static const struct qemu_fd *qemu_fds;
static unsigned qemu_nfds;

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* QEMU's cpr vmstate (docs/format.md): "QCPR", version, fd list, vfio subsection. */
static size_t qemu_state(const struct qemu_fd *fds, unsigned n, uint8_t *buf)
{
	static const char sub[] = "CprState/vfio devices";
	size_t len = 8;

	be32(buf, 0x51435052);
	be32(buf + 4, 1);
	for (unsigned i = 0; i < n; i++) {
		uint32_t nl = strlen(fds[i].name) + 1;

		buf[len++] = 1;
		be32(buf + len, nl);
		memcpy(buf + len + 4, fds[i].name, nl);
		len += 4 + nl;
		be32(buf + len, (uint32_t)fds[i].id);
		be32(buf + len + 4, (uint32_t)fds[i].fd);
		len += 8;
	}
	buf[len++] = 0;
	buf[len++] = 5;
	buf[len++] = sizeof(sub) - 1;
	memcpy(buf + len, sub, sizeof(sub) - 1);
	len += sizeof(sub) - 1;
	be32(buf + len, 1);
	len += 4;
	buf[len++] = 0;
	return len;
}

static void child_qemu_fds(char **argv)
{
	uint8_t buf[4096];
	char shm[300];
	int fd;

	raw_state_fd(buf, qemu_state(qemu_fds, qemu_nfds, buf), 21, 0);
	setenv(RL_CPR_QEMU_ENV, "21", 1);
	for (unsigned i = 0; i < qemu_nfds; i++) {
		switch (qemu_fds[i].how) {
		case Q_MEMFD:
			fd = memfd_create(qemu_fds[i].name, 0);
			break;
		case Q_SHM:
			snprintf(shm, sizeof(shm), "/dev/shm/relive-test-%d", (int)getpid());
			fd = open(shm, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd >= 0 && (ftruncate(fd, 1 << 20) || unlink(shm)))
				_exit(83);
			break;
		case Q_EVENTFD:
			fd = eventfd(0, EFD_CLOEXEC);
			break;
		case Q_CHARDEV:
			fd = open("/dev/null", O_RDWR | O_CLOEXEC);
			break;
		case Q_FILE:
			snprintf(shm, sizeof(shm), "%s/guest-ram", dir);
			fd = open(shm, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			break;
		default:
			continue;
		}
		/* dup2 clears close-on-exec, as QEMU does right before its exec. */
		if (fd < 0 || dup2(fd, qemu_fds[i].fd) < 0)
			_exit(82);
		close(fd);
	}
	execv(tramp, argv);
	_exit(99);
}

/* Runs @kind ("relive" or a fixture name) with trampoline @args then "--" @cmd. */
static void run(const char *name, const char *kind, enum fault fault,
		bool rollback, const char *const *args, const char *const *cmd)
{
	char *argv[32];
	int n = 0, status;
	pid_t pid;

	cur_case = name;
	unlink(out_path);
	argv[n++] = (char *)tramp;
	for (; args && *args; args++)
		argv[n++] = (char *)*args;
	if (cmd) {
		argv[n++] = "--";
		for (; *cmd; cmd++)
			argv[n++] = (char *)*cmd;
	}
	argv[n] = NULL;

	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int efd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (efd < 0 || dup2(efd, 2) < 0)
			_exit(89);
		close(efd);
		if (!strcmp(kind, "relive"))
			child_relive(fault, argv, rollback);
		else if (!strcmp(kind, "qemu-fds"))
			child_qemu_fds(argv);
		else
			child_qemu(kind, strstr(kind, "filebackend") != NULL, argv);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	res.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	slurp(err_path, res.err, sizeof(res.err));
	slurp(out_path, res.report, sizeof(res.report));
}

static bool has(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static int count_lines(const char *s, const char *prefix)
{
	int n = 0;

	for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += !strncmp(p, prefix, strlen(prefix));
	return n;
}

static void relive_cases(void)
{
	const char *cmd[] = { checker, "--new", NULL };
	const char *missing[] = { "/nonexistent/relive-vm", "-incoming", "defer", NULL };
	const char *norb[] = { "--no-rollback", NULL };
	unsigned long long entry, exec;

	run("all present", "relive", F_NONE, true, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --new\n"), "checker did not run as the new binary");
	CHECK(has(res.report, "/memfd:ram0"), "ram0 missing");
	CHECK(has(res.report, "/memfd:ram1"), "ram1 missing");
	CHECK(has(res.report, "socket:["), "qmp socket missing");
	CHECK(has(res.report, "/memfd:state"), "state memfd missing");
	CHECK(has(res.report, "stateoff 5\n"), "the state's file offset moved");
	CHECK(!has(res.report, "cloexec"), "a close-on-exec fd was listed");
	/* 0, 1, 2, three preserved, the state: nothing else. */
	CHECK(count_lines(res.report, "fd ") == 7, "fd count");
	CHECK(has(res.report, "failed -\n"), "marked failed");
	CHECK(sscanf(strstr(res.report, "\nt ") + 3, "%llu,%llu", &entry, &exec) == 2,
	      "no RELIVE_TRAMPOLINE_T");
	CHECK(entry > 0 && exec >= entry, "timestamps %llu,%llu", entry, exec);
	CHECK(res.err[0] == 0, "stderr not empty");

	run("fd missing", "relive", F_CLOSE_RAM1, true, norb, cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	CHECK(has(res.err, "fd 4 'ram1': not open"), "diagnosis");
	CHECK(res.report[0] == 0, "the new binary ran");

	run("fd missing, rollback", "relive", F_CLOSE_RAM1, true, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --rolled-back\n") && !has(res.report, "arg --new"),
	      "rollback did not run instead of the new binary");
	CHECK(has(res.report, "failed fd\n"), "failure class not passed on");
	CHECK(has(res.err, "rolling back"), "rollback not announced");

	run("cloexec set", "relive", F_CLOEXEC_QMP, true, norb, cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	/* The exec into the trampoline already closed it. */
	CHECK(has(res.err, "fd 5 'qmp': not open (closed, or close-on-exec was still set"),
	      "diagnosis");
	CHECK(res.report[0] == 0, "the new binary ran");

	run("wrong inode", "relive", F_SWAP_RAM0, true, norb, cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	CHECK(has(res.err, "'ram0': inode differs"), "diagnosis");

	run("memfd too small", "relive", F_SHRINK_RAM0, true, norb, cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	CHECK(has(res.err, "'ram0': memfd smaller than recorded"), "diagnosis");

	run("stray closed", "relive", F_STRAY, true, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "stray fd 40 -> /dev/null: closed"), "stray not named");
	CHECK(!has(res.report, "fd 40 "), "stray crossed");
	CHECK(has(res.report, "arg --new"), "new binary did not run");

	run("stray past the first poll block", "relive", F_STRAY_HIGH, true, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "stray fd 40 -> /dev/null: closed") &&
	      has(res.err, "stray fd 700 -> /dev/null: closed"), "strays not named");
	CHECK(!has(res.report, "fd 40 ") && !has(res.report, "fd 700 "), "a stray crossed");
	CHECK(has(res.report, "arg --new"), "new binary did not run");

	run("many strays, listed from /proc", "relive", F_MANY_STRAYS, true, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "stray fd 40 -> /dev/null: closed"), "strays not named");
	CHECK(!has(res.report, "fd 40 ") && !has(res.report, "fd 4239 "), "a stray crossed");
	CHECK(has(res.report, "arg --new"), "new binary did not run");

	run("0, 1 and 2 closed", "relive", F_STD_CLOSED, true, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "fd 0 /dev/null\n") && has(res.report, "fd 1 /dev/null\n") &&
	      has(res.report, "fd 2 /dev/null\n"), "0, 1 and 2 not /dev/null");
	CHECK(!has(res.report, "fd 40 "), "stray crossed");
	CHECK(count_lines(res.report, "fd ") == 7, "fd count");

	run("stray refused", "relive", F_STRAY, true,
	    (const char *[]){ "--strays=refuse", "--no-rollback", NULL }, cmd);
	CHECK(res.code == 23, "exit %d", res.code);
	CHECK(has(res.err, "stray fd 40 -> /dev/null: refused"), "stray not named");
	CHECK(res.report[0] == 0, "the new binary ran");

	run("stray kept", "relive", F_STRAY, true,
	    (const char *[]){ "--strays=keep", NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "fd 40 /dev/null"), "stray not kept");

	run("target missing, rollback", "relive", F_NONE, true, NULL, missing);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "cannot exec /nonexistent/relive-vm: ENOENT"), "diagnosis");
	CHECK(has(res.report, "arg --rolled-back\n"), "rollback did not run");
	CHECK(has(res.report, "failed exec\n"), "failure class");
	CHECK(has(res.report, "/memfd:ram0") && has(res.report, "/memfd:state"),
	      "rollback lost the preserved fds");

	run("target missing, no rollback command", "relive", F_NONE, false, NULL, missing);
	CHECK(res.code == 24, "exit %d", res.code);
	CHECK(res.report[0] == 0, "something ran");

	run("target missing, --no-rollback", "relive", F_NONE, true, norb, missing);
	CHECK(res.code == 24, "exit %d", res.code);

	run("rollback through the old executable's fd, path renamed over", "relive",
	    F_EXE_RENAMED, true, NULL, missing);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "old-vmm through fd "), "not rolled back through the fd");
	CHECK(has(res.report, "arg --rolled-back\narg --through-fd\n") &&
	      has(res.report, "failed exec\n"), "the old binary did not run");
	CHECK(has(res.report, "/memfd:ram0") && has(res.report, "/memfd:state"),
	      "rollback lost the preserved fds");

	run("rollback through the old executable's fd, path deleted", "relive",
	    F_EXE_DELETED, true, NULL, missing);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --rolled-back\narg --through-fd\n"),
	      "the old binary did not run");

	/* Past three lanes of 8 KiB, the freestanding CRC32C joins lanes. */
	run("large state, rollback", "relive", F_BIG_STATE, true, NULL, missing);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --rolled-back\narg xxxxxxxx"), "rollback command lost");

	run("target and rollback missing", "relive", F_BAD_ROLLBACK, true, NULL, missing);
	CHECK(res.code == 25, "exit %d", res.code);
	CHECK(has(res.err, "rollback failed: cannot exec /nonexistent/old-relive-vm: ENOENT"),
	      "diagnosis");

	run("--rollback without a rollback command", "relive", F_NONE, false,
	    (const char *[]){ "--rollback", NULL }, missing);
	CHECK(res.code == 24, "exit %d", res.code);
	CHECK(has(res.err, "carries no rollback command"), "diagnosis");

	run("corrupt state", "relive", F_CORRUPT, true, NULL, cmd);
	CHECK(res.code == 21, "exit %d", res.code);
	CHECK(has(res.err, "checksum mismatch"), "diagnosis");
	CHECK(res.report[0] == 0, "something ran");

	run("truncated state", "relive", F_TRUNCATE, true, NULL, cmd);
	CHECK(res.code == 21, "exit %d", res.code);
	CHECK(has(res.err, "CPR state fd"), "diagnosis");

	run("state not sealed", "relive", F_UNSEALED, true, norb, cmd);
	CHECK(res.code == 21, "exit %d", res.code);
	CHECK(has(res.err, "(RELIVE_CPR_STATE): not sealed (seals: none; its writer seals "
			   "write, shrink, grow, seal)"), "diagnosis");
	CHECK(res.report[0] == 0, "something ran");

	run("state sealed differently", "relive", F_SEALED_DIFFERENTLY, true, norb, cmd);
	CHECK(res.code == 21, "exit %d", res.code);
	CHECK(has(res.err, "(RELIVE_CPR_STATE): sealed differently (seals: shrink, seal; its "
			   "writer seals write, shrink, grow, seal)"), "diagnosis");

	run("state not sealed, rollback", "relive", F_UNSEALED, true, NULL, cmd);
	CHECK(res.code == 21, "exit %d", res.code);
	CHECK(res.report[0] == 0, "the rollback command of a state refused was used");

	run("no state", "relive", F_NO_STATE, true, NULL, cmd);
	CHECK(res.code == 20, "exit %d", res.code);
	CHECK(has(res.err, "no CPR state"), "diagnosis");

	run("check", "relive", F_NONE, true, (const char *[]){ "--check", "-v", NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(res.report[0] == 0, "--check exec'd");
	CHECK(has(res.err, "fd 3 'ram0': memfd ok"), "verbose line");

	run("check failing", "relive", F_SHRINK_RAM0, true, (const char *[]){ "--check", NULL },
	    cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	CHECK(res.report[0] == 0, "--check exec'd or rolled back");
}

static void exec_error_cases(void)
{
	const char *norb[] = { "--no-rollback", NULL };
	char noexec[300], noformat[300], pathvar[4096];
	int fd;

	snprintf(noexec, sizeof(noexec), "%s/not-executable", dir);
	fd = open(noexec, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, "\x7f" "ELF", 4) == 4, "create");
	close(fd);
	run("EACCES", "relive", F_NONE, true, norb, (const char *[]){ noexec, NULL });
	CHECK(res.code == 24, "exit %d", res.code);
	CHECK(has(res.err, "EACCES"), "diagnosis");

	snprintf(noformat, sizeof(noformat), "%s/not-a-binary", dir);
	fd = open(noformat, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	CHECK(fd >= 0 && write(fd, "garbage\n", 8) == 8, "create");
	close(fd);
	run("ENOEXEC", "relive", F_NONE, true, norb, (const char *[]){ noformat, NULL });
	CHECK(res.code == 24, "exit %d", res.code);
	CHECK(has(res.err, "ENOEXEC"), "diagnosis");

	/* A bare name is looked up in PATH, skipping directories without it. */
	snprintf(pathvar, sizeof(pathvar), "/nonexistent:%s", RL_CHECKER_DIR);
	setenv("PATH", pathvar, 1);
	run("PATH lookup", "relive", F_NONE, true, NULL,
	    (const char *[]){ "relive-test-checker", "--new", NULL });
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --new"), "not found in PATH");
}

/* --help, --version and usage errors, with stdout captured in the report file. */
static void usage_cases(void)
{
	static const struct {
		const char *args;
		int code;
		const char *out; /* in stdout */
		const char *err; /* in stderr */
	} cases[] = {
		{ "--help", 0, "--strays=refuse", "" },
		{ "--help", 0, "--rollback-to=OLD", "" },
		{ "--version", 0, "relive-trampoline ", "" },
		{ "--bogus", 2, "", "unknown option '--bogus'" },
		{ "--strays=maybe -- /bin/true", 2, "", "--strays takes close, refuse or keep" },
		{ "--no-rollback", 2, "", "no command to exec" },
	};
	char cmd[8192];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status;

		cur_case = cases[i].args;
		snprintf(cmd, sizeof(cmd), "'%s' %s >'%s' 2>'%s'", tramp, cases[i].args,
			 out_path, err_path);
		status = system(cmd);
		res.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		slurp(err_path, res.err, sizeof(res.err));
		slurp(out_path, res.report, sizeof(res.report));
		CHECK(res.code == cases[i].code, "exit %d", res.code);
		CHECK(has(res.report, cases[i].out), "stdout");
		CHECK(has(res.err, cases[i].err), "stderr");
	}
}

static void qemu_cases(void)
{
	const char *cmd[] = { checker, "--qemu", NULL };
	const char *fx = "qemu-10.2-cpr-state.bin";
	const char *fb = "qemu-10.2-cpr-state-filebackend.bin";

	run("QEMU fixture", fx, F_NONE, false, (const char *[]){ "-v", NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "QEMU format, 6 fds"), "format not recognised");
	CHECK(has(res.report, "fd 10 /memfd:ram0") && has(res.report, "fd 19 /memfd:/rom@etc/acpi/rsdp"),
	      "fds lost");
	CHECK(has(res.report, "fd 21 /memfd:state"), "state memfd lost");
	CHECK(has(res.report, "state 21\n"), "QEMU's variable lost");
	CHECK(has(res.report, "stateoff 5\n"), "the state's file offset moved");
	CHECK(count_lines(res.report, "fd ") == 10, "fd count");

	run("QEMU file backend, stray closed", fb, F_NONE, false, NULL, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "stray fd 10 -> ") && has(res.err, "ram0-backend: closed"),
	      "leak not named");
	CHECK(!has(res.report, "fd 10 "), "the leaked fd crossed");
	CHECK(has(res.report, "fd 15 /memfd:pc.bios"), "fds lost");

	run("QEMU file backend, stray refused", fb, F_NONE, false,
	    (const char *[]){ "--strays=refuse", NULL }, cmd);
	CHECK(res.code == 23, "exit %d", res.code);
	CHECK(res.report[0] == 0, "the new binary ran");
}

/* QEMU's fds are judged by what they are, never by their name. */
static void qemu_fds_cases(void)
{
	const char *cmd[] = { checker, "--qemu", NULL };
	static const struct qemu_fd shm[] = {
		{ "ram0", 0, 10, Q_SHM }, { "pc.bios", 0, 15, Q_MEMFD },
	};
	static const struct qemu_fd vfio[] = {
		{ "ram0", 0, 10, Q_MEMFD },
		{ "0000:3b:00.0", 0, 22, Q_CHARDEV },
		{ "0000:3b:00.0_msix", 0, 23, Q_EVENTFD },
		{ "0000:3b:00.0_msix", 1, 24, Q_EVENTFD },
		{ "0000:3b:00.0_msi", 0, 25, Q_EVENTFD },
		{ "0000:3b:00.0_intx", 0, 26, Q_EVENTFD },
		{ "vfio_container_for_group", 42, 27, Q_CHARDEV },
		{ "iommufd0", 0, 28, Q_CHARDEV },
	};
	struct qemu_fd gone[sizeof(vfio) / sizeof(vfio[0])];
	char opt[4200];

	qemu_fds = shm;
	qemu_nfds = 2;
	run("QEMU shm backend", "qemu-fds", F_NONE, false, (const char *[]){ "-v", NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "QEMU format, 2 fds"), "format");
	CHECK(has(res.report, "fd 10 /dev/shm/relive-test-"), "the shm fd did not arrive");
	CHECK(has(res.report, "arg --qemu\n"), "the new binary did not run");

	qemu_fds = vfio;
	qemu_nfds = sizeof(vfio) / sizeof(vfio[0]);
	run("QEMU VFIO and iommufd, verbose", "qemu-fds", F_NONE, false,
	    (const char *[]){ "-v", NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "fd 22 /dev/null") && has(res.report, "fd 23 anon_inode:[eventfd]") &&
	      has(res.report, "fd 26 anon_inode:[eventfd]") && has(res.report, "fd 27 /dev/null") &&
	      has(res.report, "fd 28 /dev/null"), "an fd did not arrive");
	CHECK(has(res.err, "fd 27 'vfio_container_for_group' (id 42): any ok"), "not checked");

	run("QEMU VFIO and iommufd, --check", "qemu-fds", F_NONE, false,
	    (const char *[]){ "--check", NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(res.err[0] == 0, "stderr not empty");

	memcpy(gone, vfio, sizeof(vfio));
	gone[7].how = Q_NOT_OPEN;
	qemu_fds = gone;
	run("QEMU listed fd not open", "qemu-fds", F_NONE, false, NULL, cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	CHECK(has(res.err, "fd 28 'iommufd0': not open"), "diagnosis");
	CHECK(res.report[0] == 0, "the new binary ran");

	/* Started with 2 closed, QEMU took it for guest RAM: nothing may be written there. */
	{
		static const struct qemu_fd on2[] = {
			{ "ram0", 0, 2, Q_FILE }, { "pc.bios", 0, 15, Q_NOT_OPEN },
		};
		char path[300];
		struct stat sb;

		qemu_fds = on2;
		qemu_nfds = 2;
		run("QEMU guest RAM on fd 2", "qemu-fds", F_NONE, false,
		    (const char *[]){ "-v", NULL }, cmd);
		CHECK(res.code == 22, "exit %d", res.code);
		snprintf(path, sizeof(path), "%s/guest-ram", dir);
		CHECK(stat(path, &sb) == 0 && sb.st_size == 0,
		      "the trampoline wrote %lld bytes into guest RAM", (long long)sb.st_size);
		qemu_fds = gone;
		qemu_nfds = sizeof(vfio) / sizeof(vfio[0]);
	}

	/* The old QEMU, with the new one's arguments (its -incoming), and its fds. */
	snprintf(opt, sizeof(opt), "--rollback-to=%s", checker);
	run("QEMU listed fd not open, --rollback-to", "qemu-fds", F_NONE, false,
	    (const char *[]){ opt, NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "fd 28 'iommufd0': not open"), "diagnosis");
	CHECK(has(res.report, "arg --qemu\n") && has(res.report, "failed fd\n"), "not rolled back");
	CHECK(has(res.report, "fd 10 /memfd:ram0") && has(res.report, "fd 23 anon_inode:[eventfd]"),
	      "the rollback lost QEMU's fds");
	CHECK(has(res.report, "state 21\n") && has(res.report, "fd 21 /memfd:state"),
	      "the rollback lost QEMU's state");

	qemu_fds = vfio;
	run("QEMU new binary missing, --rollback-to", "qemu-fds", F_NONE, false,
	    (const char *[]){ opt, NULL },
	    (const char *[]){ "/nonexistent/qemu-system-x86_64", "-incoming", "defer", NULL });
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg -incoming\narg defer\n") && has(res.report, "failed exec\n"),
	      "not rolled back");
	CHECK(has(res.report, "fd 22 /dev/null") && has(res.report, "fd 28 /dev/null"),
	      "the rollback lost QEMU's fds");
}

/* --rollback-to: the old binary with the new one's arguments. */
static void rollback_to_cases(void)
{
	const char *missing[] = { "/nonexistent/relive-vm", "-incoming", "defer", NULL };
	const char *cmd[] = { checker, "--new", NULL };
	char opt[4200];

	snprintf(opt, sizeof(opt), "--rollback-to=%s", checker);

	run("--rollback-to, no rollback command in the state", "relive", F_NONE, false,
	    (const char *[]){ opt, NULL }, missing);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.err, "cannot exec /nonexistent/relive-vm: ENOENT"), "diagnosis");
	CHECK(has(res.err, "rolling back: exec "), "rollback not announced");
	CHECK(has(res.report, "arg -incoming\narg defer\n"), "NEW's arguments not passed on");
	CHECK(has(res.report, "failed exec\n"), "failure class");
	CHECK(has(res.report, "/memfd:ram0") && has(res.report, "/memfd:state"),
	      "rollback lost the preserved fds");

	run("--rollback-to after a failed check", "relive", F_CLOSE_RAM1, false,
	    (const char *[]){ opt, NULL }, cmd);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --new\n") && has(res.report, "failed fd\n"),
	      "not rolled back with NEW's arguments");

	/* The state's own command is the exact old one: it wins. */
	run("--rollback-to and the state's rollback command", "relive", F_NONE, true,
	    (const char *[]){ "--rollback-to=/nonexistent/other", NULL }, missing);
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --rolled-back\n"), "the state's command did not run");

	run("--rollback-to to nowhere", "relive", F_NONE, false,
	    (const char *[]){ "--rollback-to=/nonexistent/old", NULL }, missing);
	CHECK(res.code == 25, "exit %d", res.code);
	CHECK(has(res.err, "rollback failed: cannot exec /nonexistent/old: ENOENT"), "diagnosis");

	run("--rollback-to with --check", "relive", F_CLOSE_RAM1, false,
	    (const char *[]){ "--check", opt, NULL }, cmd);
	CHECK(res.code == 22, "exit %d", res.code);
	CHECK(res.report[0] == 0, "--check rolled back");

	run("--rollback-to with --no-rollback", "relive", F_NONE, false,
	    (const char *[]){ opt, "--no-rollback", NULL }, cmd);
	CHECK(res.code == 2, "exit %d", res.code);
	CHECK(has(res.err, "contradict"), "diagnosis");

	run("--rollback-to=", "relive", F_NONE, false,
	    (const char *[]){ "--rollback-to=", NULL }, cmd);
	CHECK(res.code == 2, "exit %d", res.code);
	CHECK(has(res.err, "--rollback-to needs"), "diagnosis");
}

/* A rollback that fails is the end: one rollback, then the failure's code. */
static void rollback_once_cases(void)
{
	const char *missing[] = { "/nonexistent/relive-vm", "-incoming", "defer", NULL };

	run("rollback through a failing trampoline", "relive", F_LOOP, true, NULL, missing);
	CHECK(res.code == 24, "exit %d (142: it looped until the alarm)", res.code);
	CHECK(count_lines(res.err, "relive-trampoline: rolling back") == 1,
	      "%d rollbacks", count_lines(res.err, "relive-trampoline: rolling back"));
	CHECK(has(res.err, "cannot exec /nonexistent/broken-relive-vm: ENOENT"), "diagnosis");
	CHECK(has(res.err, "not rolling back again: this is already the rollback of an "
			   "update that failed (RELIVE_TRAMPOLINE_FAILED=exec)"), "diagnosis");
	CHECK(res.report[0] == 0, "something ran");

	/* Left over in the environment of a VMM that rolled back: a later update still may. */
	setenv("RELIVE_TRAMPOLINE_FAILED", "fd", 1);
	setenv("RELIVE_TRAMPOLINE_ROLLBACK", "1:2", 1);
	run("rollback after an earlier rollback", "relive", F_NONE, true, NULL, missing);
	unsetenv("RELIVE_TRAMPOLINE_FAILED");
	unsetenv("RELIVE_TRAMPOLINE_ROLLBACK");
	CHECK(res.code == 0, "exit %d", res.code);
	CHECK(has(res.report, "arg --rolled-back\n") && has(res.report, "failed exec\n"),
	      "did not roll back");
}

static const struct {
	const char *name;
	void (*run)(void);
} groups[] = {
	{ "usage", usage_cases },
	{ "relive", relive_cases },
	{ "qemu-fixture", qemu_cases },
	{ "qemu-fds", qemu_fds_cases },
	{ "exec-errors", exec_error_cases },
	{ "rollback-to", rollback_to_cases },
	{ "rollback-once", rollback_once_cases },
};

int main(int argc, char **argv)
{
	static const char *const files[] = {
		"report", "stderr", "not-executable", "not-a-binary", "ram0-backend",
		"old-vmm", "new-vmm", "guest-ram",
	};
	char path[4200];

	close_range(3, ~0U, 0);
	tramp = getenv("RELIVE_TRAMPOLINE");
	checker = getenv("RELIVE_CHECKER");
	if (!tramp || !checker) {
		fprintf(stderr, "RELIVE_TRAMPOLINE and RELIVE_CHECKER must be set\n");
		return 1;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(out_path, sizeof(out_path), "%s/report", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
	setenv("RELIVE_CHECKER_OUT", out_path, 1);
	unsetenv(RL_CPR_ENV);
	unsetenv(RL_CPR_QEMU_ENV);

	/* The groups named on the command line, all of them without one. */
	for (unsigned g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		bool want = argc < 2;

		for (int i = 1; i < argc; i++)
			want |= !strcmp(argv[i], groups[g].name);
		if (want)
			groups[g].run();
	}

	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	CHECK(rmdir(dir) == 0, "temporary directory not empty: %s", strerror(errno));
	printf("ok\n");
	return 0;
}
