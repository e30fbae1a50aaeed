/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive migration control: modes, parameters and capabilities (QEMU's names
 * and spelling), migration URIs, the blockers checked before the VM stops,
 * and the migration status and run state machines with the names QMP and HMP
 * print. Nothing here does I/O except the blocker check's PATH lookup.
 *
 * Ownership: no fd crosses this interface. struct rl_mig_params owns its
 * copy of the cpr-exec command (rl_mig_params_free() frees it); strings
 * returned by the *_name() functions are constants; a parsed URI is a
 * copy in the caller's struct rl_mig_uri.
 */
#ifndef RELIVE_MIGRATE_H
#define RELIVE_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "relive/export.h"
#include "relive/error.h"
#include "relive/ram.h"

/* ------------------------------------------------------------------ modes */

enum rl_mig_mode {
	RL_MODE_NORMAL = 0,
	RL_MODE_CPR_REBOOT = 1,
	RL_MODE_CPR_TRANSFER = 2,
	RL_MODE_CPR_EXEC = 3,
	RL_MODE__MAX,
};

/* Return: "normal", "cpr-reboot", "cpr-transfer", "cpr-exec"; NULL if out of range. */
RL_EXPORT const char *rl_mig_mode_name(enum rl_mig_mode mode);

/* rl_mig_mode_parse - QEMU's spelling to a mode. Return: 0 and *@out, or -EINVAL. */
RL_EXPORT int rl_mig_mode_parse(const char *name, enum rl_mig_mode *out);

/* Return: true for the three CPR modes. */
RL_EXPORT bool rl_mig_mode_is_cpr(enum rl_mig_mode mode);

/* ----------------------------------------------------------- capabilities */

enum rl_mig_cap {
	RL_CAP_X_IGNORE_SHARED = 0,
	/* accepted only so that combining them with a CPR mode is refused */
	RL_CAP_POSTCOPY_RAM = 1,
	RL_CAP_BACKGROUND_SNAPSHOT = 2,
	RL_CAP_X_COLO = 3,
	RL_CAP__MAX,
};

/* Return: "x-ignore-shared", "postcopy-ram", "background-snapshot", "x-colo"; NULL if out of range. */
RL_EXPORT const char *rl_mig_cap_name(enum rl_mig_cap cap);

/* rl_mig_cap_parse - Return: 0 and *@out, or -EINVAL for an unknown name. */
RL_EXPORT int rl_mig_cap_parse(const char *name, enum rl_mig_cap *out);

/* ------------------------------------------------------------- parameters */

/*
 * struct rl_mig_params - the migration parameters and capabilities.
 * @cpr_exec_command: NULL-terminated argv, owned by the struct (set it with
 * rl_mig_params_set_exec_command()), NULL when unset.
 */
struct rl_mig_params {
	enum rl_mig_mode mode;
	char **cpr_exec_command;
	bool caps[RL_CAP__MAX];
};

/* rl_mig_params_init - QEMU's defaults: mode normal, no command, no capability. */
RL_EXPORT void rl_mig_params_init(struct rl_mig_params *p);

/* rl_mig_params_free - free what @p owns; @p is then as after init. */
RL_EXPORT void rl_mig_params_free(struct rl_mig_params *p);

/*
 * rl_mig_params_set_exec_command - copy the NULL-terminated @argv (an empty
 * list or NULL unsets the parameter). Return: 0 or -ENOMEM (@p unchanged).
 */
RL_EXPORT int rl_mig_params_set_exec_command(struct rl_mig_params *p,
					     const char *const *argv);

/* ------------------------------------------------------------------- URIs */

enum rl_mig_uri_kind {
	RL_URI_FILE = 0, /* file:PATH */
	RL_URI_UNIX = 1, /* unix:PATH */
	RL_URI_FD = 2,   /* fd:NAME-OR-NUMBER */
	RL_URI_EXEC = 3, /* exec:COMMAND */
	RL_URI_TCP = 4,  /* tcp:HOST:PORT */
};

struct rl_mig_uri {
	enum rl_mig_uri_kind kind;
	char path[4096]; /* the part after "kind:" */
};

/*
 * rl_mig_uri_parse - split @uri. Accepts file:, unix:, fd:, exec:, tcp:;
 * refuses an empty path and file:PATH,offset=N (the state stream always
 * starts at offset 0) with a message.
 * Return: 0 and *@out, or -EINVAL (with @err filled).
 */
