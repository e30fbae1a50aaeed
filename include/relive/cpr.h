/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive CPR state: the table of descriptors handed across exec (keyed by
 * name and id, as QEMU's cpr.c keys them), the rollback command and the old
 * executable, the mode, the update's timestamps and a few named values, the
 * state's memfd (named in RELIVE_CPR_STATE), and the exec step of cpr-exec.
 * The state is opaque: allocate it with rl_cpr_state_new(). docs/format.md
 * describes its bytes.
 *
 * Ownership: the state never owns a descriptor. It records the numbers of
 * fds the caller keeps open, and it never closes one, except the state's
 * own memfd in rl_cpr_state_load(). Strings passed in are copied; strings
 * returned point into the state and stay valid until it is changed or freed.
 */
#ifndef RELIVE_CPR_H
#define RELIVE_CPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/error.h"
#include "relive/export.h"

#define RL_CPR_ENV "RELIVE_CPR_STATE"         /* fd number of the state memfd */
#define RL_CPR_QEMU_ENV "QEMU_CPR_EXEC_STATE" /* QEMU 10.2's equivalent */
#define RL_CPR_TRAMPOLINE_ENV "RELIVE_TRAMPOLINE_T"
/* the rollback command again, for a new process that cannot read the state */
#define RL_CPR_ROLLBACK_ENV "RELIVE_CPR_ROLLBACK"

/* The state's limits. */
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
#define RL_CPR_V_UPDATE_ID_HI "update-id-hi" /* rl_cpr_set_update_id(): bytes 0..7 */
#define RL_CPR_V_UPDATE_ID_LO "update-id-lo" /* and bytes 8..15, big-endian */

/*
 * struct rl_update_id - the identity of one update: random, drawn for each
 * update. The CPR state and the state stream of an update carry the same
 * one, so that a process started by the update loads that update's stream
 * and no other (rl_stream_load_check_update()).
 */
#define RL_UPDATE_ID_LEN 16
struct rl_update_id {
	uint8_t b[RL_UPDATE_ID_LEN];
};

struct rl_cpr_state;

/* ------------------------------------------------------------ the state */

/*
 * rl_cpr_state_new - an empty state: no fds, no rollback command, mode 0.
 * Return: the state, owned by the caller (release it with
 * rl_cpr_state_free()), or NULL when out of memory.
 */
RL_EXPORT struct rl_cpr_state *rl_cpr_state_new(void);

/* rl_cpr_state_free - release @s (NULL is fine); closes none of its fds. */
RL_EXPORT void rl_cpr_state_free(struct rl_cpr_state *s);

/* Return: the update's mode (enum rl_mig_mode, relive/migrate.h). */
RL_EXPORT unsigned rl_cpr_state_mode(const struct rl_cpr_state *s);

/* rl_cpr_state_set_mode - record the update's mode (enum rl_mig_mode). */
RL_EXPORT void rl_cpr_state_set_mode(struct rl_cpr_state *s, unsigned mode);

/* ------------------------------------------------------------ the fd table */

/*
 * rl_cpr_add_fd - register @fd under (@name, @id). fstat()s it and reads its
 * /proc link now, to record kind, device, inode and size. Borrows @fd: the
 * table never closes it; the caller keeps it open (close-on-exec set) until
 * exec. Return: 0, -EBADF, -EEXIST (same name and id), -ENOSPC (table full),
 * -ENAMETOOLONG, -EINVAL (empty name, or one starting with "relive:",
 * reserved for the library's own entries).
 */
RL_EXPORT int rl_cpr_add_fd(struct rl_cpr_state *s, const char *name, int id, int fd);

/* rl_cpr_del_fd - forget (@name, @id); the fd stays open. Return: 0 or -ENOENT. */
RL_EXPORT int rl_cpr_del_fd(struct rl_cpr_state *s, const char *name, int id);

/* rl_cpr_find_fd - Return: the descriptor number for (@name, @id), or -ENOENT. */
RL_EXPORT int rl_cpr_find_fd(const struct rl_cpr_state *s, const char *name, int id);

/* Return: how many fds the table holds (reserved entries included). */
RL_EXPORT unsigned rl_cpr_fd_count(const struct rl_cpr_state *s);

/*
 * rl_cpr_fd_at - the @i-th entry (0 <= @i < rl_cpr_fd_count()), in no
 * particular order. *@name (pointing into @s) and *@id when not NULL.
 * Return: its descriptor number, or -ENOENT when @i is out of range.
 */
RL_EXPORT int rl_cpr_fd_at(const struct rl_cpr_state *s, unsigned i, const char **name,
			   int *id);

/*
 * rl_cpr_verify_fd - in the new process: is (@name, @id) open under its
 * number, and is it still the file that was registered (kind, device, inode,
 * size)? Return: the descriptor (the caller's to own from now on), -ENOENT
 * (not in the table), -EBADF (not open), -ESTALE (a different file, @err
 * says what differs).
 */
RL_EXPORT int rl_cpr_verify_fd(const struct rl_cpr_state *s, const char *name, int id,
			       struct rl_error *err);

/* ------------------------------------------------------------ rollback */

/*
 * rl_cpr_set_rollback - the command the trampoline runs when the new binary
 * cannot be started: the old binary with the same arguments and -incoming.
 * Copies @argv (NULL-terminated). NULL or an empty @argv clears it.
 * Return: 0, -E2BIG.
 */
RL_EXPORT int rl_cpr_set_rollback(struct rl_cpr_state *s, const char *const *argv);

/* Return: the number of strings in the rollback command, 0 when there is none. */
RL_EXPORT unsigned rl_cpr_rollback_argc(const struct rl_cpr_state *s);

/*
 * rl_cpr_rollback_arg - Return: the @i-th string of the rollback command
 * (pointing into @s), or NULL when @i is out of range.
 */
RL_EXPORT const char *rl_cpr_rollback_arg(const struct rl_cpr_state *s, unsigned i);

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
RL_EXPORT int rl_cpr_set_rollback_exe(struct rl_cpr_state *s, int fd);

/*
 * rl_cpr_rollback_exe - the fd set by rl_cpr_set_rollback_exe(), as the
 * state records it (in the new process: the same number, inherited).
 * Return: the fd (owned by the process, not by @s), or -ENOENT.
 */
RL_EXPORT int rl_cpr_rollback_exe(const struct rl_cpr_state *s);

/* ------------------------------------------------ timestamps and values */

/* Return: 0 and *@v, the timestamp or value named @name, or -ENOENT. */
RL_EXPORT int rl_cpr_time_get(const struct rl_cpr_state *s, const char *name, uint64_t *v);
RL_EXPORT int rl_cpr_value_get(const struct rl_cpr_state *s, const char *name, uint64_t *v);

/* Return: 0 or -ENOSPC (table full) or -ENAMETOOLONG. Replaces an existing name. */
RL_EXPORT int rl_cpr_time_set(struct rl_cpr_state *s, const char *name, uint64_t ns);
RL_EXPORT int rl_cpr_value_set(struct rl_cpr_state *s, const char *name, uint64_t v);

/* rl_cpr_value_del - forget the value @name. Return: 0 or -ENOENT. */
RL_EXPORT int rl_cpr_value_del(struct rl_cpr_state *s, const char *name);

/* rl_update_id_new - draw a new identity (getrandom). Return: 0 or -errno. */
RL_EXPORT int rl_update_id_new(struct rl_update_id *id);
/* The identity as 32 lowercase hex digits and a NUL, for messages. */
RL_EXPORT void rl_update_id_format(const struct rl_update_id *id,
				   char out[2 * RL_UPDATE_ID_LEN + 1]);
/* Records @id in @s (two values). Return: 0 or -ENOSPC (value table full). */
RL_EXPORT int rl_cpr_set_update_id(struct rl_cpr_state *s, const struct rl_update_id *id);
/* Return: 0 and *@id, or -ENOENT when @s has none (written before the field). */
RL_EXPORT int rl_cpr_update_id(const struct rl_cpr_state *s, struct rl_update_id *id);

/* rl_cpr_now_ns - Return: CLOCK_MONOTONIC in ns. */
RL_EXPORT uint64_t rl_cpr_now_ns(void);

/* ------------------------------------------------------ the state memfd */

/*
 * rl_cpr_state_write_memfd - encode @s into a new memfd (MFD_CLOEXEC), seal
 * it against writes and size changes. Return: 0 and *@fd (owned by the
 * caller), or -errno with @err filled.
 */
RL_EXPORT int rl_cpr_state_write_memfd(const struct rl_cpr_state *s, int *fd,
				       struct rl_error *err);

/*
 * rl_cpr_state_read_fd - parse the state in @fd (relive's or QEMU's format)
 * into @s with pread from offset 0 (the file offset is left alone). Borrows
 * @fd: does not close it. Return: 0, or -EINVAL (malformed), -EBADMSG
 * (checksum), -ENOTSUP (unknown version), -E2BIG (past the limits), or
 * another -errno, with @err filled; @s is then unspecified.
 */
RL_EXPORT int rl_cpr_state_read_fd(int fd, struct rl_cpr_state *s, struct rl_error *err);

/*
 * rl_cpr_state_load - in the new process, before creating anything: read
 * the state named by RELIVE_CPR_STATE into @s, close its memfd and unset the
 * variable. A memfd without exactly the seals rl_cpr_state_write_memfd()
 * sets is refused (-EINVAL). Return: 0, -ENOENT (the variable is not set:
 * not a CPR start), or -errno with @err filled (the variable is left set
 * for diagnosis).
 */
RL_EXPORT int rl_cpr_state_load(struct rl_cpr_state *s, struct rl_error *err);

/* -------------------------------------------------------------- cpr-exec */

/*
 * rl_cpr_preserve - clear close-on-exec on exactly the table's descriptors
 * (right before exec: they should not cross any other fork and exec).
 * Return: 0, or -errno after restoring what it changed.
 */
RL_EXPORT int rl_cpr_preserve(const struct rl_cpr_state *s);

/* rl_cpr_unpreserve - set close-on-exec again on the table's descriptors. */
RL_EXPORT void rl_cpr_unpreserve(const struct rl_cpr_state *s);

struct rl_cpr_exec_opts {
	bool no_holder; /* do not leave an address-space holder (slower exec) */
	bool rollback;	/* this exec is a rollback: offer no rollback of it */
};

/*
 * rl_cpr_exec - the exec step of cpr-exec. Records the "exec" timestamp,
 * (by default) leaves an address-space holder so the kernel tears the old
 * page tables down after the pause instead of inside execve (the one
 * rl_cpr_exec_hold() started, else one of its own), writes @s to a
 * sealed memfd, puts its number in RELIVE_CPR_STATE, puts the rollback
 * command (if @s has one, and unless @opts->rollback) in RELIVE_CPR_ROLLBACK,
 * clears close-on-exec on exactly the preserved descriptors and execvp()s @argv. Must be called from
 * the thread that will exec. @opts may be NULL.
 * Return: only on failure: -errno, with everything undone (close-on-exec
 * restored, memfd closed, variables unset, holder killed and reaped), so the
 * caller can resume its guest. @s gains the "exec" time and loses the holder value.
 */
RL_EXPORT int rl_cpr_exec(struct rl_cpr_state *s, char *const argv[],
			  const struct rl_cpr_exec_opts *opts, struct rl_error *err);

/*
 * rl_cpr_exec_hold - start the address-space holder of the next
 * rl_cpr_exec() now, while the guest still runs, so that starting it (a
 * clone of the process) is not part of the pause. Call it from the thread
 * that will exec: the holder dies with that thread. rl_cpr_exec() takes it
 * over, and ends it like its own when the exec fails.
 * Return: the holder's pid, -EBUSY when one is already held, or -errno
 * (then rl_cpr_exec() starts one itself, as without this call).
 */
RL_EXPORT int rl_cpr_exec_hold(void);

/*
 * rl_cpr_exec_unhold - the update was called off before its exec: kill
 * and reap the held holder. Nothing when none is held.
 */
RL_EXPORT void rl_cpr_exec_unhold(void);

/*
 * rl_cpr_rollback_from_env - in a new process that cannot read its CPR
 * state: the rollback command and executable fd that rl_cpr_exec() left in
 * RELIVE_CPR_ROLLBACK, so that it can still give the guest back. Exec
 * @argv (through @exe_fd with execveat() when it is >= 0) with
 * RELIVE_CPR_STATE left as it is: the old binary reads the state itself.
 * Unset RELIVE_CPR_ROLLBACK first, so the rollback cannot roll back again.
 * Return: 0 with *@argv one malloc()ed block (argv and its strings: free()
 * it once), -ENOENT without the variable, -EINVAL when it is malformed,
 * -ENOMEM.
 */
RL_EXPORT int rl_cpr_rollback_from_env(char ***argv, int *exe_fd);

/*
 * rl_cpr_exec_release_holder - in the new process, once the guest runs
 * again: kill and reap the holder named in @s. Blocks while the kernel
 * frees the old address space (tens of ms for GiBs): call it after resume.
 * Return: 0, -ENOENT (no holder recorded), or -errno from kill/waitpid.
 */
RL_EXPORT int rl_cpr_exec_release_holder(const struct rl_cpr_state *s);

#endif
