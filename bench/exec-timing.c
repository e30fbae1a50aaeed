// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Timing one exec from the outside (exec-timing.h): what `relive-bench
 * trampoline`, `cpr-exec` and `floor` share.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "exec-timing.h"

char *find_tool(const char *subdir, const char *name)
{
	char self[PATH_MAX], *dir, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		dir = g_path_get_dirname(self);
		p = g_build_filename(dir, "..", subdir, name, NULL);
		g_free(dir);
		if (access(p, X_OK) == 0)
			return p;
		g_free(p);
		dir = g_path_get_dirname(self);
		p = g_build_filename(dir, name, NULL);
		g_free(dir);
		if (access(p, X_OK) == 0)
			return p;
		g_free(p);
	}
	return g_find_program_in_path(name);
}

/*
 * The child hands us its time before the exec through the pipe; the probe
 * at the end writes its entry time (and the trampoline's variable) to the
 * same pipe.
 */
int timed_exec(char *const argv[], char *const envp[], struct rl_cpr_state *cpr,
	       const struct rl_cpr_exec_opts *opts, int (*prep)(void *), void *arg,
	       struct timed *out)
{
	char line[256];
	uint64_t t0, entry, te = 0, tx = 0;
	int p[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(p[1], 1);
		if (prep && prep(arg) < 0)
			_exit(89);
		t0 = rl_cpr_now_ns();
		if (write(1, &t0, sizeof(t0)) != sizeof(t0))
			_exit(90);
		if (cpr)
			rl_cpr_exec(cpr, argv, opts, NULL);
		else if (envp)
			execve(argv[0], argv, envp);
		else
			execv(argv[0], argv);
		_exit(91);
	}
	close(p[1]);
	while ((n = read(p[0], line + got, sizeof(line) - 1 - got)) > 0)
		got += n;
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/*
	 * A holder (the exec'd child's child) of rl_cpr_exec() comes to us as
	 * the subreaper; it is gone only once the kernel has freed the old
	 * address space, which must not overlap the next run. Without one,
	 * our other children (a VMM under test) are none of our business.
	 */
	while (cpr && (waitpid(-1, NULL, 0) > 0 || errno == EINTR))
		;
	if (got <= (ssize_t)sizeof(t0) || !WIFEXITED(status) || WEXITSTATUS(status))
		return -EIO;
	memcpy(&t0, line, sizeof(t0));
	line[got] = 0;
	if (sscanf(line + sizeof(t0), "%" SCNu64 " %" SCNu64 ",%" SCNu64, &entry, &te, &tx) < 1)
		return -EIO;
	out->total_ns = (double)(entry - t0);
	out->tramp_ns = tx > te ? (double)(tx - te) : 0;
	out->to_tramp_ns = te > t0 ? (double)(te - t0) : 0;
	return 0;
}

int exec_timing_state(int nfds, struct rl_cpr_state **stp, int *sfdp)
{
	struct rl_cpr_state *st = rl_cpr_state_new();
	char num[16];
	int sfd = -1;

	if (!st)
		return -ENOMEM;
	for (int i = 0; i < nfds; i++) {
		char name[32];
		int fd, sv[2];

		snprintf(name, sizeof(name), "block%d", i);
		if (i % 8 == 7 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
			fd = sv[0];
			close(sv[1]);
		} else {
			fd = memfd_create(name, 0);
			if (fd >= 0 && ftruncate(fd, 1 << 20) < 0) {
				close(fd);
				fd = -1;
			}
		}
		if (fd < 0 || rl_cpr_add_fd(st, name, 0, fd) < 0) {
			if (fd >= 0)
				close(fd);
			exec_timing_state_free(st, -1);
			return -EMFILE;
		}
	}
	if (rl_cpr_state_write_memfd(st, &sfd, NULL) < 0 || rl_cpr_preserve(st) < 0 ||
	    fcntl(sfd, F_SETFD, 0) < 0) {
		int err = -errno;

		exec_timing_state_free(st, sfd);
		return err ? err : -EIO;
	}
	snprintf(num, sizeof(num), "%d", sfd);
	setenv(RL_CPR_ENV, num, 1);
	*stp = st;
	*sfdp = sfd;
	return 0;
}

void exec_timing_state_free(struct rl_cpr_state *st, int sfd)
{
	if (sfd >= 0)
		close(sfd);
	unsetenv(RL_CPR_ENV);
	for (unsigned i = 0; st && i < rl_cpr_fd_count(st); i++)
		close(rl_cpr_fd_at(st, i, NULL, NULL));
	rl_cpr_state_free(st);
}
