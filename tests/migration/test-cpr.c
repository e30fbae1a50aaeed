// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CPR fd table and its formats: registration of real memfds, sockets and
 * files, the encode/parse round trip, QEMU 10.2's fixtures, truncation at
 * every byte and every single-bit flip, the sealed memfd and the load from
 * the environment, the fd verification in the new process, and the copy of
 * the rollback command in the environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpr-internal.h"
#include "relive/crc32c.h"

static struct rl_cpr_state st_a, st_b;

static int memfd_sized(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

static size_t read_fixture(const char *name, uint8_t *buf, size_t cap)
{
	char path[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", RL_FIXTURES, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("cannot open fixture %s: %s", path, strerror(errno));
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n > 0);
	return n;
}

/* The public constructor: an empty state, and freeing NULL is fine. */
static void test_new_free(void **unused)
{
	struct rl_cpr_state *s = rl_cpr_state_new();

	assert_non_null(s);
	assert_int_equal(rl_cpr_fd_count(s), 0);
	assert_int_equal(rl_cpr_state_mode(s), 0);
	assert_int_equal(rl_cpr_rollback_argc(s), 0);
	assert_null(rl_cpr_rollback_arg(s, 0));
	assert_int_equal(rl_cpr_rollback_exe(s), -ENOENT);
	assert_int_equal(rl_cpr_find_fd(s, "ram0", 0), -ENOENT);
	rl_cpr_state_free(s);
	rl_cpr_state_free(NULL);
}

static void test_table(void **unused)
{
	struct rl_cpr_state *s = &st_a;
	int mfd = memfd_sized("ram0", 1 << 20);
	int sv[2], ffd;
	char tmpl[] = "/tmp/relive-cpr-XXXXXX";

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ffd = mkostemp(tmpl, O_CLOEXEC);
	assert_true(ffd >= 0);
	unlink(tmpl);

	rl_cpr_state_init(s);
	assert_int_equal(rl_cpr_add_fd(s, "ram0", 0, mfd), 0);
	assert_int_equal(rl_cpr_add_fd(s, "ram0", 1, ffd), 0);
	assert_int_equal(rl_cpr_add_fd(s, "qmp", 0, sv[0]), 0);
	assert_int_equal(rl_cpr_add_fd(s, "ram0", 0, sv[1]), -EEXIST);
	assert_int_equal(rl_cpr_add_fd(s, "", 0, sv[1]), -EINVAL);
	assert_int_equal(rl_cpr_add_fd(s, "closed", 0, 999), -EBADF);

	char longname[RL_CPR_NAME_MAX + 1];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[RL_CPR_NAME_MAX] = 0;
	assert_int_equal(rl_cpr_add_fd(s, longname, 0, mfd), -ENAMETOOLONG);

	assert_int_equal(s->nfds, 3);
	assert_int_equal(rl_cpr_find_fd(s, "ram0", 0), mfd);
	assert_int_equal(rl_cpr_find_fd(s, "ram0", 1), ffd);
	assert_int_equal(rl_cpr_find_fd(s, "qmp", 0), sv[0]);
	assert_int_equal(rl_cpr_find_fd(s, "qmp", 1), -ENOENT);
	assert_int_equal(rl_cpr_lookup(s, "ram0", 0)->kind, RL_CPR_FD_MEMFD);
	assert_int_equal(rl_cpr_lookup(s, "ram0", 0)->size, 1 << 20);
	assert_int_equal(rl_cpr_lookup(s, "ram0", 1)->kind, RL_CPR_FD_FILE);
	assert_int_equal(rl_cpr_lookup(s, "qmp", 0)->kind, RL_CPR_FD_SOCKET);

	assert_int_equal(rl_cpr_del_fd(s, "ram0", 1), 0);
	assert_int_equal(rl_cpr_del_fd(s, "ram0", 1), -ENOENT);
	assert_int_equal(s->nfds, 2);
	assert_int_equal(rl_cpr_find_fd(s, "qmp", 0), sv[0]);

	/* fill to the limit */
	for (int i = s->nfds; i < RL_CPR_MAX_FDS; i++)
		assert_int_equal(rl_cpr_add_fd(s, "many", i, mfd), 0);
	assert_int_equal(rl_cpr_add_fd(s, "one-too-many", 0, mfd), -ENOSPC);

	close(mfd);
	close(ffd);
	close(sv[0]);
	close(sv[1]);
}

static void fill_sample(struct rl_cpr_state *s, int mfd, int sock)
{
	const char *rb[] = { "/usr/bin/relive-vm", "-m", "1G", "-incoming",
			     "file:/tmp/vm.state", NULL };

	rl_cpr_state_init(s);
	s->mode = 3;
	assert_int_equal(rl_cpr_add_fd(s, "ram0", 0, mfd), 0);
	assert_int_equal(rl_cpr_add_fd(s, "qmp", 7, sock), 0);
	assert_int_equal(rl_cpr_set_rollback(s, rb), 0);
	assert_int_equal(rl_cpr_time_set(s, RL_CPR_T_STOP, 111), 0);
	assert_int_equal(rl_cpr_time_set(s, RL_CPR_T_EXEC, 333), 0);
	assert_int_equal(rl_cpr_time_set(s, RL_CPR_T_STOP, 112), 0);
	assert_int_equal(rl_cpr_value_set(s, RL_CPR_V_HOLDER, 4242), 0);
}

static size_t encode(const struct rl_cpr_state *s, uint8_t **out)
{
	size_t need = 0, len = 0;

	assert_int_equal(rl_cpr_state_encode(s, NULL, 0, &need), -ENOSPC);
	*out = malloc(need);
	assert_non_null(*out);
	assert_int_equal(rl_cpr_state_encode(s, *out, need - 1, &len), -ENOSPC);
	assert_int_equal(len, need);
	assert_int_equal(rl_cpr_state_encode(s, *out, need, &len), 0);
	assert_int_equal(len, need);
	return len;
}

static void test_roundtrip(void **unused)
{
	int mfd = memfd_sized("ram0", 4096);
	int sv[2];
	uint8_t *buf;
	uint64_t v;
	size_t len;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fill_sample(&st_a, mfd, sv[0]);
	len = encode(&st_a, &buf);
	assert_memory_equal(buf, "RLCP", 4);

	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, NULL), 0);
	assert_int_equal(st_b.format, RL_CPR_FORMAT_RELIVE);
	assert_int_equal(st_b.mode, 3);
	assert_int_equal(st_b.nfds, 2);
	assert_memory_equal(&st_b.fds[0], &st_a.fds[0], sizeof(st_a.fds[0]));
	assert_memory_equal(&st_b.fds[1], &st_a.fds[1], sizeof(st_a.fds[1]));
	assert_int_equal(st_b.argc, 5);
	assert_int_equal(st_b.argv_len, st_a.argv_len);
	assert_memory_equal(st_b.argv, st_a.argv, st_a.argv_len);
	assert_string_equal(st_b.argv, "/usr/bin/relive-vm");
	assert_int_equal(rl_cpr_time_get(&st_b, RL_CPR_T_STOP, &v), 0);
	assert_int_equal(v, 112);
	assert_int_equal(rl_cpr_time_get(&st_b, RL_CPR_T_EXEC, &v), 0);
	assert_int_equal(v, 333);
	assert_int_equal(rl_cpr_time_get(&st_b, "resume", &v), -ENOENT);
	assert_int_equal(rl_cpr_value_get(&st_b, RL_CPR_V_HOLDER, &v), 0);
	assert_int_equal(v, 4242);

	/* What the public accessors make of it. */
	{
		const char *name = NULL;
		int id = -1;

		assert_int_equal(rl_cpr_state_mode(&st_b), 3);
		assert_int_equal(rl_cpr_fd_count(&st_b), 2);
		assert_int_equal(rl_cpr_fd_at(&st_b, 1, &name, &id), st_a.fds[1].fd);
		assert_string_equal(name, st_a.fds[1].name);
		assert_int_equal(id, st_a.fds[1].id);
		assert_int_equal(rl_cpr_fd_at(&st_b, 2, &name, &id), -ENOENT);
		assert_int_equal(rl_cpr_rollback_argc(&st_b), 5);
		assert_string_equal(rl_cpr_rollback_arg(&st_b, 0), "/usr/bin/relive-vm");
		assert_string_equal(rl_cpr_rollback_arg(&st_b, 4), "file:/tmp/vm.state");
		assert_null(rl_cpr_rollback_arg(&st_b, 5));
		rl_cpr_state_set_mode(&st_b, 2);
		assert_int_equal(rl_cpr_state_mode(&st_b), 2);
	}

	/* An empty state round-trips too. */
	rl_cpr_state_init(&st_a);
	free(buf);
	len = encode(&st_a, &buf);
	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, NULL), 0);
	assert_int_equal(st_b.nfds, 0);
	assert_int_equal(st_b.argc, 0);
	free(buf);
	close(mfd);
	close(sv[0]);
	close(sv[1]);
}

