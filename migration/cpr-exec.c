// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpr-exec's exec step: the state memfd, the environment variable, close-on-exec
 * cleared on exactly the preserved descriptors, execvp, and the full undo when
 * execvp returns. Also the address-space holder that moves the kernel's
 * teardown of the old page tables out of execve and out of the pause.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpr-internal.h"
#include "../io/error-internal.h"

/* FD_CLOEXEC is the only fd flag: one call, no read first (this runs in the pause). */
static int set_cloexec(int fd, bool on)
{
	return fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0) < 0 ? -errno : 0;
}

int rl_cpr_preserve(const struct rl_cpr_state *s)
{
	for (uint32_t i = 0; i < s->nfds; i++) {
		int ret = set_cloexec(s->fds[i].fd, false);

		if (ret) {
			while (i--)
				set_cloexec(s->fds[i].fd, true);
			return ret;
		}
	}
	return 0;
}

void rl_cpr_unpreserve(const struct rl_cpr_state *s)
{
	for (uint32_t i = 0; i < s->nfds; i++)
		set_cloexec(s->fds[i].fd, true);
}

/* ------------------------------------------------- address-space holder */

#define HOLDER_STACK 4096

#if defined(__x86_64__)
/*
 * clone(CLONE_VM | SIGCHLD) whose child never returns into C: it shares
 * memory with a process about to exec, so it runs raw syscalls only and
 * touches neither its stack nor libc. The child asks for SIGKILL when its
 * parent thread dies, gives up unless that parent is still @parent, drops
 * its copy of every descriptor, and sleeps until killed.
 * Return: the child's pid or -errno.
 */
static long holder_clone(void *stack_top, long parent)
{
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	register long r12 __asm__("r12") = parent;
	long ret;

	__asm__ volatile(
		"syscall\n\t"                /* clone */
		"test %%rax, %%rax\n\t"
		"jnz 9f\n\t"
		"mov $157, %%eax\n\t"        /* prctl(PR_SET_PDEATHSIG, SIGKILL) */
		"mov $1, %%edi\n\t"
		"mov $9, %%esi\n\t"
		"syscall\n\t"
		"mov $110, %%eax\n\t"        /* getppid() == parent, or the parent is gone */
		"syscall\n\t"
		"cmp %%r12, %%rax\n\t"
		"jne 8f\n\t"
		"mov $436, %%eax\n\t"        /* close_range(0, ~0U, 0) */
		"xor %%edi, %%edi\n\t"
		"mov $-1, %%esi\n\t"
		"xor %%edx, %%edx\n\t"
		"syscall\n\t"
		"test %%rax, %%rax\n\t"
		"jnz 8f\n\t"
		"7: mov $34, %%eax\n\t"      /* pause() until SIGKILL */
		"syscall\n\t"
		"jmp 7b\n\t"
		"8: mov $60, %%eax\n\t"      /* exit(0) */
		"xor %%edi, %%edi\n\t"
		"syscall\n\t"
		"9:\n\t"
		: "=a"(ret)
		: "0"((long)SYS_clone), "D"((long)(CLONE_VM | SIGCHLD)),
		  "S"(stack_top), "d"(0L), "r"(r10), "r"(r8), "r"(r12)
		: "rcx", "r11", "memory");
	return ret;
}
#endif

struct holder {
	pid_t pid;
	void *stack;
};

