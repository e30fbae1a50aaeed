// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CPR fd table on the library side: registering descriptors (fstat and
 * /proc link read at registration, not in the pause), the rollback command,
 * writing the state to a sealed memfd and reading it back in the new process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpr-internal.h"
#include "../io/error-internal.h"

static void seen_fill(int fd, const struct stat *st, char *link, size_t len,
		      struct rl_cpr_fd_seen *seen)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, len - 1);
	link[n > 0 ? n : 0] = 0;
	seen->st_mode = st->st_mode;
	seen->dev = st->st_dev;
	seen->ino = st->st_ino;
	seen->size = st->st_size;
	seen->seals_known = true;
	seen->seals_ok = fcntl(fd, F_GET_SEALS) >= 0;
	seen->link = n > 0 ? link : NULL;
}

struct rl_cpr_state *rl_cpr_state_new(void)
{
	struct rl_cpr_state *s = malloc(sizeof(*s));

	if (s)
		rl_cpr_state_init(s);
	return s;
}

void rl_cpr_state_free(struct rl_cpr_state *s)
{
	free(s);
}

unsigned rl_cpr_state_mode(const struct rl_cpr_state *s)
{
	return s->mode;
}

void rl_cpr_state_set_mode(struct rl_cpr_state *s, unsigned mode)
{
	s->mode = mode;
}

unsigned rl_cpr_fd_count(const struct rl_cpr_state *s)
{
	return s->nfds;
}

int rl_cpr_fd_at(const struct rl_cpr_state *s, unsigned i, const char **name, int *id)
{
	if (i >= s->nfds)
		return -ENOENT;
	if (name)
		*name = s->fds[i].name;
	if (id)
		*id = s->fds[i].id;
	return s->fds[i].fd;
}

unsigned rl_cpr_rollback_argc(const struct rl_cpr_state *s)
{
	return s->argc;
}

const char *rl_cpr_rollback_arg(const struct rl_cpr_state *s, unsigned i)
{
	size_t off = 0;

	if (i >= s->argc)
		return NULL;
	/* The parser checked that @argc NUL-terminated strings fill @argv_len. */
	while (i--)
		off += strlen(s->argv + off) + 1;
	return s->argv + off;
}

/* An entry with whatever name: the reserved ones come through here too. */
static int add_entry(struct rl_cpr_state *s, const char *name, int id, int fd)
{
	struct rl_cpr_fd_seen seen;
	struct rl_cpr_fd *f;
	char link[256];
	struct stat st;
	size_t nl;

	nl = strlen(name);
	if (!nl)
		return -EINVAL;
	if (nl >= RL_CPR_NAME_MAX)
		return -ENAMETOOLONG;
	if (rl_cpr_lookup(s, name, id))
		return -EEXIST;
	if (s->nfds >= RL_CPR_MAX_FDS)
		return -ENOSPC;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	seen_fill(fd, &st, link, sizeof(link), &seen);

	f = &s->fds[s->nfds++];
	memset(f, 0, sizeof(*f));
	memcpy(f->name, name, nl);
	f->id = id;
	f->fd = fd;
	f->kind = rl_cpr_kind_of(st.st_mode, seen.link);
	f->flags = RL_CPR_FD_HAS_STAT;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	return 0;
}

int rl_cpr_add_fd(struct rl_cpr_state *s, const char *name, int id, int fd)
{
	if (!strncmp(name, RL_CPR_RESERVED_PREFIX, strlen(RL_CPR_RESERVED_PREFIX)))
		return -EINVAL;
	return add_entry(s, name, id, fd);
}