/* Truncation at every length is an error; every single-bit flip too (the checksum). */
static void test_relive_corruption(void **unused)
{
	int mfd = memfd_sized("ram0", 4096);
	struct rl_cpr_diag diag;
	uint8_t *buf;
	size_t len;

	fill_sample(&st_a, mfd, mfd == 0 ? 1 : 0);
	len = encode(&st_a, &buf);
	for (size_t l = 0; l < len; l++) {
		diag.what = NULL;
		assert_true(rl_cpr_state_parse(buf, l, &st_b, &diag) < 0);
		assert_non_null(diag.what);
		assert_true(diag.offset <= len);
	}
	for (size_t bit = 0; bit < len * 8; bit++) {
		buf[bit / 8] ^= 1u << (bit % 8);
		assert_true(rl_cpr_state_parse(buf, len, &st_b, NULL) < 0);
		buf[bit / 8] ^= 1u << (bit % 8);
	}
	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, NULL), 0);

	/* A future version is refused as such. */
	buf[4] = 2;
	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, &diag), -ENOTSUP);
	free(buf);
	close(mfd);
}

static void test_qemu_fixture(void **unused)
{
	static const struct {
		const char *name;
		int fd;
	} want[] = {
		{ "/rom@etc/acpi/rsdp", 19 }, { "/rom@etc/table-loader", 18 },
		{ "/rom@etc/acpi/tables", 17 }, { "pc.rom", 16 },
		{ "pc.bios", 15 }, { "ram0", 10 },
	};
	uint8_t buf[512];
	size_t len;

	len = read_fixture("qemu-10.2-cpr-state.bin", buf, sizeof(buf));
	assert_int_equal(len, 197);
	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, NULL), 0);
	assert_int_equal(st_b.format, RL_CPR_FORMAT_QEMU);
	assert_int_equal(st_b.nfds, 6);
	assert_int_equal(st_b.qemu_tail, 0);
	assert_int_equal(st_b.argc, 0);
	for (unsigned i = 0; i < 6; i++) {
		assert_string_equal(st_b.fds[i].name, want[i].name);
		assert_int_equal(st_b.fds[i].fd, want[i].fd);
		assert_int_equal(st_b.fds[i].id, 0);
		assert_int_equal(st_b.fds[i].kind, RL_CPR_FD_ANY);
	}

	len = read_fixture("qemu-10.2-cpr-state-filebackend.bin", buf, sizeof(buf));
	assert_int_equal(len, 179);
	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, NULL), 0);
	assert_int_equal(st_b.nfds, 5);
	assert_int_equal(st_b.qemu_tail, 0);
	assert_null(rl_cpr_lookup(&st_b, "ram0", 0));
	assert_int_equal(rl_cpr_find_fd(&st_b, "pc.bios", 0), 15);
}

