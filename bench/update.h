/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-bench pause, one update of a running scenario: the flow per mode
 * (cpr-exec, cpr-transfer, cpr-reboot and normal, as QEMU documents them,
 * so the same code drives QEMU) and the sample it leaves. Used by run.c;
 * uses vmm.c, the observer and the QMP client, and reads scenario.h.
 */
#ifndef BENCH_UPDATE_H
#define BENCH_UPDATE_H

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

#include "observer.h"
#include "scenario.h"
#include "vmm.h"

/* A scenario while it runs. */
struct run_ctx {
	const struct pause_opts *o;
	struct scenario *sc;
	struct vmm_env env;
	struct vmm cur;		/* the VMM the guest runs in now */
	struct observer *obs;
	unsigned gen;		/* alternates the QMP socket of a second process */
	uint64_t timeout_ms;
};

/* The QMP socket path of the VMM process number @gen of the scenario. */
char *update_qmp_path(const struct run_ctx *c, unsigned gen);

/* Starts a VMM process from @argv and connects its QMP socket. */
gboolean update_start_vmm(struct run_ctx *c, struct vmm *v, char **argv, GError **errp);

/*
 * Updates the VMM once and fills @s. On failure sets *@unsupported when
 * the VMM refused the update (an unknown mode or option, a blocker) rather
 * than failing part-way.
 */
gboolean update_once(struct run_ctx *c, struct sample *s, gboolean *unsupported,
		     GError **errp);

#endif
