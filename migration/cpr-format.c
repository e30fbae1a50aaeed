// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CPR state's bytes: relive's own format (encode and parse) and QEMU
 * 10.2's "QCPR" cpr vmstate (parse), plus the pure checks the trampoline and
 * the library share. Freestanding: relive-trampoline compiles this file (and
 * crc32c.c, its checksum) with -nostdlib, so only compiler builtins, no
 * allocation, every loop bounded by the input length or a fixed limit.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cpr-internal.h"
#include "le.h"
#include "relive/crc32c.h"

#define RL_MAGIC 0x50434c52u /* "RLCP" read as little-endian */
#define RL_VERSION 1u
#define RL_HDR 16u
#define REC_HDR 8u
#define FD_FIXED 40u
#define U64_FIXED 8u

enum rec_type {
	REC_MODE = 1,
	REC_FD = 2,
	REC_ROLLBACK = 3,
	REC_TIME = 4,
	REC_VALUE = 5,
	REC_END = 0xffff,
};

#define QEMU_MAGIC 0x51435052u /* "QCPR" big-endian */
#define QEMU_VERSION 1u
#define QEMU_SUBSECTION 0x05
#define QEMU_VFIO_SUB "CprState/vfio devices"

/* ------------------------------------------------------------ small bits */

static size_t rl_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

