/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the monitors (HMP and QMP) may ask of the machine: run state,
 * stop/cont/quit, and migration with QEMU's semantics. Implemented by the
 * machine side (control.c); called from the monitors on the main loop thread.
 * Errors are GError with a message a person can act on.
 */
#ifndef VM_CONTROL_H
#define VM_CONTROL_H

#include <glib.h>
#include <jansson.h>

/* QEMU's run state name: "running", "paused", "inmigrate", "postmigrate", ... */
const char *control_runstate(void);
gboolean control_running(void);

gboolean control_stop(GError **errp);
gboolean control_cont(GError **errp);
/* Ends the process after the current command's reply has been sent. */
void control_quit(void);

/* HMP: migrate_set_parameter NAME VALUE (cpr-exec-command: VALUE is the rest of the line). */
gboolean control_migrate_set_parameter(const char *name, const char *value, GError **errp);
/* QMP: migrate-set-parameters; @args is the "arguments" object. */
gboolean control_migrate_set_parameters(json_t *args, GError **errp);
gboolean control_migrate_set_capability(const char *name, gboolean on, GError **errp);

/* QMP return values (new references); HMP formats them as text. */
json_t *control_query_migrate(void);
json_t *control_query_migrate_parameters(void);
json_t *control_query_migrate_capabilities(void);

/*
 * migrate: @uri, or @channels (QMP's list of {"channel-type": "main"|"cpr",
 * "addr": {...}}), exactly one of the two non-NULL. Checks blockers and
 * returns; the migration itself runs from the main loop after the reply has
 * been flushed, as QEMU's does. For cpr-exec the process then execs.
 */
gboolean control_migrate(const char *uri, json_t *channels, GError **errp);
gboolean control_migrate_incoming(const char *uri, json_t *channels, GError **errp);
gboolean control_migrate_cancel(GError **errp);

#endif
