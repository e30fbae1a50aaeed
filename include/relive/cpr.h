/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive CPR state: the table of descriptors handed across exec (keyed by
 * name and id, as QEMU's cpr.c keys them), the rollback command, the mode,
 * the update's timestamps and a few named values, its wire format (a sealed
 * memfd named in RELIVE_CPR_STATE), the parser of QEMU's own CPR state, and
 * the exec step of cpr-exec. docs/format.md describes the bytes.
 */
#ifndef RELIVE_CPR_H
#define RELIVE_CPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/error.h"

#define RL_CPR_ENV "RELIVE_CPR_STATE"         /* fd number of the state memfd */
#define RL_CPR_QEMU_ENV "QEMU_CPR_EXEC_STATE" /* QEMU 10.2's equivalent */
#define RL_CPR_TRAMPOLINE_ENV "RELIVE_TRAMPOLINE_T"

#define RL_CPR_MAX_FDS 256
#define RL_CPR_NAME_MAX 128     /* fd names, including the NUL */
#define RL_CPR_KEY_MAX 32       /* timestamp and value names, including the NUL */
#define RL_CPR_MAX_TIMES 16
#define RL_CPR_MAX_VALUES 16
#define RL_CPR_ARGV_MAX 65536   /* rollback argv: bytes of all strings with their NULs */
#define RL_CPR_MAX_ARGS 1024

/* Well-known timestamp names (CLOCK_MONOTONIC ns). The VMM may add its own. */
#define RL_CPR_T_STOP "stop"   /* vCPUs stopped */
#define RL_CPR_T_STATE "state" /* device state written */
#define RL_CPR_T_EXEC "exec"   /* just before the CPR state is sealed and exec runs */

/*
 * The entry rl_cpr_set_rollback_exe() adds: "relive:" names are reserved
 * for the library, the id is the version of the entry's meaning.
 */
#define RL_CPR_RESERVED_PREFIX "relive:"
#define RL_CPR_ROLLBACK_EXE_NAME "relive:rollback-exe"
#define RL_CPR_ROLLBACK_EXE_ID 1

/* Well-known value names. */
#define RL_CPR_V_HOLDER "holder-pid" /* address-space holder left by rl_cpr_exec() */

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
 * allocation, bounded loops. relive-trampoline compiles the same file.
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

/* Return: 0 and *@v, the timestamp or value named @name, or -ENOENT. */
int rl_cpr_time_get(const struct rl_cpr_state *s, const char *name, uint64_t *v);
int rl_cpr_value_get(const struct rl_cpr_state *s, const char *name, uint64_t *v);

/* Return: 0 or -ENOSPC (table full) or -ENAMETOOLONG. Replaces an existing name. */
int rl_cpr_time_set(struct rl_cpr_state *s, const char *name, uint64_t ns);
int rl_cpr_value_set(struct rl_cpr_state *s, const char *name, uint64_t v);

/* rl_cpr_value_del - forget the value @name. Return: 0 or -ENOENT. */
int rl_cpr_value_del(struct rl_cpr_state *s, const char *name);

/*
 * rl_cpr_crc32c - CRC32C of the state's body; the same function as
 * rl_crc32c() (crc32c.h), kept here in a small table-free form because the
 * trampoline cannot link the threaded one. Return: the CRC.
 */
uint32_t rl_cpr_crc32c(uint32_t crc, const void *buf, size_t len);

/* ------------------------------------------------------ the table (libc) */

/*
 * rl_cpr_add_fd - register @fd under (@name, @id). fstat()s it and reads its
 * /proc link now, to record kind, device, inode and size. Borrows @fd: the
 * table never closes it; the caller keeps it open (close-on-exec set) until
 * exec. Return: 0, -EBADF, -EEXIST (same name and id), -ENOSPC (table full),
 * -ENAMETOOLONG, -EINVAL (empty name, or one starting with "relive:",
 * reserved for the library's own entries).
 */
int rl_cpr_add_fd(struct rl_cpr_state *s, const char *name, int id, int fd);

/* rl_cpr_del_fd - forget (@name, @id). Return: 0 or -ENOENT. */
int rl_cpr_del_fd(struct rl_cpr_state *s, const char *name, int id);

/* rl_cpr_find_fd - Return: the descriptor number for (@name, @id), or -ENOENT. */
int rl_cpr_find_fd(const struct rl_cpr_state *s, const char *name, int id);

/*
 * rl_cpr_verify_fd - in the new process: is (@name, @id) open under its
 * number, and is it still the file that was registered (kind, device, inode,
 * size)? Return: the descriptor, -ENOENT (not in the table), -EBADF (not
 * open), -ESTALE (a different file, @err says what differs).
 */