static bool rl_streq(const char *a, const char *b, size_t max)
{
	size_t i;

	for (i = 0; i < max; i++) {
		if (a[i] != b[i])
			return false;
		if (!a[i])
			return true;
	}
	return true;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int fail(struct rl_cpr_diag *diag, size_t off, const char *what, int err)
{
	if (diag) {
		diag->offset = off;
		diag->what = what;
	}
	return err;
}

/* ----------------------------------------------------------------- table */

void rl_cpr_state_init(struct rl_cpr_state *s)
{
	/* Only the counts need zeroing; the arrays are read up to them. */
	s->format = RL_CPR_FORMAT_RELIVE;
	s->mode = 0;
	s->nfds = 0;
	s->ntimes = 0;
	s->nvalues = 0;
	s->argc = 0;
	s->argv_len = 0;
	s->qemu_tail = 0;
}

const struct rl_cpr_fd *rl_cpr_lookup(const struct rl_cpr_state *s,
				      const char *name, int id)
{
	for (uint32_t i = 0; i < s->nfds && i < RL_CPR_MAX_FDS; i++)
		if (s->fds[i].id == id &&
		    rl_streq(s->fds[i].name, name, RL_CPR_NAME_MAX))
			return &s->fds[i];
	return NULL;
}

int rl_cpr_rollback_exe(const struct rl_cpr_state *s)
{
	const struct rl_cpr_fd *f = rl_cpr_lookup(s, RL_CPR_ROLLBACK_EXE_NAME,
						  RL_CPR_ROLLBACK_EXE_ID);

	return f ? f->fd : -ENOENT;
}

static int u64_get(const struct rl_cpr_u64 *tab, uint32_t n, const char *name,
		   uint64_t *v)
{
	for (uint32_t i = 0; i < n; i++)
		if (rl_streq(tab[i].name, name, RL_CPR_KEY_MAX)) {
			*v = tab[i].v;
			return 0;
		}
	return -ENOENT;
}

static int u64_set(struct rl_cpr_u64 *tab, uint32_t *n, uint32_t max,
		   const char *name, uint64_t v)
{
	size_t len = rl_strnlen(name, RL_CPR_KEY_MAX);
	uint32_t i;

	if (!len)
		return -EINVAL;
	if (len >= RL_CPR_KEY_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < *n; i++)
		if (rl_streq(tab[i].name, name, RL_CPR_KEY_MAX))
			break;
	if (i == *n) {
		if (*n >= max)
			return -ENOSPC;
		__builtin_memset(tab[i].name, 0, RL_CPR_KEY_MAX);
		__builtin_memcpy(tab[i].name, name, len);
		(*n)++;
	}
	tab[i].v = v;
	return 0;
}

int rl_cpr_value_del(struct rl_cpr_state *s, const char *name)
{
	for (uint32_t i = 0; i < s->nvalues; i++)
		if (rl_streq(s->values[i].name, name, RL_CPR_KEY_MAX)) {
			s->values[i] = s->values[--s->nvalues];
			return 0;
		}
	return -ENOENT;
}

int rl_cpr_time_get(const struct rl_cpr_state *s, const char *name, uint64_t *v)
{
	return u64_get(s->times, s->ntimes, name, v);
}

int rl_cpr_value_get(const struct rl_cpr_state *s, const char *name, uint64_t *v)
{
	return u64_get(s->values, s->nvalues, name, v);
}

int rl_cpr_time_set(struct rl_cpr_state *s, const char *name, uint64_t ns)
{
	return u64_set(s->times, &s->ntimes, RL_CPR_MAX_TIMES, name, ns);
}

int rl_cpr_value_set(struct rl_cpr_state *s, const char *name, uint64_t v)
{
	return u64_set(s->values, &s->nvalues, RL_CPR_MAX_VALUES, name, v);
}

/* ----------------------------------------------------------- encode */

struct out {
	uint8_t *p;
	size_t cap;
	size_t len;
};

/* Writes what fits, counts everything, so a too-small buffer reports the size needed. */
static void emit(struct out *o, const void *src, size_t n)
{
	if (o->len <= o->cap && n <= o->cap - o->len)
		__builtin_memcpy(o->p + o->len, src, n);
	o->len += n;
}

static void emit_rec(struct out *o, uint16_t type, uint32_t len)
{
	uint8_t h[REC_HDR];

	rl_put16(h, type);
	rl_put16(h + 2, 0);
	rl_put32(h + 4, len);
	emit(o, h, sizeof(h));
}

static void emit_u64rec(struct out *o, uint16_t type, const struct rl_cpr_u64 *e)
{
	size_t nl = rl_strnlen(e->name, RL_CPR_KEY_MAX - 1) + 1;
	uint8_t b[U64_FIXED];

	emit_rec(o, type, U64_FIXED + nl);
	rl_put64(b, e->v);
	emit(o, b, sizeof(b));
	emit(o, e->name, nl - 1);
	emit(o, "", 1);
}

int rl_cpr_state_encode(const struct rl_cpr_state *s, void *buf, size_t cap,
			size_t *len)
{
	struct out o = { .p = buf, .cap = cap, .len = RL_HDR };
	uint8_t b[FD_FIXED];
	uint32_t i;

	if (s->nfds > RL_CPR_MAX_FDS || s->ntimes > RL_CPR_MAX_TIMES ||
	    s->nvalues > RL_CPR_MAX_VALUES || s->argv_len > RL_CPR_ARGV_MAX ||
	    s->argc > RL_CPR_MAX_ARGS)
		return -EINVAL;

	emit_rec(&o, REC_MODE, 4);
	rl_put32(b, s->mode);
	emit(&o, b, 4);

	for (i = 0; i < s->nfds; i++) {
		const struct rl_cpr_fd *f = &s->fds[i];
		size_t nl = rl_strnlen(f->name, RL_CPR_NAME_MAX - 1) + 1;

		emit_rec(&o, REC_FD, FD_FIXED + nl);
		rl_put32(b, (uint32_t)f->id);
		rl_put32(b + 4, (uint32_t)f->fd);
		rl_put32(b + 8, f->kind);
		rl_put32(b + 12, f->flags);
		rl_put64(b + 16, f->dev);
		rl_put64(b + 24, f->ino);
		rl_put64(b + 32, f->size);
		emit(&o, b, FD_FIXED);
		emit(&o, f->name, nl - 1);
		emit(&o, "", 1);
	}

	if (s->argc) {
		emit_rec(&o, REC_ROLLBACK, 4 + s->argv_len);
		rl_put32(b, s->argc);
		emit(&o, b, 4);
		emit(&o, s->argv, s->argv_len);
	}

	for (i = 0; i < s->ntimes; i++)
		emit_u64rec(&o, REC_TIME, &s->times[i]);
	for (i = 0; i < s->nvalues; i++)
		emit_u64rec(&o, REC_VALUE, &s->values[i]);
	emit_rec(&o, REC_END, 0);

	*len = o.len;
	if (o.len > cap || o.len > UINT32_MAX)
		return -ENOSPC;
	rl_put32(o.p, RL_MAGIC);
	rl_put32(o.p + 4, RL_VERSION);
	rl_put32(o.p + 8, (uint32_t)o.len);
	rl_put32(o.p + 12, rl_crc32c(0, o.p + RL_HDR, o.len - RL_HDR));
	return 0;
}

/* ------------------------------------------------------------ parse */

/* A NUL-terminated name filling exactly @n bytes at @p, no NUL before the end. */
static bool name_ok(const uint8_t *p, size_t n, size_t max)
{
	if (n < 2 || n > max || p[n - 1])
		return false;
	return rl_strnlen((const char *)p, n) == n - 1;
}

/*
 * Duplicate (name, id) check as entries arrive. A hash of each name keeps it
 * to integer compares: the trampoline runs this inside the pause.
 */
struct dup_index {
	uint32_t hash[RL_CPR_MAX_FDS];
};

static uint32_t name_hash(const char *n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < RL_CPR_NAME_MAX && n[i]; i++)
		h = (h ^ (uint8_t)n[i]) * 16777619u;
	return h;
}