int rl_cpr_set_rollback_exe(struct rl_cpr_state *s, int fd)
{
	struct stat st;

	if (fd < 0) {
		rl_cpr_del_fd(s, RL_CPR_ROLLBACK_EXE_NAME, RL_CPR_ROLLBACK_EXE_ID);
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	rl_cpr_del_fd(s, RL_CPR_ROLLBACK_EXE_NAME, RL_CPR_ROLLBACK_EXE_ID);
	return add_entry(s, RL_CPR_ROLLBACK_EXE_NAME, RL_CPR_ROLLBACK_EXE_ID, fd);
}

int rl_cpr_del_fd(struct rl_cpr_state *s, const char *name, int id)
{
	const struct rl_cpr_fd *f = rl_cpr_lookup(s, name, id);
	size_t i;

	if (!f)
		return -ENOENT;
	i = f - s->fds;
	memmove(&s->fds[i], &s->fds[i + 1], (s->nfds - i - 1) * sizeof(s->fds[0]));
	s->nfds--;
	return 0;
}

int rl_cpr_find_fd(const struct rl_cpr_state *s, const char *name, int id)
{
	const struct rl_cpr_fd *f = rl_cpr_lookup(s, name, id);

	return f ? f->fd : -ENOENT;
}

int rl_cpr_verify_fd(const struct rl_cpr_state *s, const char *name, int id,
		     struct rl_error *err)
{
	const struct rl_cpr_fd *f = rl_cpr_lookup(s, name, id);
	struct rl_cpr_fd_seen seen;
	const char *why;
	char link[256];
	struct stat st;

	if (!f) {
		rl_err_set(err, "CPR state has no fd '%s' (id %d)", name, id);
		return -ENOENT;
	}
	if (fstat(f->fd, &st) < 0) {
		rl_err_set(err, "fd %d '%s': not open", f->fd, f->name);
		return -EBADF;
	}
	seen_fill(f->fd, &st, link, sizeof(link), &seen);
	why = rl_cpr_fd_check(f, &seen);
	if (why) {
		rl_err_set(err, "fd %d '%s': %s", f->fd, f->name, why);
		return -ESTALE;
	}
	return f->fd;
}

int rl_cpr_set_rollback(struct rl_cpr_state *s, const char *const *argv)
{
	size_t len = 0, n = 0;

	for (; argv && argv[n]; n++) {
		size_t l = strlen(argv[n]) + 1;

		if (n >= RL_CPR_MAX_ARGS || l > RL_CPR_ARGV_MAX - len)
			return -E2BIG;
		len += l;
	}
	len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(argv[i]) + 1;

		memcpy(s->argv + len, argv[i], l);
		len += l;
	}
	s->argc = n;
	s->argv_len = len;
	return 0;
}

uint64_t rl_cpr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

int rl_cpr_state_write_memfd(const struct rl_cpr_state *s, int *out,
			     struct rl_error *err)
{
	size_t len = 0;
	uint8_t *buf;
	ssize_t n;
	int fd, ret;

	rl_cpr_state_encode(s, NULL, 0, &len);
	buf = malloc(len);
	if (!buf) {
		rl_err_set(err, "CPR state: out of memory for %zu bytes", len);
		return -ENOMEM;
	}
	ret = rl_cpr_state_encode(s, buf, len, &len);
	if (ret) {
		rl_err_set(err, "CPR state: cannot encode the table");
		goto out_free;
	}
	fd = RL_FAILPOINT("cpr.state.memfd") ? -1 : memfd_create("relive-cpr-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		ret = -errno;
		rl_err_set(err, "CPR state: memfd_create: %s", strerror(-ret));
		goto out_free;
	}
	n = RL_FAILPOINT("cpr.state.write") ? -1 : pwrite(fd, buf, len, 0);
	if (n != (ssize_t)len) {
		ret = n < 0 ? -errno : -EIO;
		rl_err_set(err, "CPR state: writing %zu bytes to the memfd: %s",
			   len, strerror(-ret));
		goto out_close;
	}
	if (fcntl(fd, F_ADD_SEALS, RL_CPR_STATE_SEALS) < 0) {
		ret = -errno;
		rl_err_set(err, "CPR state: sealing the memfd: %s", strerror(-ret));
		goto out_close;
	}
	free(buf);
	*out = fd;
	return 0;

out_close:
	close(fd);
out_free:
	free(buf);
	return ret;
}

