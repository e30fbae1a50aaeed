/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMMs under test: their command lines (relive-vm's and QEMU's, the
 * same spelling), starting them with their output in a log file, and
 * stopping them. Used by run.c and update.c; reads scenario.h.
 */
#ifndef BENCH_VMM_H
#define BENCH_VMM_H

#include <gio/gio.h>
#include <glib.h>
#include <sys/types.h>

#include "scenario.h"
#include "qmp-client.h"

struct vmm_env {
	char *dir;		/* private temporary directory */
	char *ram_path;		/* memory-backend-file path (/dev/shm) */
	char *fw_path;		/* QEMU's -bios image */
	char *state_path;	/* the migration file */
	char *cpr_path;		/* cpr-transfer's cpr channel socket */
	char *log_path;		/* VMM stdout and stderr, appended */
	char **envp;		/* the VMM's environment, or NULL for the bench's */
};

struct vmm {
	pid_t pid;
	char *qmp_path;
	struct qmp_client *qmp;
};

/*
 * Whose RAM a VMM maps: new RAM (the first VMM, or the new one of a normal
 * or cpr-reboot update), or the RAM of the process it takes over from,
 * already populated when the scenario is warm (cpr-exec, cpr-transfer).
 */
enum vmm_ram { VMM_RAM_NEW, VMM_RAM_TAKEN_OVER };

/*
 * The command line of @sc's VMM, binary first, without -incoming. A warm
 * scenario asks for prealloc=on, except from a QEMU that takes over
 * populated RAM (@ram).
 * Return: a NULL-terminated array of strings (g_strfreev).
 */
char **vmm_command(const struct pause_opts *o, const struct scenario *sc,
		   const struct vmm_env *env, const char *qmp_path, enum vmm_ram ram);

/* @argv followed by @extra (may be NULL), NULL-terminated, new strings. */
char **vmm_argv_append(char *const *argv, const char *const *extra);

/*
 * Starts @argv in @env's environment, with stdin on /dev/null and output
 * appended to @env's log.
 */
pid_t vmm_spawn(char *const *argv, const struct vmm_env *env, GError **errp);

/* The last lines of the log, for messages. */
char *vmm_log_tail(const char *log);

/* Asks the VMM to quit over QMP; kills it after @timeout_ms. Reaps it. */
void vmm_stop(struct vmm *v, int timeout_ms);

/* Has @pid exited? Reaps it and describes how in @why (if non-NULL). */
gboolean vmm_exited(pid_t pid, char **why);

#endif
