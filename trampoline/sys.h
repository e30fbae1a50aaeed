/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-trampoline's system call layer, in nolibc's three layers: the raw
 * instruction (rl_sys6), sys_* returning the kernel's -errno, and nothing
 * else: no errno variable, no libc state. x86-64 and arm64.
 */
#ifndef RELIVE_TRAMPOLINE_SYS_H
#define RELIVE_TRAMPOLINE_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>

#if defined(__x86_64__)
static inline long rl_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
static inline long rl_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
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
#error "relive-trampoline: add this architecture's system call instruction"
#endif

#define SC(n, a, b, c) rl_sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static inline long sys_write(int fd, const void *buf, size_t len)
{
	return SC(SYS_write, fd, buf, len);
}

static inline long sys_pread(int fd, void *buf, size_t len, long off)
{
	return rl_sys6(SYS_pread64, fd, (long)buf, (long)len, off, 0, 0);
}

static inline long sys_close(int fd)
{
	return SC(SYS_close, fd, 0, 0);
}

static inline long sys_fcntl(int fd, int cmd, long arg)
{
	return SC(SYS_fcntl, fd, cmd, arg);
}

static inline long sys_fstat(int fd, struct stat *st)
{
	return SC(SYS_fstat, fd, st, 0);
}

static inline long sys_fstatat(int dfd, const char *path, struct stat *st, int flags)
{
	return rl_sys6(SYS_newfstatat, dfd, (long)path, (long)st, flags, 0, 0);
}

static inline long sys_ppoll(void *fds, unsigned long nfds, const struct timespec *ts)
{
	return rl_sys6(SYS_ppoll, (long)fds, (long)nfds, (long)ts, 0, 0, 0);
}

static inline long sys_openat(int dfd, const char *path, int flags)
{
	return rl_sys6(SYS_openat, dfd, (long)path, flags, 0, 0, 0);
}

static inline long sys_readlinkat(int dfd, const char *path, char *buf, size_t len)
{
	return rl_sys6(SYS_readlinkat, dfd, (long)path, (long)buf, (long)len, 0, 0);
}

static inline long sys_getdents64(int fd, void *buf, size_t len)
{
	return SC(SYS_getdents64, fd, buf, len);
}

static inline long sys_execve(const char *path, char *const argv[], char *const envp[])
{
	return SC(SYS_execve, path, argv, envp);
}

static inline long sys_execveat(int dfd, const char *path, char *const argv[],
				char *const envp[], int flags)
{
	return rl_sys6(SYS_execveat, dfd, (long)path, (long)argv, (long)envp, flags, 0);
}

static inline long sys_clock_gettime(int clk, struct timespec *ts)
{
	return SC(SYS_clock_gettime, clk, ts, 0);
}

__attribute__((noreturn)) static inline void sys_exit_group(int code)
{
	for (;;)
		SC(SYS_exit_group, code, 0, 0);
}

#endif
