/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small synchronous QMP client for the bench: connects to a unix socket,
 * does the greeting and capabilities handshake, runs commands with a
 * deadline and keeps the events it reads on the way, each stamped with the
 * CLOCK_MONOTONIC time it arrived. A leaf: used by the runner (run.c,
 * update.c, vmm.c) and the observer's clock; includes nothing of the bench.
 */
#ifndef BENCH_QMP_CLIENT_H
#define BENCH_QMP_CLIENT_H

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

struct qmp_event {
	char *name;
	uint64_t recv_ns; /* CLOCK_MONOTONIC when read */
	JsonNode *data;   /* may be NULL */
};

struct qmp_client;

/*
 * Connects to @path, retrying until @timeout_ms has passed (the server may
 * not be listening yet), and negotiates capabilities.
 */
struct qmp_client *qmp_connect(const char *path, int timeout_ms, GError **errp);
void qmp_close(struct qmp_client *c);

/*
 * Runs @cmd with @args (a JSON object as text, or NULL). Returns the
 * "return" member (new reference, never NULL on success) or NULL with
 * @errp set from QMP's "error" or from the transport. A closed connection
 * gives G_IO_ERROR_CLOSED.
 */
JsonNode *qmp_execute(struct qmp_client *c, const char *cmd, const char *args,
		      int timeout_ms, GError **errp);

/* Sends @cmd and does not wait for its reply (used before an exec). */
gboolean qmp_send(struct qmp_client *c, const char *cmd, const char *args,
		  GError **errp);

/*
 * Waits until an event named @name has arrived (possibly earlier) after the
 * last qmp_events_clear(). Return: the event (owned by the client) or NULL
 * on timeout or closed connection, with @errp set.
 */
const struct qmp_event *qmp_wait_event(struct qmp_client *c, const char *name,
				       int timeout_ms, GError **errp);
void qmp_events_clear(struct qmp_client *c);

uint64_t bench_now_ns(void);

#endif