RL_EXPORT int rl_mig_uri_parse(const char *uri, struct rl_mig_uri *out,
			       struct rl_error *err);

/* --------------------------------------------------------------- blockers */

/*
 * struct rl_mig_vm - what the blocker check needs to know about the VM.
 * @ram: its RAM blocks
 * @aux_ram_share: "-machine aux-ram-share=on" was given
 * @has_implicit_ram: the VM has RAM not described by a memory-backend
 *                    object (ROMs, firmware, "-m" without memory-backend=),
 *                    whether or not it is in @ram
 */
struct rl_mig_vm {
	const struct rl_ram_registry *ram;
	bool aux_ram_share;
	bool has_implicit_ram;
};

/*
 * rl_mig_check_blockers - may this VM migrate to @uri with @p? Called before
 * the VM stops, so a refusal changes nothing.
 * Checks, in order: capabilities incompatible with a CPR mode; the URI
 * (parsed; cpr-exec needs file:; exec:, fd: and tcp:
 * are not supported); cpr-exec-command set, its first word found in PATH (or
 * an executable path); in cpr-exec and cpr-transfer, implicit RAM without
 * aux-ram-share=on and every RAM block not shared.
 * Return: 0, or -errno with @err naming the object and the fix:
 * -EINVAL (bad combination, URI), -ENOENT (command not found),
 * -EACCES (command not executable), -EPERM (RAM blocks it).
 */
RL_EXPORT int rl_mig_check_blockers(const struct rl_mig_vm *vm,
				    const struct rl_mig_params *p, const char *uri,
				    struct rl_error *err);

/* ------------------------------------------------------- migration status */

/* QEMU's MigrationStatus, the subset relive goes through. */
enum rl_mig_status {
	RL_MIG_NONE = 0,
	RL_MIG_SETUP,
	RL_MIG_ACTIVE,
	RL_MIG_COMPLETED,
	RL_MIG_FAILED,
	RL_MIG_CANCELLING,
	RL_MIG_CANCELLED,
	RL_MIG__MAX,
};

/* Return: "none", "setup", "active", "completed", "failed", "cancelling", "cancelled"; NULL if out of range. */
RL_EXPORT const char *rl_mig_status_name(enum rl_mig_status s);

/* Return: true when a migration in @s has ended (completed, failed, cancelled) or never began. */
RL_EXPORT bool rl_mig_status_is_idle(enum rl_mig_status s);

/*
 * rl_mig_status_set - move *@cur to @to if the machine allows it:
 * none|completed|failed|cancelled -> setup; setup -> active|failed|cancelling;
 * active -> completed|failed|cancelling; cancelling -> cancelled|failed.
 * Return: 0, or -EINVAL (*@cur unchanged).
 */
RL_EXPORT int rl_mig_status_set(enum rl_mig_status *cur, enum rl_mig_status to);

/* QEMU's RunState, the subset a VMM doing CPR needs. */
enum rl_run_state {
	RL_RUN_PRELAUNCH = 0,
	RL_RUN_INMIGRATE,
	RL_RUN_RUNNING,
	RL_RUN_PAUSED,
	RL_RUN_FINISH_MIGRATE,
	RL_RUN_POSTMIGRATE,
	RL_RUN_SAVE_VM,
	RL_RUN_RESTORE_VM,
	RL_RUN_SUSPENDED,
	RL_RUN_SHUTDOWN,
	RL_RUN_INTERNAL_ERROR,
	RL_RUN_IO_ERROR,
	RL_RUN__MAX,
};

/* Return: query-status's "status" string ("running", "paused", "inmigrate", "postmigrate", ...); NULL if out of range. */
RL_EXPORT const char *rl_run_state_name(enum rl_run_state s);

/* rl_run_state_parse - Return: 0 and *@out, or -EINVAL. */
RL_EXPORT int rl_run_state_parse(const char *name, enum rl_run_state *out);

/* Return: query-status's "running" flag: true for running only. */
RL_EXPORT bool rl_run_state_is_running(enum rl_run_state s);

/*
 * rl_run_state_set - move *@cur to @to if QEMU would. Staying in the same
 * state is allowed. The update path is
 * running -> finish-migrate -> postmigrate (saved; the old process ends),
 * finish-migrate -> running when saving fails (the VM resumes in place),
 * prelaunch|inmigrate -> running or paused in the new process.
 * Return: 0, or -EINVAL (*@cur unchanged).
 */
RL_EXPORT int rl_run_state_set(enum rl_run_state *cur, enum rl_run_state to);

#endif
