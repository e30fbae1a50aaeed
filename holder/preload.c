// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-holder.so, loaded into QEMU with LD_PRELOAD: wraps execvp, execv,
 * execve and execvpe. For a cpr-exec (QEMU_CPR_EXEC_STATE in the environment
 * the new image gets) it leaves a holder task on the old address space before
 * the real exec, so that execve does not tear the old page tables down inside
 * the guest's pause; the holder does it once the new image runs the guest
 * (task.c). Any other exec passes straight through.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "holder.h"

#define EXPORT __attribute__((visibility("default")))

#define CPR_EXEC_VAR "QEMU_CPR_EXEC_STATE="
#define TIMEOUT_VAR "RELIVE_HOLDER_TIMEOUT_MS"
#define TIMEOUT_DEFAULT_MS 10000
#define TIMEOUT_MIN_MS 100
#define TIMEOUT_MAX_MS 600000
#define POLL_NS 2000000ull
#define INTERMEDIATE_STACK (16u << 10)
#define HOLDER_STACK (64u << 10)

extern char **environ;

typedef int (*execvp_fn)(const char *, char *const[]);
typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);

static execvp_fn real_execvp, real_execv;
static execve_fn real_execve;
static execvpe_fn real_execvpe;

static void resolve(void)
{
	real_execvp = (execvp_fn)dlsym(RTLD_NEXT, "execvp");
	real_execv = (execvp_fn)dlsym(RTLD_NEXT, "execv");
	real_execve = (execve_fn)dlsym(RTLD_NEXT, "execve");
	real_execvpe = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
}

/* Resolved at load time, not in the pause. */
__attribute__((constructor)) static void holder_init(void)
{
	resolve();
}

/* ------------------------------------------------------- starting it */

struct holder {
	void *map;
	size_t len;
	int pid;
	int pidfd;
};

static int is_cpr_exec(char *const envp[])
{
	for (; envp && *envp; envp++)
		if (!strncmp(*envp, CPR_EXEC_VAR, sizeof(CPR_EXEC_VAR) - 1))
			return 1;
	return 0;
}

/* The bound in ms, 0 when the holder is turned off. */
static long timeout_ms(void)
{
	const char *v = getenv(TIMEOUT_VAR);
	char *end;
	long ms;

	if (!v || !*v)
		return TIMEOUT_DEFAULT_MS;
	errno = 0;
	ms = strtol(v, &end, 10);
	if (errno || *end || ms < 0)
		return TIMEOUT_DEFAULT_MS;
	if (ms == 0)
		return 0;
	return ms < TIMEOUT_MIN_MS ? TIMEOUT_MIN_MS : ms > TIMEOUT_MAX_MS ? TIMEOUT_MAX_MS : ms;
}

/* The threads the image has now, so that the holder can tell when they are gone. */
static void old_threads(struct holder_args *a)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	a->nold = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && a->nold < HOLDER_MAX_OLD) {
		int tid = atoi(e->d_name);

		if (tid > 0 && tid != a->pid)
			a->old_tids[a->nold++] = tid;
	}
	closedir(d);
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

/*
 * Maps the tasks' memory, [guard][intermediate's stack][guard][holder's
 * stack][args], and clones the intermediate task, which clones the holder
 * and exits. Returns 0 with @h set, or -errno with nothing left behind.
 */
static int holder_start(struct holder *h)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t inter = round_up(INTERMEDIATE_STACK, page);
	size_t hold = round_up(HOLDER_STACK, page);
	size_t args = round_up(sizeof(struct holder_args), page);
	struct holder_args *a;
	struct timespec now;
	sigset_t all, old;
	siginfo_t si;
	long ms = timeout_ms();
	char *m;
	int ipid, err;

	if (!ms)
		return -ECANCELED;
	h->len = page + inter + page + hold + args;
	m = mmap(NULL, h->len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	if (mprotect(m, page, PROT_NONE) || mprotect(m + page + inter, page, PROT_NONE)) {
		err = -errno;
		munmap(m, h->len);
		return err;
	}
	h->map = m;
	a = (struct holder_args *)(m + page + inter + page + hold);
	a->pid = getpid();
	a->holder_pid = 0;
	a->pidfd = -1;
	old_threads(a);
	clock_gettime(CLOCK_MONOTONIC, &now);
	a->deadline_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec +
			 (uint64_t)ms * 1000000ull;
	a->poll_ns = POLL_NS;
	a->clone_fn = (holder_clone_fn)clone;
	a->holder_stack_top = m + page + inter + page + hold;

	/*
	 * Both tasks inherit this mask: with every signal blocked, no handler
	 * of the process ever runs on their stacks or in their context.
	 * Exit signal 0: the process gets no SIGCHLD for a child it did not
	 * make, and only a __WCLONE wait (this one) reaps it.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ipid = clone(holder_intermediate_main, m + page + inter, CLONE_VM, a);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ipid < 0) {
		munmap(m, h->len);
		return -err;
	}
	while (waitid(P_PID, (id_t)ipid, &si, WEXITED | __WCLONE) < 0 && errno == EINTR)
		;
	h->pid = __atomic_load_n(&a->holder_pid, __ATOMIC_ACQUIRE);
	if (h->pid <= 0) {
		munmap(m, h->len);
		return -ECHILD;
	}
	h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
	return 0;
}

/*
 * The exec failed: the process goes on with its address space, so the
 * holder goes now. Its memory is unmapped once it has exited, never while
 * it might still run on it.
 */
static void holder_let_go(struct holder *h)
{
	struct pollfd p = { .fd = h->pidfd, .events = POLLIN };

	if (h->pidfd < 0) {
		kill(h->pid, SIGKILL);
		return;
	}
	syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0);
	while (poll(&p, 1, 1000) < 0 && errno == EINTR)
		;
	close(h->pidfd);
	if (p.revents & POLLIN)
		munmap(h->map, h->len);
}

/* ------------------------------------------------------- the wrappers */

enum exec_kind { EXEC_VP, EXEC_V, EXEC_VE, EXEC_VPE };

static int exec_held(enum exec_kind kind, const char *file, char *const argv[],
		     char *const envp[])
{
	struct holder h;
	int held, ret, err;

	if (!real_execvp || !real_execv || !real_execve || !real_execvpe)
		resolve();
	if (!real_execvp || !real_execv || !real_execve || !real_execvpe) {
		errno = ENOSYS;
		return -1;
	}
	held = is_cpr_exec(envp) && holder_start(&h) == 0;
	switch (kind) {
	case EXEC_VP:
		ret = real_execvp(file, argv);
		break;
	case EXEC_V:
		ret = real_execv(file, argv);
		break;
	case EXEC_VE:
		ret = real_execve(file, argv, envp);
		break;
	default:
		ret = real_execvpe(file, argv, envp);
		break;
	}
	err = errno;
	if (held)
		holder_let_go(&h);
	errno = err;
	return ret;
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return exec_held(EXEC_VP, file, argv, environ);
}

EXPORT int execv(const char *path, char *const argv[])
{
	return exec_held(EXEC_V, path, argv, environ);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_held(EXEC_VE, path, argv, envp);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return exec_held(EXEC_VPE, file, argv, envp);
}
