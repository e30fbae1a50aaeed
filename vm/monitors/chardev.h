/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Character devices: the byte streams behind the monitors and the serial
 * port. A chardev is a backend (stdio, an output file, a unix socket server,
 * nothing) and zero or more connections; every fd is nonblocking and CLOEXEC,
 * writes are queued per connection with a bound, and the whole set can be
 * handed across an exec (chardev_cpr_export / chardev_cpr_import).
 */
#ifndef VM_CHARDEV_H
#define VM_CHARDEV_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>

typedef struct Chardev Chardev;
typedef struct ChardevConn ChardevConn;

/* A connection whose queued output exceeds this is dropped, not waited for. */
#define CHARDEV_OUT_MAX (4u << 20)
/* A connection whose unconsumed input exceeds this is dropped. */
#define CHARDEV_IN_MAX (1u << 20)
/*
 * The chardev state an update carries, at most: the old binary refuses
 * (before the stop) to write more than the new one reads. The export
 * leaves CHARDEV_STATE_SLACK for what is queued between the export and
 * the exec (the rewrite: events of the migration itself).
 */
#define CHARDEV_STATE_MAX (64u << 20)
#define CHARDEV_STATE_SLACK (1u << 20)

/*
 * What the owner of a chardev is told. All are called from the main loop
 * (g_main_context_default()); a NULL member is skipped.
 *  @open:   a connection is ready (accepted, stdio at creation, or adopted
 *           across an exec with its flags and queued bytes restored).
 *  @input:  new bytes are in the connection's input buffer; consume them with
 *           chardev_conn_take_line() or chardev_conn_take().
 *  @closed: the connection is about to be freed (peer gone, error, dropped).
 */
struct chardev_ops {
	void (*open)(ChardevConn *conn, void *opaque);
	void (*input)(ChardevConn *conn, void *opaque);
	void (*closed)(ChardevConn *conn, void *opaque);
};

/*
 * chardev_new - create the backend named by @spec:
 *   "stdio", "none", "file:PATH" (output only; created 0600, O_NOFOLLOW,
 *   appended), "unix:PATH,server,nowait" or "unix:PATH,server=on,wait=off"
 *   (socket created 0600; a stale socket at PATH is removed, anything else
 *   at PATH is an error).
 * @id names the chardev across an exec: if chardev_cpr_import() adopted a
 * chardev with the same id and spec, its fds are taken over instead of
 * creating new ones, and its connections are reopened (ops->open) with their
 * flags and queued bytes.
 * @multi: accept any number of clients at once; otherwise one at a time (a
 * second client waits in the backlog until the first goes, as QEMU's).
 * Return: the chardev, or NULL with @errp set.
 */
Chardev *chardev_new(const char *id, const char *spec,
		     const struct chardev_ops *ops, void *opaque,
		     gboolean multi, GError **errp);

/*
 * From now on "file:" backends are opened for appending, never truncated:
 * a process started by an update (any -incoming) writes after what the old
 * process wrote, as append=on would.
 */
void chardev_files_append(void);

/* Closes every connection (ops->closed) and the listener; removes nothing on disk. */
void chardev_free(Chardev *chr);

const char *chardev_id(const Chardev *chr);
const char *chardev_spec(const Chardev *chr);
/* Return: TRUE if this chardev's fds were adopted from before an exec. */
gboolean chardev_adopted(const Chardev *chr);

/* Calls @fn for every open connection; @fn may not close connections. */
void chardev_foreach_conn(Chardev *chr, void (*fn)(ChardevConn *, void *),
			  void *opaque);

/* Queues @len bytes to every connection (the serial port's output). */
void chardev_write_all(Chardev *chr, const void *buf, size_t len);

/*
 * chardev_conn_write - queue @len bytes to one connection; written as soon as
 * the peer takes them. A connection over CHARDEV_OUT_MAX is dropped (later,
 * from the main loop, so callers may keep using @conn until they return).
 */