static int holder_start(struct holder *h)
{
#if defined(__x86_64__)
	sigset_t all, old;
	long pid;

	h->stack = RL_FAILPOINT("cpr.exec.holder-mmap") ? MAP_FAILED : mmap(NULL, HOLDER_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (h->stack == MAP_FAILED) {
		h->stack = NULL;
		return -errno;
	}
	/*
	 * The child inherits this mask: with every signal blocked no handler
	 * of ours can ever run on its stack in the shared address space.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = holder_clone((char *)h->stack + HOLDER_STACK, getpid());
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		munmap(h->stack, HOLDER_STACK);
		h->stack = NULL;
		return (int)pid;
	}
	h->pid = (pid_t)pid;
	return 0;
#else
	return -ENOTSUP;
#endif
}

static void holder_stop(struct holder *h)
{
	if (h->pid <= 0)
		return;
	kill(h->pid, SIGKILL);
	while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
		;
	munmap(h->stack, HOLDER_STACK);
	h->pid = 0;
}

/* The holder rl_cpr_exec_hold() started for the next exec: one per process. */
static struct holder held;

int rl_cpr_exec_hold(void)
{
	int ret;

	if (held.pid > 0)
		return -EBUSY;
	ret = holder_start(&held);
	return ret < 0 ? ret : held.pid;
}

void rl_cpr_exec_unhold(void)
{
	holder_stop(&held);
}

int rl_cpr_exec_release_holder(const struct rl_cpr_state *s)
{
	siginfo_t si;
	uint64_t v;
	pid_t pid;

	if (rl_cpr_value_get(s, RL_CPR_V_HOLDER, &v) || !v || v > INT32_MAX)
		return -ENOENT;
	pid = (pid_t)v;
	/* Only a child of ours is killed, never whatever reused the number. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return -errno;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* ---------------------------------------------------------------- exec */

int rl_cpr_exec(struct rl_cpr_state *s, char *const argv[],
		const struct rl_cpr_exec_opts *opts, struct rl_error *err)
{
	struct holder h = { 0, NULL };
	char num[16];
	int sfd = -1, ret;

	if (!argv || !argv[0]) {
		rl_err_set(err, "cpr-exec: empty command");
		return -EINVAL;
	}
	rl_cpr_value_del(s, RL_CPR_V_HOLDER);
	/* Held or started here, it is this exec's to hand on or to end. */
	h = held;
	held = (struct holder){ 0, NULL };
	if (opts && opts->no_holder)
		holder_stop(&h);
	/* The holder only saves time: an update goes on without it. */
	else if ((h.pid > 0 || holder_start(&h) == 0) &&
		 rl_cpr_value_set(s, RL_CPR_V_HOLDER, (uint64_t)h.pid) < 0)
		holder_stop(&h);
	ret = rl_cpr_time_set(s, RL_CPR_T_EXEC, rl_cpr_now_ns());
	if (ret) {
		rl_err_set(err, "cpr-exec: no room for the exec timestamp");
		goto out_holder;
	}
	ret = rl_cpr_state_write_memfd(s, &sfd, err);
	if (ret)
		goto out_holder;
	snprintf(num, sizeof(num), "%d", sfd);
	if (setenv(RL_CPR_ENV, num, 1) < 0) {
		ret = -errno;
		rl_err_set(err, "cpr-exec: setenv %s: %s", RL_CPR_ENV, strerror(-ret));
		goto out_memfd;
	}
	if (!opts || !opts->rollback) {
		char *rb = rl_cpr_rollback_env_encode(s);

		ret = rb && setenv(RL_CPR_ROLLBACK_ENV, rb, 1) < 0 ? -errno : 0;
		free(rb);
		if (ret) {
			rl_err_set(err, "cpr-exec: setenv %s: %s", RL_CPR_ROLLBACK_ENV,
				   strerror(-ret));
			goto out_env;
		}
	}
	ret = rl_cpr_preserve(s);
	if (ret) {
		rl_err_set(err, "cpr-exec: clearing close-on-exec: %s", strerror(-ret));
		goto out_env;
	}
	ret = RL_FAILPOINT("cpr.exec.cloexec") ?: set_cloexec(sfd, false);
	if (ret) {
		rl_err_set(err, "cpr-exec: clearing close-on-exec on the state memfd: %s",
			   strerror(-ret));
		goto out_preserve;
	}

	/* Nothing may run between clearing close-on-exec and the exec. */
	if (!RL_FAILPOINT("cpr.exec"))
		execvp(argv[0], argv);
	ret = -errno;
	rl_err_set(err, "cpr-exec: cannot exec %s: %s", argv[0], strerror(-ret));

out_preserve:
	rl_cpr_unpreserve(s);
out_env:
	unsetenv(RL_CPR_ROLLBACK_ENV);
	unsetenv(RL_CPR_ENV);
out_memfd:
	close(sfd);
out_holder:
	holder_stop(&h);
	rl_cpr_value_del(s, RL_CPR_V_HOLDER);
	return ret;
}