static int check_dup(const struct rl_cpr_state *s, struct dup_index *dx,
		     size_t off, struct rl_cpr_diag *diag)
{
	uint32_t last = s->nfds - 1, h = name_hash(s->fds[last].name) ^ (uint32_t)s->fds[last].id;

	dx->hash[last] = h;
	for (uint32_t i = 0; i < last; i++)
		if (dx->hash[i] == h && s->fds[i].id == s->fds[last].id &&
		    rl_streq(s->fds[i].name, s->fds[last].name, RL_CPR_NAME_MAX))
			return fail(diag, off, "duplicate fd name and id", -EINVAL);
	return 0;
}

static int parse_u64rec(const uint8_t *p, uint32_t len, struct rl_cpr_u64 *tab,
			uint32_t *n, uint32_t max, size_t off,
			struct rl_cpr_diag *diag)
{
	if (len < U64_FIXED || !name_ok(p + U64_FIXED, len - U64_FIXED, RL_CPR_KEY_MAX))
		return fail(diag, off, "bad timestamp or value record", -EINVAL);
	if (*n >= max)
		return fail(diag, off, "too many timestamps or values", -E2BIG);
	__builtin_memset(tab[*n].name, 0, RL_CPR_KEY_MAX);
	__builtin_memcpy(tab[*n].name, p + U64_FIXED, len - U64_FIXED);
	tab[*n].v = rl_get64(p);
	(*n)++;
	return 0;
}

static int parse_rollback(const uint8_t *p, uint32_t len, struct rl_cpr_state *s,
			  size_t off, struct rl_cpr_diag *diag)
{
	uint32_t argc, seen = 0, n;

	if (s->argc)
		return fail(diag, off, "second rollback record", -EINVAL);
	if (len < 4)
		return fail(diag, off, "rollback record too short", -EINVAL);
	argc = rl_get32(p);
	n = len - 4;
	if (argc == 0 || argc > RL_CPR_MAX_ARGS || n > RL_CPR_ARGV_MAX)
		return fail(diag, off, "rollback command too long or empty", -E2BIG);
	if (n == 0 || p[len - 1])
		return fail(diag, off, "rollback argument not NUL-terminated", -EINVAL);
	for (uint32_t i = 0; i < n; i++)
		seen += !p[4 + i];
	if (seen != argc)
		return fail(diag, off, "rollback argument count differs", -EINVAL);
	__builtin_memcpy(s->argv, p + 4, n);
	s->argc = argc;
	s->argv_len = n;
	return 0;
}

static int parse_relive(const uint8_t *p, size_t len, struct rl_cpr_state *s,
			struct rl_cpr_diag *diag)
{
	struct dup_index dx;
	size_t off = RL_HDR, total;
	uint32_t version;
	int ret;

	version = rl_get32(p + 4);
	if (version != RL_VERSION)
		return fail(diag, 4, "unknown relive CPR state version", -ENOTSUP);
	total = rl_get32(p + 8);
	if (total != len)
		return fail(diag, 8, "length field differs from the data", -EINVAL);
	if (rl_get32(p + 12) != rl_crc32c(0, p + RL_HDR, len - RL_HDR))
		return fail(diag, 12, "checksum mismatch", -EBADMSG);

