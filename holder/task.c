// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The two tasks that share the old address space (CLONE_VM) with a process
 * about to exec: the intermediate task, which exists only to make the holder
 * an orphan, and the holder, which watches /proc/PID/task until the new image
 * runs its vCPUs (or a time bound passes) and then exits, tearing the old
 * address space down in its own context. Both run on stacks of their own in
 * memory nobody else touches, with every signal blocked, and call no libc:
 * the process they share memory with is running (its errno, locks and
 * lazily bound symbols are its own), so they use raw system calls only and
 * write nothing shared but the two fields of struct holder_args meant for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "holder.h"

/* --------------------------------------------------------- raw syscalls */

#if defined(__x86_64__)
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;

	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#else
/* Raw system calls are written for x86_64 and aarch64: elsewhere no holder is made. */
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	return -ENOSYS;
}
#endif

#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (sys2(SYS_clock_gettime, CLOCK_MONOTONIC, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------- helpers */

static void zero(void *p, size_t n)
{
	volatile unsigned char *c = p;

	while (n--)
		*c++ = 0;
}

/* Writes @v in decimal at @p; returns the end. */
static char *put_uint(char *p, unsigned long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

/* Parses a decimal number at *@s, moving past it; -1 when there is none. */
static long long get_uint(const char **s)
{
	const char *p = *s;
	long long v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (*p++ - '0');
	*s = p;
	return v;
}

/* Reads a small /proc file below @dirfd into @buf, NUL-terminated; 0 or -1. */
static int read_at(int dirfd, const char *name, char *buf, long cap)
{
	long fd = sys4(SYS_openat, dirfd, name, O_RDONLY | O_CLOEXEC, 0);
	long n;

	if (fd < 0)
		return -1;
	n = sys3(SYS_read, fd, buf, cap - 1);
	sys1(SYS_close, fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* ------------------------------------------------------ watching threads */

#define MAX_THREADS 256

struct thread {
	int tid;
	int live;	    /* listed in the last look */
	int idle_seen;	    /* seen asleep, with no CPU time since the look before */
	uint64_t runtime;   /* ns on a CPU */
};

struct watch {
	int exec_seen;	    /* every old thread has gone: the exec has happened */
	int vcpu_ran;	    /* a new thread ran after it had been seen idle */
	int main_idle;	    /* consecutive looks with the main thread asleep and idle */
	int main_known;
	uint64_t main_runtime;
	int n;
	struct thread t[MAX_THREADS];
};

struct sample {
	char state;	    /* as in /proc/PID/stat: R, S, D, ... */
	uint64_t runtime;
};

/*
 * One thread's state and CPU time: schedstat's nanoseconds where the kernel
 * keeps them, else utime + stime from stat (clock ticks, taken as 10 ms).
 */
static int read_thread(int taskfd, int tid, struct sample *s)
{
	char name[40], buf[1024], *p;
	const char *q;
	long long ut, st;
	int i;

	p = put_uint(name, (unsigned long)tid);
	put_str(p, "/stat")[0] = 0;
	if (read_at(taskfd, name, buf, sizeof(buf)))
		return -1;
	for (q = NULL, p = buf; *p; p++)
		if (*p == ')')
			q = p;
	if (!q || q[1] != ' ' || !q[2])
		return -1;
	s->state = q[2];
	q += 3;
	/* Fields 4..13, then utime (14) and stime (15). */
	for (i = 0; i < 10; i++) {
		while (*q == ' ')
			q++;
		while (*q && *q != ' ')
			q++;
	}
	while (*q == ' ')
		q++;
	ut = get_uint(&q);
	while (*q == ' ')
		q++;
	st = get_uint(&q);
	if (ut < 0 || st < 0)
		return -1;
	s->runtime = (uint64_t)(ut + st) * 10000000ull;

	p = put_uint(name, (unsigned long)tid);
	put_str(p, "/schedstat")[0] = 0;
	if (!read_at(taskfd, name, buf, sizeof(buf))) {
		q = buf;
		ut = get_uint(&q);
		if (ut >= 0)
			s->runtime = (uint64_t)ut;
	}
	return 0;
}

static int is_old(const struct holder_args *a, int tid)
{
	for (int i = 0; i < a->nold && i < HOLDER_MAX_OLD; i++)
		if (a->old_tids[i] == tid)
			return 1;
	return 0;
}

static void judge_new(struct watch *w, int tid, const struct sample *s)
{
	struct thread *t = NULL;

	for (int i = 0; i < w->n; i++)
		if (w->t[i].tid == tid)
			t = &w->t[i];
	if (!t) {
		if (w->n == MAX_THREADS)
			return;
		t = &w->t[w->n++];
		t->tid = tid;
		t->idle_seen = 0;
		t->runtime = s->runtime;
		t->live = 1;
		return;
	}
	t->live = 1;
	if (s->state != 'R' && s->runtime == t->runtime)
		t->idle_seen = 1;
	else if (t->idle_seen)
		w->vcpu_ran = 1;
	t->runtime = s->runtime;
}

static void judge_main(struct watch *w, const struct sample *s)
{
	if (w->main_known && s->state == 'S' && s->runtime == w->main_runtime)
		w->main_idle++;
	else
		w->main_idle = 0;
	w->main_known = 1;
	w->main_runtime = s->runtime;
}

/*
 * One look at /proc/PID/task. The exec has happened once every thread the
 * old image had besides its main thread has gone (de_thread), or, for an
 * image that had none, once a thread appears. From then on, the guest is
 * taken to run again when a new thread (a vCPU) has run after it had been
 * seen waiting, while the main thread has gone back to sleep in its main
 * loop: loading the state keeps the main thread busy and the vCPUs waiting.
 * Returns 1 when that is so, 0 when not yet, -1 when the list is unreadable.
 */
static int look(const struct holder_args *a, const char *taskdir, struct watch *w)
{
	char buf[4096];
	int old_alive = 0, any_new = 0, j;
	struct sample s;
	long fd, n;

	fd = sys4(SYS_openat, AT_FDCWD, taskdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	for (int i = 0; i < w->n; i++)
		w->t[i].live = 0;
	while ((n = sys3(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name */
			unsigned short reclen = *(unsigned short *)(buf + off + 16);
			const char *name = buf + off + 19;
			long long tid = get_uint(&name);

			off += reclen;
			if (tid <= 0 || *name)
				continue;
			if (tid == a->pid) {
				if (!read_thread((int)fd, (int)tid, &s))
					judge_main(w, &s);
			} else if (is_old(a, (int)tid)) {
				old_alive = 1;
			} else {
				any_new = 1;
				if (w->exec_seen && !read_thread((int)fd, (int)tid, &s))
					judge_new(w, (int)tid, &s);
			}
		}
	}
	sys1(SYS_close, fd);
	if (n < 0)
		return -1;
	for (int i = j = 0; i < w->n; i++)
		if (w->t[i].live)
			w->t[j++] = w->t[i];
	w->n = j;
	if (!w->exec_seen && (a->nold ? !old_alive : any_new)) {
		w->exec_seen = 1;
		w->main_idle = 0;
	}
	return w->exec_seen && w->vcpu_ran && w->main_idle >= 2;
}

/* ----------------------------------------------------------- the holder */

static int holder_main(void *arg)
{
	const struct holder_args *a = arg;
	struct pollfd pfd = { .fd = a->pidfd, .events = POLLIN };
	char taskdir[48], *p;
	struct watch w;
	int ret;

	zero(&w, sizeof(w));
	p = put_uint(put_str(taskdir, "/proc/"), (unsigned long)a->pid);
	*put_str(p, "/task") = 0;
	for (;;) {
		struct timespec ts;
		uint64_t t = now_ns();

		if (!t || t >= a->deadline_ns) {
			ret = HOLDER_BOUND;
			break;
		}
		/* An unreadable /proc leaves the bound alone to end the wait. */
		if (look(a, taskdir, &w) == 1) {
			ret = HOLDER_RELEASED;
			break;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)a->poll_ns;
		if (sys6(SYS_ppoll, (long)&pfd, 1, (long)&ts, 0, 8, 0) > 0) {
			ret = HOLDER_GONE;
			break;
		}
	}
	/* The teardown that follows this return must not take the CPU from the guest. */
	sys3(SYS_setpriority, PRIO_PROCESS, 0, 19);
	return ret;
}

/* -------------------------------------------------- the intermediate task */

/*
 * Runs with its own copy of the process's descriptor table: closes it all
 * but a pidfd of the process, so that the holder it clones starts with
 * nothing the exec'd image may need (a listening port, a pipe's end), then
 * exits. The holder becomes an orphan: init or the nearest subreaper reaps
 * it, never the exec'd image, which does not know it. Returns 0 once the
 * holder exists, 1 when it could not be made.
 */
int holder_intermediate_main(void *arg)
{
	struct holder_args *a = arg;
	long pidfd, pid;

	pidfd = sys2(SYS_pidfd_open, a->pid, 0);
	if (pidfd < 0)
		return 1;
	if (pidfd > 0 && sys3(SYS_close_range, 0, pidfd - 1, 0) < 0)
		return 1;
	if (sys3(SYS_close_range, pidfd + 1, ~0u, 0) < 0)
		return 1;
	a->pidfd = (int)pidfd;
	/* The holder is born with the name, so that it has it whenever it is seen. */
	sys2(SYS_prctl, PR_SET_NAME, HOLDER_NAME);
	/*
	 * libc's clone() touches nothing shared on success; on failure it sets
	 * errno in the thread-local storage of the thread that cloned this
	 * task, and that thread is waiting for this task to exit.
	 */
	pid = a->clone_fn(holder_main, a->holder_stack_top, CLONE_VM | SIGCHLD, a);
	if (pid <= 0)
		return 1;
	__atomic_store_n(&a->holder_pid, (int)pid, __ATOMIC_RELEASE);
	return 0;
}
