// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-trampoline's own small libc: process entry, mem*, strings, numbers
 * and a buffered stderr. Kept apart so trampoline.c reads as the sequence of
 * checks it performs.
 */
#include <errno.h>
#include <time.h>

#include "lib.h"
#include "sys.h"

#if defined(__x86_64__)
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call t_start\n"
	"	hlt\n");
#elif defined(__aarch64__)
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"	mov x0, sp\n"
	"	bl t_start\n");
#endif

__attribute__((noreturn, used)) void t_start(long *sp);

void t_start(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);

	sys_exit_group(tramp_main(argc, argv, argv + argc + 1));
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *dp = d;

	while (n--)
		*dp++ = (unsigned char)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t t_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

bool t_streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

const char *t_after(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return NULL;
	return s;
}

int t_parse_int(const char *s, int *out)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 0x7fffffff)
			return -1;
	}
	*out = (int)v;
	return 0;
}

const char *t_getenv(char **envp, const char *name)
{
	for (; *envp; envp++) {
		const char *v = t_after(*envp, name);

		if (v && *v == '=')
			return v + 1;
	}
	return NULL;
}

char *t_u64(char *buf, uint64_t v)
{
	char tmp[21];
	int n = 0, i = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = 0;
	return buf;
}

uint64_t t_now(void)
{
	struct timespec ts = { 0, 0 };

	sys_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char errbuf[4096];
static size_t errlen;

bool t_err_muted;

void t_flush(void)
{
	if (t_err_muted)
		errlen = 0;
	else
		t_flush_fd(2);
}

void t_flush_fd(int fd)
{
	size_t off = 0;

	while (off < errlen) {
		long n = sys_write(fd, errbuf + off, errlen - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	errlen = 0;
}

void t_err(const char *s)
{
	for (; *s; s++) {
		if (errlen == sizeof(errbuf))
			t_flush();
		errbuf[errlen++] = *s;
	}
}

void t_err_num(long v)
{
	char b[22];

	if (v < 0) {
		t_err("-");
		v = -v;
	}
	t_err(t_u64(b, (uint64_t)v));
}

const char *t_strerror(int err)
{
	switch (err) {
	case ENOENT: return "ENOENT (No such file or directory)";
	case EACCES: return "EACCES (Permission denied)";
	case ENOEXEC: return "ENOEXEC (Exec format error)";
	case ENOTDIR: return "ENOTDIR (Not a directory)";
	case EPERM: return "EPERM (Operation not permitted)";
	case E2BIG: return "E2BIG (Argument list too long)";
	case ELOOP: return "ELOOP (Too many levels of symbolic links)";
	case ENOMEM: return "ENOMEM (Out of memory)";
	case ETXTBSY: return "ETXTBSY (Text file busy)";
	case ENAMETOOLONG: return "ENAMETOOLONG (File name too long)";
	case EBADF: return "EBADF (Bad file descriptor)";
	case EINVAL: return "EINVAL (Invalid argument)";
	case EISDIR: return "EISDIR (Is a directory)";
	case EIO: return "EIO (Input/output error)";
	default: return "an unexpected error";
	}
}