	/* Each record consumes at least REC_HDR bytes: at most len/8 rounds. */
	while (off + REC_HDR <= len) {
		uint16_t type = rl_get16(p + off);
		uint32_t rlen = rl_get32(p + off + 4);
		const uint8_t *q = p + off + REC_HDR;

		if (rl_get16(p + off + 2))
			return fail(diag, off, "reserved record bits set", -EINVAL);
		if (rlen > len - off - REC_HDR)
			return fail(diag, off, "record runs past the end", -EINVAL);
		switch (type) {
		case REC_MODE:
			if (rlen != 4)
				return fail(diag, off, "bad mode record", -EINVAL);
			s->mode = rl_get32(q);
			break;
		case REC_FD: {
			struct rl_cpr_fd *f;

			if (rlen < FD_FIXED ||
			    !name_ok(q + FD_FIXED, rlen - FD_FIXED, RL_CPR_NAME_MAX))
				return fail(diag, off, "bad fd record or name", -EINVAL);
			if (s->nfds >= RL_CPR_MAX_FDS)
				return fail(diag, off, "too many fds", -E2BIG);
			f = &s->fds[s->nfds];
			f->id = (int32_t)rl_get32(q);
			f->fd = (int32_t)rl_get32(q + 4);
			f->kind = rl_get32(q + 8);
			f->flags = rl_get32(q + 12);
			f->dev = rl_get64(q + 16);
			f->ino = rl_get64(q + 24);
			f->size = rl_get64(q + 32);
			if (f->fd < 0 || f->kind >= RL_CPR_FD__MAX)
				return fail(diag, off, "bad fd number or kind", -EINVAL);
			__builtin_memset(f->name, 0, RL_CPR_NAME_MAX);
			__builtin_memcpy(f->name, q + FD_FIXED, rlen - FD_FIXED);
			s->nfds++;
			ret = check_dup(s, &dx, off, diag);
			if (ret)
				return ret;
			break;
		}
		case REC_ROLLBACK:
			ret = parse_rollback(q, rlen, s, off, diag);
			if (ret)
				return ret;
			break;
		case REC_TIME:
			ret = parse_u64rec(q, rlen, s->times, &s->ntimes,
					   RL_CPR_MAX_TIMES, off, diag);
			if (ret)
				return ret;
			break;
		case REC_VALUE:
			ret = parse_u64rec(q, rlen, s->values, &s->nvalues,
					   RL_CPR_MAX_VALUES, off, diag);
			if (ret)
				return ret;
			break;
		case REC_END:
			if (rlen || off + REC_HDR != len)
				return fail(diag, off, "data after the end record", -EINVAL);
			return 0;
		default:
			/* A later writer's record: skipped, the rest stays usable. */
			break;
		}
		off += REC_HDR + rlen;
	}
	return fail(diag, off, "no end record (truncated)", -EINVAL);
}

/*
 * QEMU's cpr vmstate: its fd list (QTAILQ: 0x01 before each entry, 0x00
 * after the last), then optional subsections. Only the fd list matters to
 * the trampoline; whatever follows it and is not understood is counted in
 * @s->qemu_tail instead of failing.
 */
static int parse_qemu(const uint8_t *p, size_t len, struct rl_cpr_state *s,
		      struct rl_cpr_diag *diag)
{
	struct dup_index dx;
	size_t off = 8;

	if (get_be32(p + 4) != QEMU_VERSION)
		return fail(diag, 4, "unknown QEMU CPR state version", -ENOTSUP);
	s->format = RL_CPR_FORMAT_QEMU;
	s->mode = 3; /* RL_MODE_CPR_EXEC: this memfd only exists in that mode */

	/* Each entry consumes at least 13 bytes: bounded by len. */
	for (;;) {
		struct rl_cpr_fd *f;
		uint32_t nl;
		int ret;

		if (off >= len)
			return fail(diag, off, "fd list not terminated (truncated)", -EINVAL);
		if (p[off] == 0)
			break;
		if (p[off] != 1)
			return fail(diag, off, "bad fd list marker", -EINVAL);
		if (len - off < 5)
			return fail(diag, off, "fd entry truncated", -EINVAL);
		nl = get_be32(p + off + 1);
		if (nl > RL_CPR_NAME_MAX)
			return fail(diag, off + 1, "fd name longer than 127 bytes", -E2BIG);
		if (nl > len - off - 5 || len - off - 5 - nl < 8)
			return fail(diag, off, "fd entry truncated", -EINVAL);
		if (!name_ok(p + off + 5, nl, RL_CPR_NAME_MAX))
			return fail(diag, off + 5, "fd name is empty or not NUL-terminated",
				    -EINVAL);
		if (s->nfds >= RL_CPR_MAX_FDS)
			return fail(diag, off, "too many fds", -E2BIG);
		f = &s->fds[s->nfds];
		__builtin_memset(f, 0, sizeof(*f));
		__builtin_memcpy(f->name, p + off + 5, nl);
		f->id = (int32_t)get_be32(p + off + 5 + nl);
		f->fd = (int32_t)get_be32(p + off + 9 + nl);
		f->kind = RL_CPR_FD_ANY;
		if (f->fd < 0)
			return fail(diag, off + 9 + nl, "negative fd number", -EINVAL);
		s->nfds++;
		ret = check_dup(s, &dx, off, diag);
		if (ret)
			return ret;
		off += 13 + nl;
	}
	off++;

