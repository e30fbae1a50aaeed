/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine: one per process. Its memory, vCPUs and devices, its run
 * state (QEMU's names), and the migration state the monitors see through
 * the table vm/machine-ops.c hands them. Owned by the main loop thread.
 * The bottom of relive-vm: it calls nothing above it, and tells the layers
 * above what happens through @event.
 */
#ifndef VM_MACHINE_H
#define VM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "machine/cpus.h"
#include "machine/devices.h"
#include "machine/memory.h"
#include "monitors/machine-ops.h"
#include "options.h"
#include "relive/cpr.h"
#include "relive/migrate.h"
#include "relive/stream.h"

struct machine {
	int argc;
	char **argv;
	struct vm_options o;
	struct vm_memory mem;
	struct cpus cpus;
	GPtrArray *blobs;		/* struct state_blob * */
	GPtrArray *device_names;	/* the stream's device list */
	enum rl_run_state run;

	struct rl_mig_params params;
	bool writer_fallback;	/* x-state-writer fallback: pwritev, not io_uring */
	enum rl_mig_status status;
	char *error_desc;
	char *incoming_uri;		/* pending -incoming (defer: NULL) */
	bool incoming_pending;
	struct pause_times t;
	bool save_running;		/* the VM ran when the save stopped it */
	uint64_t state_size;		/* bytes of the last stream written or read */
	GMainLoop *loop;
	/*
	 * Set by main(): where the machine's QMP events go (STOP, RESUME;
	 * MIGRATION with @status). The machine does not know who listens.
	 */
	void (*event)(const char *name, const char *status);
	/*
	 * Set by main(): the fds an incoming update preserved, by name (the
	 * state-blobs' memfds). The machine does not know where they come from.
	 */
	state_blob_fd_lookup preserved_fd;
};

extern struct machine vm;


/* Creates devices (after memory and vCPUs). @incoming: state will be loaded. */
gboolean machine_devices_init(bool incoming, GError **errp);

/* Stops the vCPUs; the run state becomes @to; STOP event if it was running. */
void machine_pause(enum rl_run_state to);
/* A vCPU stopped on an error: every vCPU stops, run state internal-error. */
gboolean machine_vcpu_failed(gpointer opaque);
/* Lets the vCPUs run; RESUME event. */
void machine_resume(void);
void machine_set_run(enum rl_run_state to);

/* Moves the migration status and tells QMP clients (MIGRATION event). */
void machine_set_status(enum rl_mig_status to);

/*
 * State stream of this machine. machine_save() expects a stopped VM and an
 * open saver; machine_load() validates the whole stream before it touches
 * anything and names the section and offset of what is wrong. @id: the
 * update the stream must belong to (after an update: that update's stream,
 * no other), or NULL.
 */
void machine_stream_config(struct rl_stream_config *cfg);
int machine_save(struct rl_stream_saver *s, GError **errp);
gboolean machine_load(const char *path, const struct rl_update_id *id,
		      bool *was_running, GError **errp);
/*
 * Frees what the last successful machine_load() kept and starts the checks
 * that wait for the guest to run (adopted state-blobs): call it after resume.
 */
void machine_load_release(void);

#endif