void chardev_conn_write(ChardevConn *conn, const void *buf, size_t len);
void chardev_conn_printf(ChardevConn *conn, const char *fmt, ...)
	G_GNUC_PRINTF(2, 3);

/*
 * chardev_conn_take_line - remove one line from the input buffer.
 * Return: a newly allocated string without the "\n" (and without a "\r"
 * before it), or NULL if no complete line is buffered.
 */
char *chardev_conn_take_line(ChardevConn *conn);
/* The buffered input, not consumed: *@len bytes at the returned pointer. */
const char *chardev_conn_peek(ChardevConn *conn, size_t *len);
/* Drops the first @n bytes of input (n <= the buffered length). */
void chardev_conn_consume(ChardevConn *conn, size_t n);
/* Removes up to @max bytes of input into @buf. Return: bytes removed. */
size_t chardev_conn_take(ChardevConn *conn, void *buf, size_t max);

/* Closes a connection after its queued output has been written (or dropped). */
void chardev_conn_close_later(ChardevConn *conn);

Chardev *chardev_conn_chardev(ChardevConn *conn);
/* Owner state that survives an exec (QMP: negotiated or not). */
uint32_t chardev_conn_flags(const ChardevConn *conn);
void chardev_conn_set_flags(ChardevConn *conn, uint32_t flags);
/* Owner pointer, not preserved. */
void *chardev_conn_data(const ChardevConn *conn);
void chardev_conn_set_data(ChardevConn *conn, void *data);
/* Return: TRUE if the connection came across an exec. */
gboolean chardev_conn_adopted(const ChardevConn *conn);

/*
 * chardev_flush_all - write the queued output of every connection of every
 * chardev, waiting at most @timeout_ms in total for slow peers (0: write
 * what the peers take now, never wait).
 * Return: TRUE if nothing is left queued.
 */
gboolean chardev_flush_all(int timeout_ms);

/* ------------------------------------------------------------ across exec */

/* One fd to preserve: its name and id in the CPR fd table. */
struct chardev_cpr_fd {
	const char *name; /* static string */
	int id;
	int fd;
};

/*
 * chardev_cpr_export - describe every chardev, connection, flag and queued
 * byte (input not consumed, output not yet written) in a new memfd.
 * @fds receives a struct chardev_cpr_fd for every fd to keep across the exec
 * (listeners, connections, and the state memfd itself as "chardev-state", 0).
 * Nothing is closed: the process keeps working if the exec fails.
 * Return: the state memfd (CLOEXEC; the caller owns it), or -1 with @errp set
 * (VM_ERROR_TOO_LARGE: over CHARDEV_STATE_MAX - CHARDEV_STATE_SLACK).
 */
int chardev_cpr_export(GArray *fds, GError **errp);

/*
 * chardev_cpr_rewrite - bring the state memfd from chardev_cpr_export() up
 * to date right before the exec: flags and queued bytes as they are now,
 * connections dropped since marked so the new binary closes them. The fds
 * registered do not change (no connection is freed before the main loop
 * runs again). Return: TRUE, or FALSE with @errp set.
 */
gboolean chardev_cpr_rewrite(int mfd, GError **errp);

/*
 * chardev_cpr_import - read the state written by chardev_cpr_export() in
 * the previous binary. @lookup maps a (name, id) to the fd inherited for it
 * (-1 when absent); every fd taken is checked (a socket, listening or
 * connected as recorded) and made CLOEXEC and nonblocking again.
 * Takes ownership of the fds it adopts; a later chardev_new() with the same
 * id and spec takes them over.
 * Return: TRUE, or FALSE with @errp set (nothing adopted then).
 */
gboolean chardev_cpr_import(int (*lookup)(const char *name, int id, void *opaque),
			    void *opaque, GError **errp);

/* Closes whatever chardev_cpr_import() adopted and no chardev_new() claimed. */
void chardev_cpr_discard_unclaimed(void);

#endif
