/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration on the machine side, as the monitors and main() call it: the
 * file modes and cpr-exec started from a monitor, and the incoming side of
 * cpr-exec (CPR state read first, preserved fds, timestamps). The sequence
 * itself is update.h's.
 */
#ifndef VM_MIGRATE_H
#define VM_MIGRATE_H

#include <stdbool.h>
#include <glib.h>

#include "relive/cpr.h"

struct rl_error;

/* ---------------------------------------------------------------- outgoing */

/*
 * Opens the state file @path (a file: URI's path) and schedules the rest of
 * the migration on the main loop. Return: FALSE with @errp if the file cannot
 * be created (nothing changed).
 */
gboolean migrate_start(const char *path, GError **errp);
/* Return: TRUE if a migration was scheduled and not started yet (now cancelled). */
gboolean migrate_cancel_pending(void);

/* ---------------------------------------------------------------- incoming */

/*
 * cpr_incoming_begin - read the CPR state handed across the exec, before
 * anything is created. Return: TRUE (check cpr_incoming()), or FALSE with
 * @errp when a state was announced but cannot be read.
 */
gboolean cpr_incoming_begin(GError **errp);
typedef struct rl_cpr_state RlCprState;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RlCprState, rl_cpr_state_free)
/* Return: TRUE when this process was started by a CPR update. */
gboolean cpr_incoming(void);
/* The preserved memfd of RAM block @name, or -1 (memory_create() lookup). */
int cpr_ram_fd(const char *name, void *opaque);
/* The preserved fd @name (id 0): state_blob_fd_lookup for vm.preserved_fd. */
int cpr_preserved_fd(const char *name, struct rl_error *err, void *opaque);
/*
 * Loads @path into the machine built around the preserved RAM and resumes
 * it if it ran before. On failure: prints the error, and when this process
 * came from an update with a rollback command, execs it (once); otherwise
 * exits non-zero. A failed load never runs the guest (RAM kept in place is
 * not touched; RAM loaded from the file may hold part of the state).
 */
void incoming_load(const char *path);
/* Adopts the monitor and serial sockets that came across the exec. */
gboolean cpr_restore_monitors(GError **errp);
/* After resume: monitors adopted, events sent, holder released, RAM populated. */
void cpr_incoming_finish(void);

#endif
