/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The update sequence every migration mode goes through (update.c), and the
 * table a mode fills in to take part (docs/vm.md has the table of steps).
 *
 * Outgoing, from the main loop after the command's reply went out:
 *   prepare       guest running; anything refusable is refused here
 *   stop and save vCPUs parked, state stream committed
 *   hand over     the mode gives the guest to the next process
 *   then          the guest belongs elsewhere (or is on disk), or any
 *                 failure above resumes it here: the roll back.
 * Incoming, in the new process:
 *   receive       the state stream reaches a file
 *   load          validated whole, then applied
 *   commit        the mode makes the guest this process's
 *   resume        the vCPUs run; then everything that can wait
 *   give back     any failure before the resume hands the guest back.
 */
#ifndef VM_UPDATE_UPDATE_H
#define VM_UPDATE_UPDATE_H

#include <stdbool.h>
#include <glib.h>

#include "relive/cpr.h"
#include "relive/migrate.h"
#include "relive/stream.h"

struct update;

/*
 * struct update_ops - one migration mode. A NULL step is skipped.
 * @name: for messages ("migration", "cpr-transfer")
 * @mode: the stream's mode
 * @cpr_state: the RAM memfds go into a CPR state handed to the next process
 *	(@prepare adds the rest: rollback command, sockets)
 * @sync: the state file must be on disk when migrate completes
 * @prepare: outgoing, guest running. FALSE with @errp: nothing happened
 * @hand_over: outgoing, guest stopped, state written. TRUE: the guest is the
 *	next process's (or on disk); FALSE with @errp: it resumes here. A mode
 *	that execs returns only on failure.
 * @done: outgoing, after either outcome: sockets and files let go
 * @receive: incoming: the stream into a file. Return: its path (g_free)
 * @commit: incoming, state loaded: FALSE with @errp: the guest goes back
 * @give_back: incoming, failed before the resume: hand the guest back to
 *	where it came from if that is possible (returns only if not)
 */
struct update_ops {
	const char *name;
	enum rl_mig_mode mode;
	bool cpr_state;
	bool sync;

	gboolean (*prepare)(struct update *u, GError **errp);
	gboolean (*hand_over)(struct update *u, GError **errp);
	void (*done)(struct update *u);

	char *(*receive)(struct update *u, GError **errp);
	gboolean (*commit)(struct update *u, GError **errp);
	void (*give_back)(struct update *u);
};

/*
 * struct update - one update in progress.
 * @path: the state file
 * @target: what messages call the destination (the file, the socket)
 * @saver: the state writer, opened before the stop
 * @serr: its errors
 * @cpr: the CPR state (outgoing: built here; incoming: the one received)
 * @was_running: the guest ran when the update began
 * @id: outgoing with a CPR state: the identity its stream and CPR state share
 * @priv: the mode's own
 */
struct update {
	const struct update_ops *ops;
	char *path;
	char *target;
	struct rl_stream_saver *saver;
	struct rl_error serr;
	struct rl_cpr_state *cpr;
	bool was_running;
	struct rl_update_id id;
	void *priv;
};

/*
 * The modes, above the sequence: normal, cpr-reboot, cpr-exec (migrate.c),
 * cpr-transfer (transfer.c). Each starts the sequence with its table; the
 * sequence names none of them.
 */
extern const struct update_ops update_normal_ops;
extern const struct update_ops update_reboot_ops;
extern const struct update_ops update_exec_ops;
extern const struct update_ops update_transfer_ops;
/* Incoming from a file: normal, cpr-reboot, cpr-exec (-incoming file:). */
extern const struct update_ops update_file_in_ops;

/*
 * Outgoing: opens the state writer at @path (refused here, guest running)
 * and schedules the sequence after the command's reply. @priv is the mode's.
 * Return: FALSE with @errp, nothing changed.
 */
gboolean update_start(const struct update_ops *ops, const char *path,
		      const char *target, void *priv, GError **errp);
/* Return: TRUE if an update was scheduled and not started yet (now cancelled). */
gboolean update_cancel_pending(void);

/*
 * Incoming: receive, load, commit, resume. @path: the state file, or NULL
 * when the mode receives it. On failure it gives the guest back and exits
 * non-zero; it returns with the guest running (or paused, as it was).
 */
void update_incoming(const struct update_ops *ops, const char *path, void *priv);

/*
 * The incoming process failed before its guest ran (an option, the
 * memory, the accelerator...): prints @why and hands the guest back as a
 * failed load would, the way of the incoming update under way or, before
 * one began, of @ops (the mode the CPR state came with). Returns only when
 * there is nowhere to hand it back to.
 */
void update_incoming_abort(const struct update_ops *ops, const char *why);

/* The stop and save (vm.t.stop/stopped/written, vm.state_size). */
gboolean update_stop_and_save(struct update *u, GError **errp);
/* A RAM section fits in one stream buffer: 0 (default) or the size to ask for. */
size_t update_stream_buf_size(void);

/* The CPR state this process came with, NULL after a fresh start. */
struct rl_cpr_state *update_incoming_cpr(void);
/* Adopts @s (rl_cpr_state_new()): read across the exec, or from the cpr channel. */
void update_incoming_set_cpr(struct rl_cpr_state *s);

#endif
