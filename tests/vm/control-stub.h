/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for the machine's control.c in the monitor tests: records every
 * call in stub_log, keeps a run state, parameters and capabilities, emits
 * STOP/RESUME as the machine does, and lets a test hook migrate and quit.
 */
#ifndef TESTS_VM_CONTROL_STUB_H
#define TESTS_VM_CONTROL_STUB_H

#include <glib.h>
#include <jansson.h>

/* One line per call, e.g. "stop", "migrate uri=file:x", "set-parameter mode=cpr-exec". */
extern GString *stub_log;
/* When set, control_migrate() calls it after recording. */
extern gboolean (*stub_migrate_hook)(const char *uri, json_t *channels,
				     GError **errp);
/* When set, control_quit() calls it after recording. */
extern void (*stub_quit_hook)(void);

/* Empties the log and puts state back to running, mode normal. */
void stub_reset(void);
/* Sets the run state without events (a process that starts paused). */
void stub_set_runstate(const char *state);

#endif