static void test_qemu_edges(void **unused)
{
	struct rl_cpr_diag diag;
	uint8_t buf[512], tmp[512];
	size_t len, end;
	int ret;

	len = read_fixture("qemu-10.2-cpr-state.bin", buf, sizeof(buf));
	end = 0xa8; /* the fd list's 0x00 terminator */
	assert_int_equal(buf[end], 0);
	assert_int_equal(buf[end + 1], 5);

	/* Truncated inside the fd list: an error. After it: the fds are whole. */
	for (size_t l = 0; l < len; l++) {
		ret = rl_cpr_state_parse(buf, l, &st_b, &diag);
		if (l <= end)
			assert_true(ret < 0);
		else {
			assert_int_equal(ret, 0);
			assert_int_equal(st_b.nfds, 6);
			assert_true(st_b.qemu_tail > 0 || l == end + 1);
		}
	}

	/* An unknown subsection after the list leaves the fd list usable. */
	memcpy(tmp, buf, len);
	tmp[end + 3] = 'X';
	assert_int_equal(rl_cpr_state_parse(tmp, len, &st_b, NULL), 0);
	assert_int_equal(st_b.nfds, 6);
	assert_int_equal(st_b.qemu_tail, len - end - 1);

	/* A bad list marker, a name without its NUL, an oversized name. */
	memcpy(tmp, buf, len);
	tmp[8] = 2;
	assert_int_equal(rl_cpr_state_parse(tmp, len, &st_b, &diag), -EINVAL);
	assert_int_equal(diag.offset, 8);
	memcpy(tmp, buf, len);
	tmp[9 + 4 + 18] = 'x';
	assert_int_equal(rl_cpr_state_parse(tmp, len, &st_b, NULL), -EINVAL);
	memcpy(tmp, buf, len);
	tmp[9] = 0x7f;
	assert_int_equal(rl_cpr_state_parse(tmp, len, &st_b, NULL), -E2BIG);
	memcpy(tmp, buf, len);
	tmp[7] = 2;
	assert_int_equal(rl_cpr_state_parse(tmp, len, &st_b, NULL), -ENOTSUP);

	/* Every bit flip: an error or a valid parse, never a crash or overrun. */
	for (size_t bit = 0; bit < len * 8; bit++) {
		memcpy(tmp, buf, len);
		tmp[bit / 8] ^= 1u << (bit % 8);
		ret = rl_cpr_state_parse(tmp, len, &st_b, NULL);
		assert_true(ret == 0 || ret == -EINVAL || ret == -E2BIG ||
			    ret == -ENOTSUP);
		if (ret == 0)
			assert_true(st_b.nfds <= 6);
	}
}

