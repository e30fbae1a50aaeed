/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpr-transfer in relive-vm: the -incoming channels of the new process
 * (main and cpr, QEMU's JSON form or the short forms), the new process's
 * side (CPR channel read before anything is created, state received on the
 * main channel) and the old process's migrate run.
 */
#ifndef VM_UPDATE_TRANSFER_H
#define VM_UPDATE_TRANSFER_H

#include <glib.h>

/*
 * struct incoming_spec - what the -incoming options ask for.
 * @defer: -incoming defer
 * @file: main channel file:PATH (or NULL)
 * @unix_path: main channel unix:PATH (or NULL)
 * @cpr_path: cpr channel on a unix socket (or NULL)
 */
struct incoming_spec {
	gboolean defer;
	char *file;
	char *unix_path;
	char *cpr_path;
};

/* Parses every -incoming; Return: FALSE with @errp naming the bad one. */
gboolean incoming_parse(GPtrArray *incoming, struct incoming_spec *in, GError **errp);

/* One JSON -incoming argument; in the monitors (monitors->parse_channel). */
gboolean incoming_channel_json(const char *arg, struct incoming_spec *in, GError **errp);

/*
 * New process, before memory is created: listen on the main channel, wait
 * for the old process on the cpr channel, receive the CPR state and its
 * descriptors, close the cpr channel. Return: FALSE with @errp.
 */
gboolean transfer_incoming_begin(const struct incoming_spec *in, GError **errp);
/*
 * New process, with the machine built: receive the state on the main
 * channel, load it, ack, resume. Exits non-zero on failure (the old
 * process then resumes its guest).
 */
void transfer_incoming_load(void);

/*
 * Old process: migrate in mode cpr-transfer to @main_path with the CPR
 * state on @cpr_path (both unix socket paths). Schedules the run after the
 * command's reply. Return: FALSE with @errp (nothing changed).
 */
gboolean transfer_start(const char *main_path, const char *cpr_path, GError **errp);

/*
 * Return: FALSE while another process holds the guest's lock (it took the
 * guest over with cpr-transfer): this process must not run the vCPUs.
 */
gboolean transfer_may_run(void);

#endif
