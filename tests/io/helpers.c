// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Helpers of the io/ tests: temporary directory, pattern, backend choice,
 * a child whose seccomp filter makes chosen system calls fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

bool t_fallback;
char t_dir[64];
bool t_direct_ok;

void t_init(int argc, char **argv)
{
	int ret;

	if (argc < 2 || (strcmp(argv[1], "uring") && strcmp(argv[1], "fallback"))) {
		fprintf(stderr, "usage: %s uring|fallback\n", argv[0]);
		exit(2);
	}
	t_fallback = !strcmp(argv[1], "fallback");
	if (!t_fallback) {
		ret = rl_io_probe();
		if (ret < 0) {
			fprintf(stderr, "SKIP: io_uring unavailable: %s "
				"(the fallback test still runs)\n", strerror(-ret));
			exit(77);
		}
	}
	strcpy(t_dir, "/tmp/relive-io-XXXXXX");
	if (!mkdtemp(t_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	{
		char p[128];
		int fd;

		snprintf(p, sizeof(p), "%s/direct-probe", t_dir);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
		t_direct_ok = fd >= 0;
		if (fd >= 0)
			close(fd);
		unlink(p);
		if (!t_direct_ok)
			fprintf(stderr, "note: %s does not take O_DIRECT: the "
				"buffered path is tested instead\n", t_dir);
	}
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

void t_cleanup(void)
{
	if (t_dir[0])
		nftw(t_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *t_path(unsigned slot, const char *name)
{
	static char buf[4][512];

	snprintf(buf[slot & 3], sizeof(buf[0]), "%s/%s", t_dir, name);
	return buf[slot & 3];
}

struct rl_io_opts t_opts(void)
{
	struct rl_io_opts o = { .force_fallback = t_fallback };

	return o;
}

int t_count_entries(void)
{
	DIR *d = opendir(t_dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

void t_empty_dir(void)
{
	t_cleanup();
	if (mkdir(t_dir, 0700) < 0 && errno != EEXIST) {
		perror("mkdir");
		exit(1);
	}
}

static inline uint64_t word(uint64_t w, uint64_t seed)
{
	uint64_t x = (w + seed) * 0x9e3779b97f4a7c15ull;

	return x ^ (x >> 29);
}

uint8_t t_byte(uint64_t pos, uint64_t seed)
{
	return (uint8_t)(word(pos >> 3, seed) >> (8 * (pos & 7)));
}

void t_fill(void *buf, size_t len, uint64_t pos, uint64_t seed)
{
	uint8_t *b = buf;
	size_t i = 0;

	for (; i < len && ((pos + i) & 7); i++)
		b[i] = t_byte(pos + i, seed);
	for (; i + 8 <= len; i += 8) {
		uint64_t v = word((pos + i) >> 3, seed);

		memcpy(b + i, &v, 8); /* little-endian host */
	}
	for (; i < len; i++)
		b[i] = t_byte(pos + i, seed);
}

size_t t_check(const void *buf, size_t len, uint64_t pos, uint64_t seed)
{
	const uint8_t *b = buf;
	size_t i = 0;

	for (; i < len && ((pos + i) & 7); i++)
		if (b[i] != t_byte(pos + i, seed))
			return i;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = word((pos + i) >> 3, seed), got;

		memcpy(&got, b + i, 8);
		if (got != v)
			break;
	}
	for (; i < len; i++)
		if (b[i] != t_byte(pos + i, seed))
			return i;
	return (size_t)-1;
}

#define T_MAX_REFUSED 8
#define T_NO_SECCOMP 200

/* Return: 0, or -errno when the filter cannot be installed. */
static int refuse_syscalls(const int *nrs, unsigned n, int err)
{
	struct sock_filter f[2 + 2 * T_MAX_REFUSED];
	struct sock_fprog prog = { .filter = f };
	unsigned i, k = 0;

	if (n > T_MAX_REFUSED)
		return -EINVAL;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	for (i = 0; i < n; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						      (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
			SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)k;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

int t_run_refusing(const int *nrs, unsigned n, int err,
		   int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(refuse_syscalls(nrs, n, err) < 0 ? T_NO_SECCOMP : fn(arg));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == T_NO_SECCOMP) {
		fprintf(stderr, "SKIP: seccomp filters are not available here\n");
		skip();
	}
	return WEXITSTATUS(status);
}