static void test_memfd_and_load(void **unused)
{
	struct rl_error err = { "" };
	int mfd = memfd_sized("ram0", 8192);
	int sv[2], sfd;
	char num[16];
	struct stat sb;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fill_sample(&st_a, mfd, sv[0]);
	assert_int_equal(rl_cpr_state_write_memfd(&st_a, &sfd, &err), 0);
	assert_true(fcntl(sfd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(sfd, F_GET_SEALS) & F_SEAL_WRITE);
	assert_int_equal(write(sfd, "x", 1), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(sfd, 0), -1);
	assert_int_equal(lseek(sfd, 0, SEEK_CUR), 0);

	assert_int_equal(rl_cpr_state_read_fd(sfd, &st_b, &err), 0);
	assert_int_equal(lseek(sfd, 0, SEEK_CUR), 0);
	assert_int_equal(st_b.nfds, 2);

	/* Not a CPR start: nothing to load. */
	unsetenv(RL_CPR_ENV);
	assert_int_equal(rl_cpr_state_load(&st_b, &err), -ENOENT);
	setenv(RL_CPR_ENV, "12x", 1);
	assert_int_equal(rl_cpr_state_load(&st_b, &err), -EINVAL);
	assert_non_null(strstr(err.msg, RL_CPR_ENV));

	/* The same bytes in a memfd not sealed, or sealed otherwise, are refused. */
	for (int seals = 0; seals <= F_SEAL_SHRINK; seals += F_SEAL_SHRINK) {
		uint8_t copy[4096];
		ssize_t n = pread(sfd, copy, sizeof(copy), 0);
		int ufd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

		assert_true(n > 0 && ufd >= 0);
		assert_int_equal(pwrite(ufd, copy, n, 0), n);
		assert_true(!seals || fcntl(ufd, F_ADD_SEALS, seals) == 0);
		snprintf(num, sizeof(num), "%d", ufd);
		setenv(RL_CPR_ENV, num, 1);
		assert_int_equal(rl_cpr_state_load(&st_b, &err), -EINVAL);
		assert_non_null(strstr(err.msg, seals ? "sealed differently" : "not sealed"));
		assert_non_null(strstr(err.msg, RL_CPR_ENV));
		assert_int_equal(fcntl(ufd, F_GETFD) >= 0, 1); /* left open */
		close(ufd);
	}

	snprintf(num, sizeof(num), "%d", sfd);
	setenv(RL_CPR_ENV, num, 1);
	assert_int_equal(rl_cpr_state_load(&st_b, &err), 0);
	assert_null(getenv(RL_CPR_ENV));
	assert_int_equal(fstat(sfd, &sb), -1); /* closed by the load */
	assert_int_equal(st_b.nfds, 2);
	assert_int_equal(rl_cpr_find_fd(&st_b, "qmp", 7), sv[0]);

	/* Verification in the new process. */
	assert_int_equal(rl_cpr_verify_fd(&st_b, "ram0", 0, &err), mfd);
	assert_int_equal(rl_cpr_verify_fd(&st_b, "qmp", 7, &err), sv[0]);
	assert_int_equal(rl_cpr_verify_fd(&st_b, "nope", 0, &err), -ENOENT);
	assert_int_equal(ftruncate(mfd, 4096), 0);
	assert_int_equal(rl_cpr_verify_fd(&st_b, "ram0", 0, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "smaller"));
	assert_non_null(strstr(err.msg, "'ram0'"));
	assert_int_equal(dup2(sv[1], sv[0]), sv[0]);
	assert_int_equal(rl_cpr_verify_fd(&st_b, "qmp", 7, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "inode differs"));
	close(sv[0]);
	assert_int_equal(rl_cpr_verify_fd(&st_b, "qmp", 7, &err), -EBADF);
	assert_non_null(strstr(err.msg, "not open"));

	/* A corrupt memfd names the offset. */
	int bad = memfd_create("bad", MFD_CLOEXEC);

	assert_int_equal(write(bad, "RLCP\1\0\0\0\x20\0\0\0\0\0\0\0junkjunkjunkjunk", 32), 32);
	assert_int_equal(rl_cpr_state_read_fd(bad, &st_b, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "offset 12"));
	close(bad);
	close(mfd);
	close(sv[1]);
}

/* The old executable's fd: a reserved entry, verified, surviving the round trip. */
static void test_rollback_exe(void **unused)
{
	int exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	int exe2 = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	int dir = open("/", O_PATH | O_CLOEXEC);
	struct rl_error err = { { 0 } };
	uint8_t buf[4096];
	size_t len;

	assert_true(exe >= 0 && exe2 >= 0 && dir >= 0);
	rl_cpr_state_init(&st_a);
	assert_int_equal(rl_cpr_rollback_exe(&st_a), -ENOENT);
	assert_int_equal(rl_cpr_set_rollback_exe(&st_a, 999), -EBADF);
	assert_int_equal(rl_cpr_set_rollback_exe(&st_a, dir), -EINVAL);
	assert_int_equal(rl_cpr_set_rollback_exe(&st_a, exe), 0);
	assert_int_equal(rl_cpr_set_rollback_exe(&st_a, exe2), 0); /* replaces */
	assert_int_equal(st_a.nfds, 1);
	assert_int_equal(rl_cpr_rollback_exe(&st_a), exe2);
	assert_int_equal(rl_cpr_lookup(&st_a, RL_CPR_ROLLBACK_EXE_NAME, 1)->kind,
			 RL_CPR_FD_FILE);
	assert_int_equal(rl_cpr_verify_fd(&st_a, RL_CPR_ROLLBACK_EXE_NAME, 1, &err), exe2);
	/* The reserved names are the library's. */
	assert_int_equal(rl_cpr_add_fd(&st_a, RL_CPR_ROLLBACK_EXE_NAME, 2, exe), -EINVAL);
	assert_int_equal(rl_cpr_add_fd(&st_a, "relive:other", 0, exe), -EINVAL);

	assert_int_equal(rl_cpr_state_encode(&st_a, buf, sizeof(buf), &len), 0);
	assert_int_equal(rl_cpr_state_parse(buf, len, &st_b, NULL), 0);
	assert_int_equal(rl_cpr_rollback_exe(&st_b), exe2);

	/* Another version of the entry is not this one. */
	st_a.fds[0].id = 2;
	assert_int_equal(rl_cpr_rollback_exe(&st_a), -ENOENT);
	st_a.fds[0].id = 1;
	assert_int_equal(rl_cpr_set_rollback_exe(&st_a, -1), 0);
	assert_int_equal(rl_cpr_rollback_exe(&st_a), -ENOENT);
	assert_int_equal(st_a.nfds, 0);
	close(exe);
	close(exe2);
	close(dir);
}

/* The copy of the rollback command in the environment: round trip and refusals. */
static void test_rollback_env(void **unused)
{
	const char *const cmd[] = { "/usr/bin/vm", "-name", "a,b:c", "", "x,1:y", NULL };
	int exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	const char *const bad[] = {
		"", "x", "3", "3,", "3,1", "3,2:a", "3,1:a,", "3,a:b", "-2,1:a",
		"3,99999999999999999999:a", "3,1:a;", "3,01:a", "03,1:a", "+3,1:a",
		" 3,1:a", "-01,1:a", NULL,
	};
	char **argv, *v;
	int fd;

	assert_true(exe >= 0);
	unsetenv(RL_CPR_ROLLBACK_ENV);
	assert_int_equal(rl_cpr_rollback_from_env(&argv, &fd), -ENOENT);

	rl_cpr_state_init(&st_a);
	assert_null(rl_cpr_rollback_env_encode(&st_a)); /* no command, no copy */
	assert_int_equal(rl_cpr_set_rollback(&st_a, cmd), 0);
	v = rl_cpr_rollback_env_encode(&st_a);
	assert_non_null(v);
	assert_int_equal(setenv(RL_CPR_ROLLBACK_ENV, v, 1), 0);
	free(v);
	assert_int_equal(rl_cpr_rollback_from_env(&argv, &fd), 0);
	assert_int_equal(fd, -1);
	for (unsigned i = 0; cmd[i]; i++)
		assert_string_equal(argv[i], cmd[i]);
	assert_null(argv[5]);
	free(argv);

	assert_int_equal(rl_cpr_set_rollback_exe(&st_a, exe), 0);
	v = rl_cpr_rollback_env_encode(&st_a);
	assert_int_equal(setenv(RL_CPR_ROLLBACK_ENV, v, 1), 0);
	free(v);
	assert_int_equal(rl_cpr_rollback_from_env(&argv, &fd), 0);
	assert_int_equal(fd, exe);
	assert_string_equal(argv[2], "a,b:c");
	free(argv);

	for (unsigned i = 0; bad[i]; i++) {
		assert_int_equal(setenv(RL_CPR_ROLLBACK_ENV, bad[i], 1), 0);
		if (rl_cpr_rollback_from_env(&argv, &fd) != -EINVAL)
			fail_msg("%s=%s was not refused", RL_CPR_ROLLBACK_ENV, bad[i]);
	}
	unsetenv(RL_CPR_ROLLBACK_ENV);
	rl_cpr_set_rollback_exe(&st_a, -1);
	close(exe);
}

static void test_kinds(void **unused)
{
	assert_int_equal(rl_cpr_kind_of(S_IFREG | 0600, "/memfd:ram0 (deleted)"),
			 RL_CPR_FD_MEMFD);
	assert_int_equal(rl_cpr_kind_of(S_IFREG | 0600, "/dev/shm/x"), RL_CPR_FD_FILE);
	assert_int_equal(rl_cpr_kind_of(S_IFSOCK | 0600, "socket:[1]"), RL_CPR_FD_SOCKET);
	assert_int_equal(rl_cpr_kind_of(S_IFCHR | 0600, "/dev/kvm"), RL_CPR_FD_KVM);
	assert_int_equal(rl_cpr_kind_of(0600, "anon_inode:kvm-vm"), RL_CPR_FD_KVM);
	assert_int_equal(rl_cpr_kind_of(S_IFIFO | 0600, "pipe:[2]"), RL_CPR_FD_OTHER);
	assert_string_equal(rl_cpr_kind_name(RL_CPR_FD_MEMFD), "memfd");
	assert_string_equal(rl_cpr_kind_name(99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_relive_corruption),
		cmocka_unit_test(test_qemu_fixture),
		cmocka_unit_test(test_qemu_edges),
		cmocka_unit_test(test_memfd_and_load),
		cmocka_unit_test(test_rollback_exe),
		cmocka_unit_test(test_rollback_env),
		cmocka_unit_test(test_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
