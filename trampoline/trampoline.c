// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-trampoline: the cpr-exec-command prefix. Inside the guest's pause it
 * reads the CPR state (relive's or QEMU's), verifies every preserved fd,
 * deals with stray inherited fds, and execs the new VMM, or the old one
 * (rollback) when anything is wrong. Static, no allocation: all storage is
 * fixed and in .bss. docs/trampoline.md is the user's side of this file.
 */
#include <errno.h>
#include <fcntl.h>

#include "cpr-internal.h"
#include "failpoint.h"
#include "lib.h"
#include "sys.h"

#define TRAMP_VERSION "relive-trampoline " RELIVE_VERSION "\n"

/* Set for a rollback: the failure class, and which CPR state it failed on. */
#define FAILED_ENV "RELIVE_TRAMPOLINE_FAILED"
#define ROLLBACK_ENV "RELIVE_TRAMPOLINE_ROLLBACK"

/* Exit codes, one per failure class (docs/trampoline.md). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 2,
	EXIT_STATE_MISSING = 20,
	EXIT_STATE_CORRUPT = 21,
	EXIT_FD_BAD = 22,
	EXIT_STRAY = 23,
	EXIT_EXEC = 24,
	EXIT_ROLLBACK = 25,
};

static const char *class_name(int code)
{
	switch (code) {
	case EXIT_STATE_MISSING: return "state-missing";
	case EXIT_STATE_CORRUPT: return "state-corrupt";
	case EXIT_FD_BAD: return "fd";
	case EXIT_STRAY: return "stray";
	case EXIT_EXEC: return "exec";
	default: return "other";
	}
}

enum strays { STRAYS_CLOSE, STRAYS_REFUSE, STRAYS_KEEP };
enum rollback { ROLLBACK_AUTO, ROLLBACK_ON, ROLLBACK_OFF };

struct opts {
	enum strays strays;
	enum rollback rollback;
	bool check;
	bool verbose;
	const char *rollback_to; /* --rollback-to=PATH, or NULL */
	char **cmd; /* NULL-terminated, from argv */
};

#define MAX_ENV 16384
#define FD_BITS 65536

static struct rl_cpr_state state;
static uint8_t state_buf[256 * 1024];
static uint64_t listed[FD_BITS / 64];
static char *new_env[MAX_ENV + 4];
static char *rb_argv[RL_CPR_MAX_ARGS + 1];
static char t_env[64];
static char fail_env[64];
static char rb_env[80];
/*
 * "DEV:INO" of the CPR state memfd, "" without one. Nothing here is
 * initialised to anything but zero: a .data section would cost the file a
 * page of padding.
 */
static char state_id[48];
static char path_buf[4096];
static char link_buf[4096];
static int state_fd; /* 0 until known: never a stray either way */

static void msg(const char *a, const char *b, const char *c)
{
	t_err("relive-trampoline: ");
	t_err(a);
	if (b)
		t_err(b);
	if (c)
		t_err(c);
	t_err("\n");
	t_flush();
}

/* Ends a line begun with t_err(): no prefix. */
static void endl(const char *a, const char *b, const char *c)
{
	t_err(a);
	if (b)
		t_err(b);
	if (c)
		t_err(c);
	t_err("\n");
	t_flush();
}

static const char *fd_link(int fd)
{
	char p[40] = "/proc/self/fd/";
	long n;

	t_u64(p + 14, (uint64_t)fd);
	n = sys_readlinkat(AT_FDCWD, p, link_buf, sizeof(link_buf) - 1);
	if (n < 0)
		return NULL;
	link_buf[n] = 0;
	return link_buf;
}