	/* The one subsection QEMU 10.2 writes, with an empty device list. */
	if (off == len)
		return 0;
	if (len - off == 1 + 1 + sizeof(QEMU_VFIO_SUB) - 1 + 4 + 1 &&
	    p[off] == QEMU_SUBSECTION && p[off + 1] == sizeof(QEMU_VFIO_SUB) - 1 &&
	    !__builtin_memcmp(p + off + 2, QEMU_VFIO_SUB, sizeof(QEMU_VFIO_SUB) - 1) &&
	    get_be32(p + len - 5) == 1 && p[len - 1] == 0)
		return 0;
	s->qemu_tail = (uint32_t)(len - off);
	return 0;
}

int rl_cpr_state_parse(const void *buf, size_t len, struct rl_cpr_state *s,
		       struct rl_cpr_diag *diag)
{
	const uint8_t *p = buf;

	rl_cpr_state_init(s);
	if (len < 8)
		return fail(diag, 0, "shorter than a header", -EINVAL);
	if (len > UINT32_MAX)
		return fail(diag, 0, "larger than 4 GiB", -E2BIG);
	if (rl_get32(p) == RL_MAGIC) {
		if (len < RL_HDR)
			return fail(diag, 0, "shorter than a header", -EINVAL);
		return parse_relive(p, len, s, diag);
	}
	if (get_be32(p) == QEMU_MAGIC)
		return parse_qemu(p, len, s, diag);
	return fail(diag, 0, "unknown magic (neither RLCP nor QCPR)", -EINVAL);
}

/* -------------------------------------------------------------- checks */

static bool has_prefix(const char *s, const char *pre)
{
	size_t i;

	for (i = 0; pre[i]; i++)
		if (s[i] != pre[i])
			return false;
	return true;
}

enum rl_cpr_fd_kind rl_cpr_kind_of(uint32_t st_mode, const char *link)
{
	if (S_ISSOCK(st_mode))
		return RL_CPR_FD_SOCKET;
	if (link && (has_prefix(link, "anon_inode:kvm") ||
		     rl_streq(link, "/dev/kvm", 9)))
		return RL_CPR_FD_KVM;
	if (S_ISREG(st_mode)) {
		if (link && has_prefix(link, "/memfd:"))
			return RL_CPR_FD_MEMFD;
		return RL_CPR_FD_FILE;
	}
	return RL_CPR_FD_OTHER;
}

const char *rl_cpr_kind_name(uint32_t kind)
{
	static const char *const names[RL_CPR_FD__MAX] = {
		[RL_CPR_FD_ANY] = "any",       [RL_CPR_FD_MEMFD] = "memfd",
		[RL_CPR_FD_SOCKET] = "socket", [RL_CPR_FD_KVM] = "kvm",
		[RL_CPR_FD_FILE] = "file",     [RL_CPR_FD_OTHER] = "other",
	};

	return kind < RL_CPR_FD__MAX ? names[kind] : "?";
}

const char *rl_cpr_fd_check(const struct rl_cpr_fd *e,
			    const struct rl_cpr_fd_seen *seen)
{
	switch (e->kind) {
	case RL_CPR_FD_MEMFD:
		if (!S_ISREG(seen->st_mode) || (seen->seals_known && !seen->seals_ok))
			return "not a memfd";
		if (seen->link && !has_prefix(seen->link, "/memfd:"))
			return "not a memfd";
		break;
	case RL_CPR_FD_SOCKET:
		if (!S_ISSOCK(seen->st_mode))
			return "not a socket";
		break;
	case RL_CPR_FD_KVM:
		if (seen->link && rl_cpr_kind_of(seen->st_mode, seen->link) != RL_CPR_FD_KVM)
			return "not a KVM descriptor";
		break;
	case RL_CPR_FD_FILE:
		if (!S_ISREG(seen->st_mode))
			return "not a regular file";
		break;
	default:
		break;
	}
	if (!(e->flags & RL_CPR_FD_HAS_STAT))
		return NULL;
	if (seen->dev != e->dev)
		return "device differs";
	if (seen->ino != e->ino)
		return "inode differs";
	if (e->kind == RL_CPR_FD_MEMFD && seen->size < e->size)
		return "memfd smaller than recorded";
	return NULL;
}
