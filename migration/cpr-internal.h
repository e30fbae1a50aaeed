/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CPR state's layout and the freestanding code librelive shares with
 * relive-trampoline (migration/cpr-format.c): encoding, both parsers, the
 * per-fd check. Not installed and not part of the library's interface: the
 * public side is include/relive/cpr.h, where the state is opaque.
 */
#ifndef RELIVE_CPR_INTERNAL_H
#define RELIVE_CPR_INTERNAL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/cpr.h"

/* The seals rl_cpr_state_write_memfd() sets; the trampoline wants exactly these. */
#define RL_CPR_STATE_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

enum rl_cpr_fd_kind {
	RL_CPR_FD_ANY = 0,    /* not recorded (QEMU's state): not checked */
	RL_CPR_FD_MEMFD = 1,  /* memfd_create() (also hugetlb memfds) */
	RL_CPR_FD_SOCKET = 2,
	RL_CPR_FD_KVM = 3,    /* /dev/kvm, a KVM VM or vCPU */
	RL_CPR_FD_FILE = 4,   /* a regular file that is not a memfd */
	RL_CPR_FD_OTHER = 5,  /* anything else: pipes, devices, eventfds ... */
	RL_CPR_FD__MAX,
};

/* rl_cpr_fd.flags */
#define RL_CPR_FD_HAS_STAT 0x1u /* @dev, @ino and @size were recorded */

/*
 * struct rl_cpr_fd - one preserved descriptor.
 * @name: NUL-terminated, unique together with @id
 * @fd: the descriptor number, the same in the old and the new process
 * @size: st_size at registration (a memfd must be at least this big after exec)
 */
struct rl_cpr_fd {
	char name[RL_CPR_NAME_MAX];
	int32_t id;
	int32_t fd;
	uint32_t kind;  /* enum rl_cpr_fd_kind */
	uint32_t flags; /* RL_CPR_FD_* */
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
};

struct rl_cpr_u64 {
	char name[RL_CPR_KEY_MAX];
	uint64_t v;
};

enum rl_cpr_format {
	RL_CPR_FORMAT_RELIVE = 1,
	RL_CPR_FORMAT_QEMU = 2,
};

/*
 * struct rl_cpr_state - the whole CPR state, fixed size (about 110 KiB), no
 * pointers: the old process fills it and writes it out, the new process and
 * the trampoline parse into it. Zero it with rl_cpr_state_init().
 * @format: what it was parsed from (RL_CPR_FORMAT_RELIVE when built here)
 * @mode: enum rl_mig_mode of the update
 * @argv: the rollback command, @argc NUL-terminated strings back to back,
 *        @argv_len bytes in all; @argc 0 when there is none
 * @qemu_tail: QEMU format only: bytes after the fd list that were not
 *        understood (an unknown subsection); the fd list is still complete
 */
struct rl_cpr_state {
	uint32_t format;
	uint32_t mode;
	uint32_t nfds;
	uint32_t ntimes;
	uint32_t nvalues;
	uint32_t argc;
	uint32_t argv_len;
	uint32_t qemu_tail;
	struct rl_cpr_fd fds[RL_CPR_MAX_FDS];
	struct rl_cpr_u64 times[RL_CPR_MAX_TIMES];
	struct rl_cpr_u64 values[RL_CPR_MAX_VALUES];
	char argv[RL_CPR_ARGV_MAX];
};

/*
 * struct rl_cpr_diag - where and why a parse failed: @offset into the
 * buffer, @what a constant phrase ("fd name is not NUL-terminated").
 */
struct rl_cpr_diag {
	size_t offset;
	const char *what;
};

/*
 * What the trampoline or the library saw of an open descriptor, to compare
 * with its entry (rl_cpr_fd_check()). @link is the /proc/self/fd target or
 * NULL when it was not read.
 */
struct rl_cpr_fd_seen {
	uint32_t st_mode;
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	bool seals_known; /* @seals_ok was asked; with a recorded device and inode it need not be */
	bool seals_ok;    /* fcntl(F_GET_SEALS) succeeded: shmem or hugetlbfs */
	const char *link;
};

/* ------------------------------------------------- pure part (freestanding)
 * migration/cpr-format.c: no libc beyond memcpy/memcmp/memset, no
 * allocation, bounded loops. relive-trampoline compiles the same file; the
 * public functions it defines (rl_cpr_rollback_exe, rl_cpr_time_get, ...)
 * are declared in relive/cpr.h.
 */

/* rl_cpr_state_init - empty state: no fds, no rollback, mode 0, format relive. */
void rl_cpr_state_init(struct rl_cpr_state *s);

/*
 * rl_cpr_state_encode - serialise @s into @buf (relive format, docs/format.md).
 * Return: 0 and *@len the byte count, or -ENOSPC with *@len the size needed.
 */
int rl_cpr_state_encode(const struct rl_cpr_state *s, void *buf, size_t cap,
			size_t *len);

/*
 * rl_cpr_state_parse - parse @len bytes of either format (told apart by the
 * magic) into @s. Never reads outside @buf.
 * Return: 0, or -EINVAL (malformed, @diag says where), -EBADMSG (checksum),
 * -ENOTSUP (unknown version), -E2BIG (more than the fixed limits hold).
 * @s is unspecified after a failure. @diag may be NULL.
 */
int rl_cpr_state_parse(const void *buf, size_t len, struct rl_cpr_state *s,
		       struct rl_cpr_diag *diag);

/* rl_cpr_lookup - Return: the entry for (@name, @id), or NULL. */
const struct rl_cpr_fd *rl_cpr_lookup(const struct rl_cpr_state *s,
				      const char *name, int id);

/* rl_cpr_kind_of - classify from st_mode and the /proc link. Return: the kind. */
enum rl_cpr_fd_kind rl_cpr_kind_of(uint32_t st_mode, const char *link);

/* Return: "memfd", "socket", "kvm", "file", "other", "any"; "?" out of range. */
/*
 * rl_cpr_rollback_env_encode - the value of RL_CPR_ROLLBACK_ENV for @s
 * (cpr-rollback-env.c). Return: a malloc()ed string, or NULL when @s has no
 * rollback command or memory is short.
 */
char *rl_cpr_rollback_env_encode(const struct rl_cpr_state *s);

const char *rl_cpr_kind_name(uint32_t kind);

/*
 * rl_cpr_fd_check - does what was seen of @e->fd match @e? Checks the kind
 * (as far as @seen tells it), and with RL_CPR_FD_HAS_STAT device, inode and,
 * for a memfd, size >= the recorded size. Open and close-on-exec are the
 * caller's to check first.
 * Return: NULL when it matches, else a constant phrase ("inode differs").
 */
const char *rl_cpr_fd_check(const struct rl_cpr_fd *e,
			    const struct rl_cpr_fd_seen *seen);

#endif
