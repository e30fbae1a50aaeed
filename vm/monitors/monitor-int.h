/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What hmp.c, qmp.c and monitor.c share: the line dispatchers (also the fuzz
 * targets' entry points), QEMU-style JSON text, and the list of chardevs each
 * monitor kind serves.
 */
#ifndef VM_MONITOR_INT_H
#define VM_MONITOR_INT_H

#include <stdint.h>
#include <glib.h>

#include "monitors/chardev.h"
#include "monitors/json.h"

/* QEMU version this monitor speaks for (greeting, query-version). */
#define MONITOR_QEMU_MAJOR 10
#define MONITOR_QEMU_MINOR 2
#define MONITOR_QEMU_MICRO 0

/* Per-connection flags kept across an exec (chardev_conn_flags). */
#define QMP_CONN_NEGOTIATED 0x1u
/* Bits 8..31: the qmp_skip_value() state of a refused too-deep message. */
#define QMP_CONN_SKIP_SHIFT 8
#define QMP_CONN_SKIP_MAX (UINT32_MAX >> QMP_CONN_SKIP_SHIFT)

/* Deepest nesting of brackets a QMP message may have (QEMU's limit). */
#define QMP_MAX_NESTING 1024

/* Milliseconds monitor_flush_all() waits for slow peers before an exec. */
#define MONITOR_FLUSH_TIMEOUT_MS 2000

/* Appends @v as JSON text the way QEMU writes it ("a": 1, "b": [1, 2]). */
void qmp_format(json_t *v, GString *out);

/*
 * qmp_dispatch_line - run one QMP input line.
 * @negotiated: the connection's handshake state, updated by qmp_capabilities.
 * @quit: set when the command asked the process to end (after the reply).
 * Return: the reply text ending in "\r\n" (g_free it), or NULL when the line
 * gets no reply (blank).
 */
char *qmp_dispatch_line(const char *line, gboolean *negotiated, gboolean *quit);

/*
 * qmp_next_value - find where the first complete QMP message in @buf ends,
 * as QEMU's JSON streamer does: an object or array ends at its matching
 * close bracket (newlines inside it are fine, several may share a line);
 * anything else at top level runs to the end of the line. The scan holds no
 * state, so unconsumed input can cross an exec as plain bytes.
 * Return: the length of the message including leading blanks (the caller
 * consumes that much and dispatches [*@start, return)), or 0 when no complete
 * message is buffered yet.
 * A message that nests deeper than QMP_MAX_NESTING is never handed to the
 * parser (its recursion would overflow the stack): *@too_deep is set and the
 * return is just past the bracket that went too deep. The caller answers
 * with an error, consumes that much and drops the rest of the message with
 * qmp_skip_value(), starting from *@skip = qmp_skip_start().
 */
size_t qmp_next_value(const char *buf, size_t len, size_t *start,
		      gboolean *too_deep);

/* The skip state right after qmp_next_value() refused a message. */
uint32_t qmp_skip_start(void);
/*
 * qmp_skip_value - drop the rest of a refused message. @skip is the state
 * (0: nothing to skip), updated as @buf is read.
 * Return: how many bytes of @buf belong to the refused message; when *@skip
 * is 0 afterwards, the message is over and the rest of @buf is new input.
 */
size_t qmp_skip_value(const char *buf, size_t len, uint32_t *skip);

/* A GenericError reply without an id, "\r\n"-terminated (g_free it). */
char *qmp_error_line(const char *desc);

/* The greeting text, "\r\n"-terminated (g_free it). */
char *qmp_greeting(void);

/*
 * hmp_dispatch_line - run one HMP command line, appending its output
 * ("\r\n" line ends, as QEMU's monitor writes) to @out.
 * Return: TRUE if the command asked the process to end (after the output).
 */
gboolean hmp_dispatch_line(const char *line, GString *out);

/* The banner and first prompt. */
const char *hmp_banner(void);
#define HMP_PROMPT "(qemu) "

/* Every chardev of each kind, in creation order (monitor.c walks them). */
extern GPtrArray *qmp_chardevs;
extern GPtrArray *hmp_chardevs;

/*
 * monitor_chardev_add - a monitor of one kind on the chardev @spec, named
 * @kind and its index in *@list ("qmp0"), appended to *@list (made on first
 * use). Return: FALSE with @errp prefixed by the option (@opt) and @spec.
 */
gboolean monitor_chardev_add(GPtrArray **list, const char *kind, const char *opt,
			     const char *spec, const struct chardev_ops *ops,
			     GError **errp);

#endif