int rl_cpr_verify_fd(const struct rl_cpr_state *s, const char *name, int id,
		     struct rl_error *err);

/*
 * rl_cpr_set_rollback - the command the trampoline runs when the new binary
 * cannot be started: the old binary with the same arguments and -incoming.
 * NULL or an empty @argv clears it. Return: 0, -E2BIG.
 */
int rl_cpr_set_rollback(struct rl_cpr_state *s, const char *const *argv);

/*
 * rl_cpr_set_rollback_exe - roll back through @fd, the VMM's own executable
 * (open("/proc/self/exe", O_PATH | O_CLOEXEC)), instead of the path in the
 * rollback command: a package upgrade may have renamed a new binary over
 * that path, or deleted it. Records @fd as a preserved entry
 * (RL_CPR_ROLLBACK_EXE_NAME, docs/format.md), so it crosses the exec, is
 * verified like any other and is never a stray; the trampoline execs it with
 * execveat(@fd, "", argv, envp, AT_EMPTY_PATH). Borrows @fd, as
 * rl_cpr_add_fd() does: the caller keeps it open until exec (rl_cpr_exec()
 * clears close-on-exec). Replaces an earlier one; a negative @fd forgets it.
 * Return: 0, -EBADF (not open), -EINVAL (not a regular file), -ENOSPC.
 */
int rl_cpr_set_rollback_exe(struct rl_cpr_state *s, int fd);

/*
 * rl_cpr_rollback_exe - the fd set by rl_cpr_set_rollback_exe(), as the
 * state records it (in the new process: the same number, inherited).
 * Return: the fd (owned by the process, not by @s), or -ENOENT.
 */
int rl_cpr_rollback_exe(const struct rl_cpr_state *s);

/* rl_cpr_now_ns - Return: CLOCK_MONOTONIC in ns. */
uint64_t rl_cpr_now_ns(void);

/*
 * rl_cpr_state_write_memfd - encode @s into a new memfd (MFD_CLOEXEC), seal
 * it against writes and size changes. Return: 0 and *@fd (owned by the
 * caller), or -errno with @err filled.
 */
int rl_cpr_state_write_memfd(const struct rl_cpr_state *s, int *fd,
			     struct rl_error *err);

/*
 * rl_cpr_state_read_fd - parse the state in @fd with pread from offset 0
 * (the file offset is left alone). Does not close @fd.
 * Return: 0 or -errno (see rl_cpr_state_parse()) with @err filled.
 */
int rl_cpr_state_read_fd(int fd, struct rl_cpr_state *s, struct rl_error *err);

/*
 * rl_cpr_state_load - in the new process, before creating anything: read
 * the state named by RELIVE_CPR_STATE, close its memfd and unset the
 * variable. Return: 0, -ENOENT (the variable is not set: not a CPR start),
 * or -errno with @err filled (the variable is left set for diagnosis).
 */
int rl_cpr_state_load(struct rl_cpr_state *s, struct rl_error *err);

/* -------------------------------------------------------------- cpr-exec */

/*
 * rl_cpr_preserve - clear close-on-exec on exactly the table's descriptors
 * (right before exec: they should not cross any other fork and exec).
 * Return: 0, or -errno after restoring what it changed.
 */
int rl_cpr_preserve(const struct rl_cpr_state *s);

/* rl_cpr_unpreserve - set close-on-exec again on the table's descriptors. */
void rl_cpr_unpreserve(const struct rl_cpr_state *s);

struct rl_cpr_exec_opts {
	bool no_holder; /* do not leave an address-space holder (slower exec) */
};

/*
 * rl_cpr_exec - the exec step of cpr-exec. Records the "exec" timestamp,
 * (by default) leaves an address-space holder so the kernel tears the old
 * page tables down after the pause instead of inside execve, writes @s to a
 * sealed memfd, puts its number in RELIVE_CPR_STATE, clears close-on-exec on
 * exactly the preserved descriptors and execvp()s @argv. Must be called from
 * the thread that will exec.
 * Return: only on failure: -errno, with everything undone (close-on-exec
 * restored, memfd closed, variable unset, holder killed and reaped), so the
 * caller can resume its guest. @s gains the "exec" time and loses the holder value.
 */
int rl_cpr_exec(struct rl_cpr_state *s, char *const argv[],
		const struct rl_cpr_exec_opts *opts, struct rl_error *err);

/*
 * rl_cpr_exec_release_holder - in the new process, once the guest runs
 * again: kill and reap the holder named in @s. Blocks while the kernel
 * frees the old address space (tens of ms for GiBs): call it after resume.
 * Return: 0, -ENOENT (no holder recorded), or -errno from kill/waitpid.
 */
int rl_cpr_exec_release_holder(const struct rl_cpr_state *s);

#endif