int rl_cpr_state_read_fd(int fd, struct rl_cpr_state *s, struct rl_error *err)
{
	struct rl_cpr_diag diag = { 0, "" };
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int ret;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		rl_err_set(err, "CPR state fd %d: %s", fd, strerror(-ret));
		return ret;
	}
	if (st.st_size < 8 || st.st_size > 16 << 20) {
		rl_err_set(err, "CPR state fd %d: implausible size %lld bytes", fd,
			   (long long)st.st_size);
		return -EINVAL;
	}
	buf = malloc(st.st_size);
	if (!buf)
		return -ENOMEM;
	n = RL_FAILPOINT("cpr.state.read") ? -1 : pread(fd, buf, st.st_size, 0);
	if (n != st.st_size) {
		ret = n < 0 ? -errno : -EIO;
		rl_err_set(err, "CPR state fd %d: short read (%zd of %lld bytes)",
			   fd, n, (long long)st.st_size);
		free(buf);
		return ret;
	}
	ret = rl_cpr_state_parse(buf, n, s, &diag);
	free(buf);
	if (ret)
		rl_err_set(err, "CPR state fd %d: offset %zu: %s", fd, diag.offset,
			   diag.what);
	return ret;
}

int rl_cpr_state_load(struct rl_cpr_state *s, struct rl_error *err)
{
	const char *v = getenv(RL_CPR_ENV);
	char *end;
	long fd;
	int ret, seals;

	if (!v)
		return -ENOENT;
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno || end == v || *end || fd < 0 || fd > 0x7fffffff) {
		rl_err_set(err, "%s=%s: not a descriptor number", RL_CPR_ENV, v);
		return -EINVAL;
	}
	ret = rl_cpr_state_read_fd((int)fd, s, err);
	if (ret)
		return ret;
	/* As the trampoline: a state that could have changed since it was written is refused. */
	seals = fcntl((int)fd, F_GET_SEALS);
	if (s->format == RL_CPR_FORMAT_RELIVE && seals != RL_CPR_STATE_SEALS) {
		rl_err_set(err, "CPR state fd %ld (%s): %s (seals 0x%x, its writer seals 0x%x)",
			   fd, RL_CPR_ENV, seals <= 0 ? "not sealed" : "sealed differently",
			   seals < 0 ? 0 : seals, RL_CPR_STATE_SEALS);
		return -EINVAL;
	}
	close((int)fd);
	unsetenv(RL_CPR_ENV);
	/* the state has the rollback command: its copy must not reach a child */
	unsetenv(RL_CPR_ROLLBACK_ENV);
	return 0;
}

int rl_update_id_new(struct rl_update_id *id)
{
	size_t got = 0;

	while (got < sizeof(id->b)) {
		ssize_t n = getrandom(id->b + got, sizeof(id->b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += n;
	}
	return 0;
}

void rl_update_id_format(const struct rl_update_id *id,
			 char out[2 * RL_UPDATE_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (unsigned i = 0; i < RL_UPDATE_ID_LEN; i++) {
		out[2 * i] = hex[id->b[i] >> 4];
		out[2 * i + 1] = hex[id->b[i] & 15];
	}
	out[2 * RL_UPDATE_ID_LEN] = '\0';
}

static uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int rl_cpr_set_update_id(struct rl_cpr_state *s, const struct rl_update_id *id)
{
	int ret = rl_cpr_value_set(s, RL_CPR_V_UPDATE_ID_HI, be64_get(id->b));

	if (!ret)
		ret = rl_cpr_value_set(s, RL_CPR_V_UPDATE_ID_LO, be64_get(id->b + 8));
	return ret;
}

int rl_cpr_update_id(const struct rl_cpr_state *s, struct rl_update_id *id)
{
	uint64_t hi, lo;

	if (rl_cpr_value_get(s, RL_CPR_V_UPDATE_ID_HI, &hi) < 0 ||
	    rl_cpr_value_get(s, RL_CPR_V_UPDATE_ID_LO, &lo) < 0)
		return -ENOENT;
	be64_put(id->b, hi);
	be64_put(id->b + 8, lo);
	return 0;
}
