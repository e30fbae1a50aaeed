/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fake-machine.c: the machine side faked below the real control.c. Every
 * migration, pause and resume asked of it is recorded in fake_machine_log.
 */
#ifndef TESTS_VM_FAKE_MACHINE_H
#define TESTS_VM_FAKE_MACHINE_H

#include <stdbool.h>
#include <glib.h>

#include "relive/migrate.h"

/* One line per call: "migrate file:PATH", "pause", "incoming PATH", ... */
extern GString *fake_machine_log;

/* Runs what the last commands queued, then a running VM, no migration, QEMU's defaults. */
void fake_machine_reset(void);
/* A process that waits for an incoming migration (-incoming defer: @incoming_pending). */
void fake_machine_set_run(enum rl_run_state to, bool incoming_pending);

#endif