static void usage(void)
{
	t_err("usage: relive-trampoline [OPTIONS] [--] COMMAND [ARGS...]\n"
	      "\n"
	      "Run as the first word of cpr-exec-command. Reads the CPR state named by\n"
	      "RELIVE_CPR_STATE (or QEMU_CPR_EXEC_STATE), verifies every preserved fd,\n"
	      "handles stray inherited fds, then execs COMMAND (looked up in PATH).\n"
	      "\n"
	      "  --strays=close    close inherited fds the state does not list (default)\n"
	      "  --strays=refuse   treat any such fd as a failure\n"
	      "  --strays=keep     leave them open\n"
	      "  --rollback        on failure exec the state's rollback command\n"
	      "                    (default when the state carries one)\n"
	      "  --rollback-to=OLD on failure, when the state carries no rollback\n"
	      "                    command (QEMU's never does), exec OLD with\n"
	      "                    COMMAND's ARGS\n"
	      "  --no-rollback     on failure exit with the failure's code\n"
	      "  --check           verify and report, do not exec (or close anything)\n"
	      "  -v, --verbose     name each fd as it is checked\n"
	      "  -h, --help        this text\n"
	      "  --version         the version\n"
	      "\n"
	      "Exit codes (with --no-rollback or --check, when there is nothing to roll\n"
	      "back to, or when this trampoline already is a rollback that failed):\n"
	      "   0  --check: all fine\n"
	      "   2  usage error\n"
	      "  20  CPR state missing (no variable, or its fd is not open)\n"
	      "  21  CPR state corrupt, truncated, or (relive's) not sealed as written\n"
	      "  22  a preserved fd is missing or is not what the state records\n"
	      "  23  a stray fd was found with --strays=refuse\n"
	      "  24  COMMAND could not be executed\n"
	      "  25  the rollback command could not be executed either\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	o->strays = STRAYS_CLOSE;
	o->rollback = ROLLBACK_AUTO;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (t_streq(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if ((v = t_after(a, "--strays="))) {
			if (t_streq(v, "close"))
				o->strays = STRAYS_CLOSE;
			else if (t_streq(v, "refuse"))
				o->strays = STRAYS_REFUSE;
			else if (t_streq(v, "keep"))
				o->strays = STRAYS_KEEP;
			else {
				msg("--strays takes close, refuse or keep, not '", v, "'");
				return EXIT_USAGE;
			}
		} else if (t_streq(a, "--rollback")) {
			o->rollback = ROLLBACK_ON;
		} else if ((v = t_after(a, "--rollback-to="))) {
			if (!*v) {
				msg("--rollback-to needs the path of the old binary", NULL, NULL);
				return EXIT_USAGE;
			}
			o->rollback_to = v;
		} else if (t_streq(a, "--no-rollback")) {
			o->rollback = ROLLBACK_OFF;
		} else if (t_streq(a, "--check")) {
			o->check = true;
		} else if (t_streq(a, "-v") || t_streq(a, "--verbose")) {
			o->verbose = true;
		} else if (t_streq(a, "-h") || t_streq(a, "--help")) {
			usage();
			t_flush_fd(1);
			return -1;
		} else if (t_streq(a, "--version")) {
			sys_write(1, TRAMP_VERSION, sizeof(TRAMP_VERSION) - 1);
			return -1;
		} else {
			msg("unknown option '", a, "' (try --help)");
			return EXIT_USAGE;
		}
	}
	o->cmd = argv + i;
	if (o->rollback_to && o->rollback == ROLLBACK_OFF) {
		msg("--rollback-to and --no-rollback contradict each other", NULL, NULL);
		return EXIT_USAGE;
	}
	if (!o->check && i >= argc) {
		msg("no command to exec (try --help)", NULL, NULL);
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * A VMM started with 2 closed may have preserved a guest memfd as fd 2: then
 * stderr is guest memory, and the trampoline writes nothing more to it.
 */
static void mute_if_stderr_preserved(void)
{
	for (uint32_t i = 0; i < state.nfds; i++)
		if (state.fds[i].fd == 2)
			t_err_muted = true;
}

/* Appends the names of the seals in @seals: "write, shrink, grow, seal". */
static void seal_names(long seals)
{
	static const struct { long bit; const char *name; } names[] = {
		{ F_SEAL_WRITE, "write" }, { F_SEAL_SHRINK, "shrink" },
		{ F_SEAL_GROW, "grow" }, { F_SEAL_SEAL, "seal" },
		{ F_SEAL_FUTURE_WRITE, "future-write" }, { 0x20 /* F_SEAL_EXEC */, "exec" },
	};
	bool first = true;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (seals & names[i].bit) {
			t_err(first ? "" : ", ");
			t_err(names[i].name);
			first = false;
		}
	if (first)
		t_err("none");
}

/*
 * A relive state memfd is sealed by its writer against every change; one
 * that is not (or differently) could have been changed after it was written.
 */
static int check_seals(const char *var)
{
	long seals = sys_fcntl(state_fd, F_GET_SEALS, 0);

	if (seals == RL_CPR_STATE_SEALS)
		return 0;
	t_err("relive-trampoline: CPR state fd ");
	t_err_num(state_fd);
	t_err(" (");
	t_err(var);
	if (seals < 0) {
		endl("): not a sealable memfd: ", t_strerror((int)-seals), NULL);
		return EXIT_STATE_CORRUPT;
	}
	t_err(seals ? "): sealed differently (seals: " : "): not sealed (seals: ");
	seal_names(seals);
	t_err("; its writer seals ");
	seal_names(RL_CPR_STATE_SEALS);
	endl(")", NULL, NULL);
	return EXIT_STATE_CORRUPT;
}

/* Step 1: find and parse the CPR state; pread leaves the offset for the VMM. */
static int load_state(char **envp, bool verbose)
{
	struct rl_cpr_diag diag = { 0, "" };
	const char *var = RL_CPR_ENV, *val;
	struct stat st;
	size_t off = 0;
	char num[22], *p;
	long n;
	int ret;

	val = t_getenv(envp, RL_CPR_ENV);
	if (!val) {
		var = RL_CPR_QEMU_ENV;
		val = t_getenv(envp, RL_CPR_QEMU_ENV);
	}
	if (!val) {
		msg("no CPR state: neither " RL_CPR_ENV " nor " RL_CPR_QEMU_ENV " is set",
		    NULL, NULL);
		return EXIT_STATE_MISSING;
	}
	if (t_parse_int(val, &state_fd)) {
		t_err("relive-trampoline: ");
		t_err(var);
		endl("=", val, ": not a descriptor number");
		return EXIT_STATE_MISSING;
	}
	if (sys_fstat(state_fd, &st) < 0) {
		t_err("relive-trampoline: CPR state fd ");
		t_err_num(state_fd);
		endl(" (", var, "): not open");
		return EXIT_STATE_MISSING;
	}
	p = t_u64(state_id, st.st_dev);
	p += t_strlen(p);
	*p++ = ':';
	t_u64(p, st.st_ino);
	if (st.st_size > (long)sizeof(state_buf)) {
		t_err("relive-trampoline: CPR state fd ");
		t_err_num(state_fd);
		endl(": larger than any valid state", NULL, NULL);
		return EXIT_STATE_CORRUPT;
	}
	while (off < (size_t)st.st_size) {
		n = sys_pread(state_fd, state_buf + off, (size_t)st.st_size - off, (long)off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	ret = rl_cpr_state_parse(state_buf, off, &state, &diag);
	if (ret) {
		/* Nothing of a state that failed to parse is used, not even its rollback. */
		rl_cpr_state_init(&state);
		t_err("relive-trampoline: CPR state fd ");
		t_err_num(state_fd);
		t_err(" (");
		t_err(var);
		t_err("): offset ");
		t_err_num((long)diag.offset);
		endl(": ", diag.what, ret == -EBADMSG ? " (corrupt)" : "");
		return EXIT_STATE_CORRUPT;
	}
	mute_if_stderr_preserved();
	if (state.format == RL_CPR_FORMAT_RELIVE && (ret = check_seals(var))) {
		rl_cpr_state_init(&state);
		return ret;
	}
	if (verbose) {
		t_err("relive-trampoline: CPR state fd ");
		t_err_num(state_fd);
		t_err(": ");
		t_err(state.format == RL_CPR_FORMAT_QEMU ? "QEMU" : "relive");
		t_err(" format, ");
		t_err(t_u64(num, state.nfds));
		t_err(" fds");
		if (state.qemu_tail) {
			t_err(", ");
			t_err_num(state.qemu_tail);
			t_err(" bytes after the fd list not understood (ignored)");
		}
		endl("", NULL, NULL);
	}
	return 0;
}

/* Begins a line about @f: "relive-trampoline: fd 10 'name' (id 1)". */
static void fd_begin(const struct rl_cpr_fd *f)
{
	t_err("relive-trampoline: fd ");
	t_err_num(f->fd);
	t_err(" '");
	t_err(f->name);
	t_err("'");
	if (f->id) {
		t_err(" (id ");
		t_err_num(f->id);
		t_err(")");
	}
}

static void fd_fail(const struct rl_cpr_fd *f, const char *what)
{
	fd_begin(f);
	endl(": ", what, NULL);
}

/* Step 2: every preserved fd open, close-on-exec clear, and the recorded file. */
static int verify_fds(bool verbose, bool thorough)
{
	int bad = 0;

	for (uint32_t i = 0; i < state.nfds; i++) {
		const struct rl_cpr_fd *f = &state.fds[i];
		struct rl_cpr_fd_seen seen = { 0, 0, 0, 0, false, false, NULL };
		const char *why = NULL;
		struct stat st;
		long fl;

		/*
		 * The exec into the trampoline closed every fd that still had
		 * close-on-exec set, so fstat failing is the one check needed in
		 * the pause; --check and --verbose ask for the flag as well.
		 */
		if (sys_fstat(f->fd, &st) < 0) {
			fd_fail(f, "not open (closed, or close-on-exec was still set at exec)");
			bad++;
			continue;
		}
		if (thorough) {
			fl = sys_fcntl(f->fd, F_GETFD, 0);
			if (fl < 0 || (fl & FD_CLOEXEC)) {
				fd_fail(f, "close-on-exec is set: it would not survive the exec");
				bad++;
				continue;
			}
		}
		if (f->fd < FD_BITS)
			listed[f->fd / 64] |= 1ull << (f->fd % 64);
		seen.st_mode = st.st_mode;
		seen.dev = st.st_dev;
		seen.ino = st.st_ino;
		seen.size = (uint64_t)st.st_size;
		if (f->kind == RL_CPR_FD_MEMFD && (thorough || !(f->flags & RL_CPR_FD_HAS_STAT))) {
			seen.seals_known = true;
			seen.seals_ok = sys_fcntl(f->fd, F_GET_SEALS, 0) >= 0;
		}
		/*
		 * Device and inode already pin a memfd or a socket; only KVM's
		 * anonymous inodes (all one inode) need the link. QEMU's entries
		 * record no kind: open (and inheritable) is all that is known.
		 */
		if (f->kind == RL_CPR_FD_KVM || verbose)
			seen.link = fd_link(f->fd);
		why = rl_cpr_fd_check(f, &seen);
		if (why) {
			fd_fail(f, why);
			bad++;
		} else if (verbose) {
			fd_begin(f);
			t_err(": ");
			t_err(rl_cpr_kind_name(f->kind));
			t_err(" ok -> ");
			endl(seen.link ? seen.link : "?", NULL, NULL);
		}
	}
	return bad ? EXIT_FD_BAD : 0;
}

static bool is_listed(int fd)
{
	if (fd < FD_BITS)
		return listed[fd / 64] & (1ull << (fd % 64));
	for (uint32_t i = 0; i < state.nfds; i++)
		if (state.fds[i].fd == fd)
			return true;
	return false;
}

static void stray(int fd, enum strays policy, bool check)
{
	const char *l = fd_link(fd);

	t_err("relive-trampoline: stray fd ");
	t_err_num(fd);
	t_err(" -> ");
	t_err(l ? l : "?");
	if (policy == STRAYS_CLOSE && !check) {
		sys_close(fd);
		endl(": closed", NULL, NULL);
	} else if (policy == STRAYS_REFUSE) {
		endl(": refused", NULL, NULL);
	} else {
		endl(check && policy == STRAYS_CLOSE ? ": would be closed" : ": kept", NULL, NULL);
	}
}

static bool is_stray(int fd, int dir)
{
	return fd > 2 && fd != dir && fd != state_fd && !is_listed(fd);
}

/*
 * The open fds, without listing /proc/self/fd: a listing makes procfs build
 * a dentry and an inode for every open fd, which was most of the
 * trampoline's time. The kernel gives the number of open fds as the size of
 * /proc/self/fd (Linux 6.2 on), and ppoll() answers POLLNVAL for the fd
 * numbers that are not open, a block of numbers per call.
 * Return: how many fds were found (into @fds), or -1 when the kernel gives
 * no count or there are more than fit: then the directory is listed.
 */
static int open_fds_by_poll(int *fds, int cap)
{
	static struct { int fd; short events, revents; } pfd[256];
	static const struct timespec now;
	struct stat st;
	long want;
	int found = 0;

	if (sys_fstatat(AT_FDCWD, "/proc/self/fd", &st, 0) < 0 || st.st_size <= 0 ||
	    st.st_size > cap)
		return -1;
	want = st.st_size;
	for (int base = 0; found < want && base < (1 << 20); base += 256) {
		for (int i = 0; i < 256; i++) {
			pfd[i].fd = base + i;
			pfd[i].events = 0;
			pfd[i].revents = 0;
		}
		if (sys_ppoll(pfd, 256, &now) < 0)
			return -1;
		for (int i = 0; i < 256 && found < cap; i++)
			if (!(pfd[i].revents & 0x20 /* POLLNVAL */))
				fds[found++] = base + i;
	}
	return found == want ? found : -1;
}

/* Step 3: inherited fds the state does not list. */
static int handle_strays(enum strays policy, bool check)
{
	static uint8_t dents[16384];
	static int fds[4096];
	int dir, n_open, strays = 0;
	long n;

	n_open = open_fds_by_poll(fds, 4096);
	if (n_open >= 0) {
		for (int i = 0; i < n_open; i++)
			if (is_stray(fds[i], -1)) {
				strays++;
				stray(fds[i], policy, check);
			}
		return strays && policy == STRAYS_REFUSE ? EXIT_STRAY : 0;
	}
	dir = (int)sys_openat(AT_FDCWD, "/proc/self/fd",
			      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) {
		msg("cannot list /proc/self/fd: ", t_strerror((int)-dir),
		    "; strays not checked");
		return policy == STRAYS_REFUSE ? EXIT_STRAY : 0;
	}
	while ((n = sys_getdents64(dir, dents, sizeof(dents))) > 0) {
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			uint16_t reclen;
			const char *name = (const char *)dents + off + 19;
			int fd;

			memcpy(&reclen, dents + off + 16, sizeof(reclen));
			off += reclen;
			if (t_parse_int(name, &fd) || !is_stray(fd, dir))
				continue;
			strays++;
			stray(fd, policy, check);
		}
	}
	sys_close(dir);
	return strays && policy == STRAYS_REFUSE ? EXIT_STRAY : 0;
}

/*
 * Environment for the next binary: ours, less the trampoline's own
 * variables, plus @a, @b and @c ("NAME=...", each may be NULL). A rollback
 * also loses the copy of the rollback command: the old binary must not
 * roll back to itself when it cannot read the state either.
 * Return: NULL when there are more variables than fit (nothing is dropped).
 */
static char **make_env(char **envp, bool rollback, char *a, char *b, char *c)
{
	size_t n = 0;

	for (; *envp; envp++) {
		if (n == MAX_ENV)
			return NULL;
		if (t_after(*envp, RL_CPR_TRAMPOLINE_ENV "=") ||
		    t_after(*envp, FAILED_ENV "=") || t_after(*envp, ROLLBACK_ENV "=") ||
		    (rollback && t_after(*envp, RL_CPR_ROLLBACK_ENV "=")))
			continue;
		new_env[n++] = *envp;
	}
	if (a)
		new_env[n++] = a;
	if (b)
		new_env[n++] = b;
	if (c)
		new_env[n++] = c;
	new_env[n] = NULL;
	return new_env;
}

static void set_times(uint64_t entry)
{
	char *p = t_env;
	const char *k = RL_CPR_TRAMPOLINE_ENV "=";

	while (*k)
		*p++ = *k++;
	t_u64(p, entry);
	p += t_strlen(p);
	*p++ = ',';
	t_u64(p, t_now());
}

/* execvp without a shell fallback. Return: the errno that stopped it. */
static int exec_path(char **argv, char **envp)
{
	const char *path, *dir;
	int err = ENOENT;
	bool eacces = false;
	size_t flen = t_strlen(argv[0]);

	for (const char *c = argv[0]; *c; c++)
		if (*c == '/')
			return (int)-sys_execve(argv[0], argv, envp);
	if (!flen)
		return ENOENT;
	path = t_getenv(envp, "PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (dir = path;; dir++) {
		const char *end = dir;
		size_t dlen;

		while (*end && *end != ':')
			end++;
		dlen = (size_t)(end - dir);
		if (dlen + 1 + flen + 1 <= sizeof(path_buf)) {
			size_t k = 0;

			if (dlen) {
				memcpy(path_buf, dir, dlen);
				k = dlen;
				path_buf[k++] = '/';
			}
			memcpy(path_buf + k, argv[0], flen + 1);
			err = (int)-sys_execve(path_buf, argv, envp);
			if (err == EACCES)
				eacces = true;
			else if (err != ENOENT && err != ENOTDIR)
				return err;
		}
		if (!*end)
			break;
		dir = end;
	}
	return eacces ? EACCES : err;
}

/* @buf = @name "=" @value. Return: @buf. */
static char *env_var(char *buf, const char *name, const char *value)
{
	char *p = buf;

	while (*name)
		*p++ = *name++;
	*p++ = '=';
	while (*value)
		*p++ = *value++;
	*p = 0;
	return buf;
}

/*
 * Execs @argv as the rollback, with the failure class and the state it
 * failed on in the environment: through @exe, the old executable's own fd,
 * when there is one (its path may hold another binary by now), else by path.
 * Return: only on failure.
 */
static int rollback(char **argv, int exe, char **envp, int code, uint64_t entry)
{
	char num[22];
	char **env;
	int err;

	t_err("relive-trampoline: rolling back: exec ");
	t_err(argv[0]);
	if (exe >= 0) {
		t_err(" through fd ");
		t_err(t_u64(num, (uint64_t)exe));
	}
	endl("", NULL, NULL);
	set_times(entry);
	env = make_env(envp, true, t_env, env_var(fail_env, FAILED_ENV, class_name(code)),
		       env_var(rb_env, ROLLBACK_ENV, state_id[0] ? state_id : "-"));
	if (env && exe >= 0) {
		err = (int)-sys_execveat(exe, "", argv, env, AT_EMPTY_PATH);
		t_err("relive-trampoline: cannot exec fd ");
		t_err(t_u64(num, (uint64_t)exe));
		endl(": ", t_strerror(err), "; trying its path");
	}
	err = env ? exec_path(argv, env) : E2BIG;
	t_err("relive-trampoline: rollback failed: cannot exec ");
	t_err(argv[0]);
	endl(": ", t_strerror(err), NULL);
	return EXIT_ROLLBACK;
}

/*
 * A failure: the state's own rollback command when it carries one (written
 * by the process being replaced, it is the exact old command), else
 * --rollback-to with COMMAND's arguments, else the failure's exit code.
 */
static int failed(const struct opts *o, char **envp, int code, uint64_t entry)
{
	const char *prev = t_getenv(envp, ROLLBACK_ENV);

	if (o->check || o->rollback == ROLLBACK_OFF || code == EXIT_USAGE)
		return code;
	/*
	 * A rollback through a trampoline that fails as well must not roll back
	 * again: that would loop, exec after exec. It is the same CPR state;
	 * a later update after a rollback has a new one (its environment may
	 * still carry the variables) and may roll back.
	 */
	if (prev && t_getenv(envp, FAILED_ENV) && t_streq(prev, state_id[0] ? state_id : "-")) {
		t_err("relive-trampoline: not rolling back again: this is already the "
		      "rollback of an update that failed (" FAILED_ENV "=");
		endl(t_getenv(envp, FAILED_ENV), ")", NULL);
		return code;
	}
	if (state.argc) {
		size_t off = 0;

		for (uint32_t i = 0; i < state.argc && off < state.argv_len; i++) {
			rb_argv[i] = state.argv + off;
			off += t_strlen(state.argv + off) + 1;
		}
		rb_argv[state.argc] = NULL;
		return rollback(rb_argv, rl_cpr_rollback_exe(&state), envp, code, entry);
	}
	if (o->rollback_to && o->cmd[0]) {
		/* The old binary takes the new one's arguments: its -incoming reloads. */
		o->cmd[0] = (char *)o->rollback_to;
		return rollback(o->cmd, -1, envp, code, entry);
	}
	if (o->rollback == ROLLBACK_ON)
		msg("cannot roll back: the CPR state carries no rollback command",
		    " (--rollback-to names one for a state that has none)", NULL);
	return code;
}

/*
 * A closed 0, 1 or 2 gets /dev/null: otherwise the next file the trampoline
 * or the new VMM opens takes that number, and a later message to stderr
 * lands in it (a guest memfd, say).
 */
static void std_fds_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (sys_fcntl(fd, F_GETFD, 0) == -EBADF)
			/* The lowest free number: @fd, as those below it are open. */
			sys_openat(AT_FDCWD, "/dev/null", O_RDWR);
}

int tramp_main(int argc, char **argv, char **envp)
{
	uint64_t entry = t_now();
	struct opts o = { STRAYS_CLOSE, ROLLBACK_AUTO, false, false, NULL, NULL };
	char **env;
	int ret, err;

	/* Before anything else: anything may write to stderr. */
	std_fds_open();
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;

	tramp_failpoint(envp, "trampoline.entry");
	ret = load_state(envp, o.verbose);
	if (ret)
		return failed(&o, envp, ret, entry);
	ret = verify_fds(o.verbose, o.check || o.verbose);
	if (ret)
		return failed(&o, envp, ret, entry);
	ret = handle_strays(o.strays, o.check);
	if (ret)
		return failed(&o, envp, ret, entry);
	if (o.check) {
		if (o.verbose)
			msg("check passed", NULL, NULL);
		return EXIT_OK;
	}

	/* Should be the last thing before execve(): the exec timestamp. */
	set_times(entry);
	env = make_env(envp, false, t_env, NULL, NULL);
	err = env ? exec_path(o.cmd, env) : E2BIG;
	t_err("relive-trampoline: cannot exec ");
	t_err(o.cmd[0]);
	endl(": ", t_strerror(err), NULL);
	return failed(&o, envp, EXIT_EXEC, entry);
}
