// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Character devices for the monitors and the serial port: spec parsing,
 * unix socket servers (0600, stale-socket removal without following links),
 * nonblocking bounded write queues, and the hand-over of every fd, flag and
 * queued byte across an exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "monitors/chardev.h"
#include "monitors/json.h"
#include "relive/unix-socket.h"
#include "vm-error.h"

enum chardev_kind {
	CHR_NONE,
	CHR_STDIO,
	CHR_FILE,
	CHR_UNIX,
};

struct ChardevConn {
	Chardev *chr;
	int in_fd;  /* -1 when output only */
	int out_fd; /* -1 when input only */
	gboolean is_socket;
	gboolean owns_fds;
	guint in_src;
	guint out_src;
	guint deliver_src;
	GByteArray *in;
	GByteArray *out;
	uint32_t flags;
	void *data;
	gboolean adopted;
	gboolean closing; /* close once @out is empty */
	gboolean dead;    /* watches gone, waiting to be reaped */
	int cpr_id;
};

struct Chardev {
	char *id;
	char *spec;
	enum chardev_kind kind;
	char *path;
	gboolean append;
	gboolean wait;
	int listen_fd;
	guint listen_src;
	guint accept_retry_src; /* accepting paused: out of file descriptors */
	gboolean multi;
	gboolean adopted;
	int cpr_listen_id;
	GList *conns;
	const struct chardev_ops *ops;
	void *opaque;
};

/* What chardev_cpr_import() found, waiting for chardev_new() to claim it. */
struct adopted_conn {
	int fd;
	enum chardev_kind kind;
	uint32_t flags;
	int stdio_fl[2];
	GBytes *in;
	GBytes *out;
};

struct adopted_chr {
	char *id;
	char *spec;
	int listen_fd;
	int file_fd;
	GArray *conns; /* struct adopted_conn */
};

static GList *chardevs;
static GList *adopted;
static GList *dead_conns;
static guint reap_src;
static gboolean stdio_in_use;
static gboolean files_append;

static void conn_free(ChardevConn *conn);

static gboolean set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static gboolean set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == 0;
}

/* stdin/stdout flags before we made them nonblocking, put back at exit. */
static int stdio_saved_fl[2] = { -1, -1 };

static void stdio_restore(void)
{
	for (int fd = 0; fd < 2; fd++)
		if (stdio_saved_fl[fd] >= 0)
			fcntl(fd, F_SETFL, stdio_saved_fl[fd]);
}

/*
 * The terminal's file description is shared with the shell that started us:
 * leaving it nonblocking would break the shell after we exit.
 */
static void stdio_nonblock(void)
{
	static gboolean hooked;

	/* Both first: stdin and stdout are often one file description. */
	for (int fd = 0; fd < 2; fd++)
		if (stdio_saved_fl[fd] < 0)
			stdio_saved_fl[fd] = fcntl(fd, F_GETFL);
	for (int fd = 0; fd < 2; fd++) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0)
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	if (!hooked) {
		atexit(stdio_restore);
		hooked = TRUE;
	}
}

static void ignore_sigpipe(void)
{
	static gboolean done;

	/* A peer that goes away mid-reply must cost an EPIPE, not the process. */
	if (!done) {
		signal(SIGPIPE, SIG_IGN);
		done = TRUE;
	}
}

/* ------------------------------------------------------------ connections */

static gboolean reap_dead(gpointer unused)
{
	GList *list = dead_conns;

	dead_conns = NULL;
	reap_src = 0;
	for (GList *l = list; l; l = l->next)
		conn_free(l->data);
	g_list_free(list);
	return G_SOURCE_REMOVE;
}

static void conn_stop_watches(ChardevConn *conn)
{
	if (conn->in_src)
		g_source_remove(conn->in_src);
	if (conn->out_src)
		g_source_remove(conn->out_src);
	if (conn->deliver_src)
		g_source_remove(conn->deliver_src);
	conn->in_src = conn->out_src = conn->deliver_src = 0;
}

/*
 * Connections die from inside callbacks that may still hold them; they are
 * unlinked at once (no more events reach them) and freed from an idle source.
 */
static void conn_kill(ChardevConn *conn)
{
	Chardev *chr = conn->chr;

	if (conn->dead)
		return;
	conn->dead = TRUE;
	conn_stop_watches(conn);
	chr->conns = g_list_remove(chr->conns, conn);
	dead_conns = g_list_prepend(dead_conns, conn);
	if (!reap_src)
		reap_src = g_idle_add(reap_dead, NULL);
}

static void listener_watch(Chardev *chr);

static void conn_free(ChardevConn *conn)
{
	Chardev *chr = conn->chr;

	if (chr->ops && chr->ops->closed)
		chr->ops->closed(conn, chr->opaque);
	if (conn->owns_fds) {
		if (conn->in_fd >= 0)
			close(conn->in_fd);
		if (conn->out_fd >= 0 && conn->out_fd != conn->in_fd)
			close(conn->out_fd);
	}
	if (chr->kind == CHR_STDIO)
		stdio_in_use = FALSE;
	g_byte_array_unref(conn->in);
	g_byte_array_unref(conn->out);
	g_free(conn);
	/* A single-client server takes the next client once this one is gone. */
	if (!chr->multi && !chr->conns)
		listener_watch(chr);
}

static ssize_t conn_raw_write(ChardevConn *conn, const void *buf, size_t len)
{
	if (conn->is_socket)
		return send(conn->out_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return write(conn->out_fd, buf, len);
}

/* Return: FALSE if the connection failed and was killed. */
static gboolean conn_drain(ChardevConn *conn)
{
	while (conn->out->len) {
		ssize_t n = conn_raw_write(conn, conn->out->data, conn->out->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TRUE;
		if (n <= 0) {
			conn_kill(conn);
			return FALSE;
		}
		g_byte_array_remove_range(conn->out, 0, n);
	}
	return TRUE;
}

static gboolean conn_out_ready(int fd, GIOCondition cond, gpointer data)
{
	ChardevConn *conn = data;

	if (!conn_drain(conn))
		return G_SOURCE_REMOVE;
	if (conn->out->len)
		return G_SOURCE_CONTINUE;
	conn->out_src = 0;
	if (conn->closing)
		conn_kill(conn);
	return G_SOURCE_REMOVE;
}

static void conn_want_out(ChardevConn *conn)
{
	if (conn->out->len && !conn->out_src && !conn->dead)
		conn->out_src = g_unix_fd_add(conn->out_fd, G_IO_OUT,
					      conn_out_ready, conn);
}

static gboolean deliver_input(gpointer data)
{
	ChardevConn *conn = data;
	Chardev *chr = conn->chr;

	conn->deliver_src = 0;
	if (!conn->dead && conn->in->len && chr->ops && chr->ops->input)
		chr->ops->input(conn, chr->opaque);
	return G_SOURCE_REMOVE;
}

static gboolean conn_in_ready(int fd, GIOCondition cond, gpointer data)
{
	ChardevConn *conn = data;
	Chardev *chr = conn->chr;
	guint8 buf[65536];
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return G_SOURCE_CONTINUE;
	if (n <= 0) {
		conn->in_src = 0;
		if (chr->kind == CHR_STDIO && n == 0) {
			/* stdin at EOF: the monitor still talks on stdout. */
			return G_SOURCE_REMOVE;
		}
		conn_kill(conn);
		return G_SOURCE_REMOVE;
	}
	if (conn->in->len + n > CHARDEV_IN_MAX) {
		conn->in_src = 0;
		conn_kill(conn);
		return G_SOURCE_REMOVE;
	}
	g_byte_array_append(conn->in, buf, n);
	if (chr->ops && chr->ops->input)
		chr->ops->input(conn, chr->opaque);
	return conn->dead ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static ChardevConn *conn_new(Chardev *chr, int in_fd, int out_fd,
			     gboolean is_socket, gboolean owns)
{
	ChardevConn *conn = g_new0(ChardevConn, 1);

	conn->chr = chr;
	conn->in_fd = in_fd;
	conn->out_fd = out_fd;
	conn->is_socket = is_socket;
	conn->owns_fds = owns;
	conn->cpr_id = -1;
	conn->in = g_byte_array_new();
	conn->out = g_byte_array_new();
	chr->conns = g_list_append(chr->conns, conn);
	if (in_fd >= 0)
		conn->in_src = g_unix_fd_add(in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
					     conn_in_ready, conn);
	return conn;
}

static void conn_opened(ChardevConn *conn)
{
	Chardev *chr = conn->chr;

	if (chr->ops && chr->ops->open)
		chr->ops->open(conn, chr->opaque);
	/* Input that arrived before the exec is handled from the main loop. */
	if (conn->in->len && !conn->deliver_src)
		conn->deliver_src = g_idle_add(deliver_input, conn);
}

void chardev_conn_write(ChardevConn *conn, const void *buf, size_t len)
{
	if (conn->dead || conn->out_fd < 0 || !len)
		return;
	if (conn->out->len + len > CHARDEV_OUT_MAX) {
		/* A peer that stopped reading is dropped, never waited for. */
		conn_kill(conn);
		return;
	}
	g_byte_array_append(conn->out, buf, len);
	if (!conn->out_src && conn_drain(conn))
		conn_want_out(conn);
}

void chardev_conn_printf(ChardevConn *conn, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	chardev_conn_write(conn, s, strlen(s));
	g_free(s);
}

char *chardev_conn_take_line(ChardevConn *conn)
{
	guint8 *nl = memchr(conn->in->data, '\n', conn->in->len);
	size_t len;
	char *line;

	if (!nl)
		return NULL;
	len = nl - conn->in->data;
	line = g_strndup((const char *)conn->in->data, len);
	g_byte_array_remove_range(conn->in, 0, len + 1);
	if (len && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

const char *chardev_conn_peek(ChardevConn *conn, size_t *len)
{
	*len = conn->in->len;
	return (const char *)conn->in->data;
}

void chardev_conn_consume(ChardevConn *conn, size_t n)
{
	g_byte_array_remove_range(conn->in, 0, MIN(n, conn->in->len));
}

size_t chardev_conn_take(ChardevConn *conn, void *buf, size_t max)
{
	size_t n = MIN(max, conn->in->len);

	memcpy(buf, conn->in->data, n);
	g_byte_array_remove_range(conn->in, 0, n);
	return n;
}

void chardev_conn_close_later(ChardevConn *conn)
{
	if (conn->dead)
		return;
	conn->closing = TRUE;
	if (conn->in_src) {
		g_source_remove(conn->in_src);
		conn->in_src = 0;
	}
	if (!conn->out->len)
		conn_kill(conn);
}

Chardev *chardev_conn_chardev(ChardevConn *conn)
{
	return conn->chr;
}

uint32_t chardev_conn_flags(const ChardevConn *conn)
{
	return conn->flags;
}

void chardev_conn_set_flags(ChardevConn *conn, uint32_t flags)
{
	conn->flags = flags;
}

void *chardev_conn_data(const ChardevConn *conn)
{
	return conn->data;
}

void chardev_conn_set_data(ChardevConn *conn, void *data)
{
	conn->data = data;
}

gboolean chardev_conn_adopted(const ChardevConn *conn)
{
	return conn->adopted;
}

void chardev_foreach_conn(Chardev *chr, void (*fn)(ChardevConn *, void *),
			  void *opaque)
{
	for (GList *l = chr->conns; l;) {
		ChardevConn *conn = l->data;

		l = l->next;
		fn(conn, opaque);
	}
}

void chardev_write_all(Chardev *chr, const void *buf, size_t len)
{
	for (GList *l = chr->conns; l;) {
		ChardevConn *conn = l->data;

		/* A write may kill the connection and unlink it. */
		l = l->next;
		chardev_conn_write(conn, buf, len);
	}
}

/* ---------------------------------------------------------------- servers */

/* How long accepting pauses when the process is out of file descriptors. */
#define ACCEPT_RETRY_MS 100

static gboolean accept_retry(gpointer data)
{
	Chardev *chr = data;

	chr->accept_retry_src = 0;
	if (chr->multi || !chr->conns)
		listener_watch(chr);
	return G_SOURCE_REMOVE;
}

/*
 * Out of fds, the client stays in the backlog and the listener stays
 * readable: retrying at once would spin and starve the idle source that
 * frees dead connections (and their fds). Free them now, and try again
 * a little later.
 */
static void accept_pause(Chardev *chr)
{
	if (chr->listen_src)
		g_source_remove(chr->listen_src);
	chr->listen_src = 0;
	/* first: a connection freed below must not restart the listener */
	if (!chr->accept_retry_src)
		chr->accept_retry_src = g_timeout_add(ACCEPT_RETRY_MS, accept_retry, chr);
	if (reap_src) {
		g_source_remove(reap_src);
		reap_dead(NULL);
	}
}

static gboolean listener_ready(int fd, GIOCondition cond, gpointer data)
{
	Chardev *chr = data;
	ChardevConn *conn;
	int cfd;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			errno == ENOMEM)) {
		accept_pause(chr);
		return G_SOURCE_REMOVE;
	}
	if (cfd < 0)
		return G_SOURCE_CONTINUE; /* EAGAIN, ECONNABORTED: the next one */
	conn = conn_new(chr, cfd, cfd, TRUE, TRUE);
	if (!chr->multi) {
		chr->listen_src = 0;
		conn_opened(conn);
		return G_SOURCE_REMOVE;
	}
	conn_opened(conn);
	return G_SOURCE_CONTINUE;
}

static void listener_watch(Chardev *chr)
{
	if (chr->listen_fd >= 0 && !chr->listen_src && !chr->accept_retry_src)
		chr->listen_src = g_unix_fd_add(chr->listen_fd, G_IO_IN,
						listener_ready, chr);
}

static int unix_listen(const char *path, GError **errp)
{
	struct rl_error err = { { 0 } };
	int fd, ret;

	ret = rl_unix_listen(path, 16, SOCK_NONBLOCK, &fd, &err);
	if (ret < 0) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "Failed to bind socket to %s", err.msg);
		return -1;
	}
	return fd;
}

static gboolean parse_spec(Chardev *chr, const char *spec, GError **errp)
{
	g_auto(GStrv) opts = NULL;
	gboolean server = FALSE;

	if (!strcmp(spec, "stdio")) {
		chr->kind = CHR_STDIO;
		return TRUE;
	}
	if (!strcmp(spec, "none") || !strcmp(spec, "null")) {
		chr->kind = CHR_NONE;
		return TRUE;
	}
	if (g_str_has_prefix(spec, "file:")) {
		opts = g_strsplit(spec + 5, ",", -1);
		chr->kind = CHR_FILE;
	} else if (g_str_has_prefix(spec, "unix:")) {
		opts = g_strsplit(spec + 5, ",", -1);
		chr->kind = CHR_UNIX;
		chr->wait = TRUE;
	} else {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev '%s': unknown backend '%s' (use stdio, none, file:PATH or unix:PATH,server=on,wait=off)",
			    chr->id, spec);
		return FALSE;
	}
	if (!opts[0] || !opts[0][0]) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev '%s': '%s' needs a path", chr->id, spec);
		return FALSE;
	}
	chr->path = g_strdup(opts[0]);
	for (int i = 1; opts[i]; i++) {
		const char *o = opts[i];

		if (chr->kind == CHR_UNIX && (!strcmp(o, "server") || !strcmp(o, "server=on")))
			server = TRUE;
		else if (chr->kind == CHR_UNIX && !strcmp(o, "server=off"))
			server = FALSE;
		else if (chr->kind == CHR_UNIX && (!strcmp(o, "nowait") || !strcmp(o, "wait=off")))
			chr->wait = FALSE;
		else if (chr->kind == CHR_UNIX && !strcmp(o, "wait=on"))
			chr->wait = TRUE;
		else if (chr->kind == CHR_FILE && !strcmp(o, "append=on"))
			chr->append = TRUE;
		else if (chr->kind == CHR_FILE && !strcmp(o, "append=off"))
			chr->append = FALSE;
		else {
			g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
				    "chardev '%s': unknown option '%s' in '%s'",
				    chr->id, o, spec);
			return FALSE;
		}
	}
	if (chr->kind == CHR_UNIX && !server) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev '%s': only socket servers are supported: use unix:%s,server=on,wait=off",
			    chr->id, chr->path);
		return FALSE;
	}
	return TRUE;
}

static struct adopted_chr *adopted_take(const char *id, const char *spec);
static void adopted_free(struct adopted_chr *a);

/* QEMU's wait=on: block until the first client, before the machine starts. */
static gboolean wait_first_client(Chardev *chr, GError **errp)
{
	struct pollfd pfd = { .fd = chr->listen_fd, .events = POLLIN };
	ChardevConn *conn;
	int cfd;

	fprintf(stderr, "QEMU waiting for connection on: disconnected:unix:%s,server=on\n",
		chr->path);
	for (;;) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		cfd = accept4(chr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			conn = conn_new(chr, cfd, cfd, TRUE, TRUE);
			conn_opened(conn);
			return TRUE;
		}
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			break;
	}
	g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
		    "chardev '%s': accept on %s: %s", chr->id, chr->path,
		    g_strerror(errno));
	return FALSE;
}

static void adopt(Chardev *chr, struct adopted_chr *a)
{
	chr->adopted = TRUE;
	if (chr->kind == CHR_UNIX) {
		chr->listen_fd = a->listen_fd;
		a->listen_fd = -1;
	}
	for (guint i = 0; i < a->conns->len; i++) {
		struct adopted_conn *ac = &g_array_index(a->conns, struct adopted_conn, i);
		ChardevConn *conn;
		gsize len;
		const void *p;

		if (chr->kind == CHR_UNIX)
			conn = conn_new(chr, ac->fd, ac->fd, TRUE, TRUE);
		else if (chr->kind == CHR_FILE)
			conn = conn_new(chr, -1, ac->fd, FALSE, TRUE);
		else if (chr->kind == CHR_STDIO && !stdio_in_use)
			conn = conn_new(chr, STDIN_FILENO, STDOUT_FILENO, FALSE, FALSE);
		else
			continue;
		if (chr->kind == CHR_STDIO) {
			stdio_in_use = TRUE;
			/* The flags the first binary found, not the ones it left. */
			stdio_saved_fl[0] = ac->stdio_fl[0];
			stdio_saved_fl[1] = ac->stdio_fl[1];
			stdio_nonblock();
		}
		ac->fd = -1;
		conn->adopted = TRUE;
		conn->flags = ac->flags;
		p = g_bytes_get_data(ac->in, &len);
		g_byte_array_append(conn->in, p, len);
		p = g_bytes_get_data(ac->out, &len);
		g_byte_array_append(conn->out, p, len);
		conn_want_out(conn);
	}
}

Chardev *chardev_new(const char *id, const char *spec,
		     const struct chardev_ops *ops, void *opaque,
		     gboolean multi, GError **errp)
{
	Chardev *chr;
	struct adopted_chr *a;
	int fd;

	/* an update carries both as JSON strings, which must be UTF-8 */
	if (!g_utf8_validate(id, -1, NULL) || !g_utf8_validate(spec, -1, NULL)) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev '%s': id and spec must be UTF-8 (an update carries them as JSON)",
			    id);
		return NULL;
	}
	chr = g_new0(Chardev, 1);
	ignore_sigpipe();
	chr->id = g_strdup(id);
	chr->spec = g_strdup(spec);
	chr->ops = ops;
	chr->opaque = opaque;
	chr->multi = multi;
	chr->listen_fd = -1;
	chr->cpr_listen_id = -1;
	if (!parse_spec(chr, spec, errp))
		goto err;
	if (chr->kind == CHR_STDIO && stdio_in_use) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev '%s': cannot use stdio by multiple character devices",
			    id);
		goto err;
	}

	chardevs = g_list_append(chardevs, chr);
	a = adopted_take(id, spec);
	if (a) {
		adopt(chr, a);
		adopted_free(a);
		if (chr->kind == CHR_UNIX && chr->listen_fd >= 0 &&
		    (multi || !chr->conns))
			listener_watch(chr);
		for (GList *l = chr->conns; l; l = l->next)
			conn_opened(l->data);
		return chr;
	}

	switch (chr->kind) {
	case CHR_NONE:
		break;
	case CHR_STDIO:
		stdio_in_use = TRUE;
		stdio_nonblock();
		conn_opened(conn_new(chr, STDIN_FILENO, STDOUT_FILENO, FALSE, FALSE));
		break;
	case CHR_FILE:
		fd = open(chr->path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
			  (chr->append || files_append ? O_APPEND : O_TRUNC), 0600);
		if (fd < 0) {
			g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
				    "chardev '%s': could not open '%s': %s",
				    id, chr->path, g_strerror(errno));
			goto err_list;
		}
		conn_opened(conn_new(chr, -1, fd, FALSE, TRUE));
		break;
	case CHR_UNIX:
		chr->listen_fd = unix_listen(chr->path, errp);
		if (chr->listen_fd < 0)
			goto err_list;
		if (chr->wait && !wait_first_client(chr, errp))
			goto err_list;
		if (multi || !chr->conns)
			listener_watch(chr);
		break;
	}
	return chr;

err_list:
	chardevs = g_list_remove(chardevs, chr);
	if (chr->listen_fd >= 0)
		close(chr->listen_fd);
err:
	g_free(chr->id);
	g_free(chr->spec);
	g_free(chr->path);
	g_free(chr);
	return NULL;
}

void chardev_free(Chardev *chr)
{
	if (!chr)
		return;
	chardevs = g_list_remove(chardevs, chr);
	if (chr->listen_src)
		g_source_remove(chr->listen_src);
	chr->listen_src = 0;
	if (chr->accept_retry_src)
		g_source_remove(chr->accept_retry_src);
	chr->accept_retry_src = 0;
	if (chr->listen_fd >= 0)
		close(chr->listen_fd);
	chr->listen_fd = -1;
	while (chr->conns)
		conn_kill(chr->conns->data);
	/* Free this chardev's dead connections now; it is going away. */
	for (GList *l = dead_conns; l;) {
		ChardevConn *conn = l->data;
		GList *next = l->next;

		if (conn->chr == chr) {
			dead_conns = g_list_delete_link(dead_conns, l);
			conn_free(conn);
		}
		l = next;
	}
	g_free(chr->id);
	g_free(chr->spec);
	g_free(chr->path);
	g_free(chr);
}

void chardev_files_append(void)
{
	files_append = TRUE;
}

const char *chardev_id(const Chardev *chr)
{
	return chr->id;
}

const char *chardev_spec(const Chardev *chr)
{
	return chr->spec;
}

gboolean chardev_adopted(const Chardev *chr)
{
	return chr->adopted;
}

gboolean chardev_flush_all(int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		g_autofree struct pollfd *pfds = NULL;
		guint n = 0, cap = 0;
		gint64 left;

		for (GList *c = chardevs; c; c = c->next)
			cap += g_list_length(((Chardev *)c->data)->conns);
		pfds = g_new0(struct pollfd, cap + 1);
		for (GList *c = chardevs; c; c = c->next) {
			for (GList *l = ((Chardev *)c->data)->conns; l;) {
				ChardevConn *conn = l->data;

				l = l->next;
				if (!conn->out->len || !conn_drain(conn) || !conn->out->len)
					continue;
				pfds[n].fd = conn->out_fd;
				pfds[n].events = POLLOUT;
				n++;
			}
		}
		if (!n)
			return TRUE;
		left = deadline - g_get_monotonic_time();
		if (left <= 0)
			return FALSE;
		poll(pfds, n, (int)MAX(1, left / 1000));
	}
}

/* ------------------------------------------------------------ across exec */

#define CPR_STATE_VERSION 1

static const char *kind_name(enum chardev_kind kind)
{
	switch (kind) {
	case CHR_STDIO:
		return "stdio";
	case CHR_FILE:
		return "file";
	case CHR_UNIX:
		return "unix";
	default:
		return "none";
	}
}

static void add_bytes(json_t *o, const char *name, GByteArray *a)
{
	g_autofree char *s = g_base64_encode(a->data, a->len);

	json_object_set_str(o, name, s);
}

static void add_conn(json_t *conns, Chardev *chr, ChardevConn *conn)
{
	json_t *o = json_object();

	json_array_append_new(conns, o);
	json_object_set_str(o, "kind", kind_name(chr->kind));
	json_object_set_new(o, "fd", json_integer(conn->cpr_id));
	if (conn->dead) {
		/* Dropped after its fd was registered: the new binary closes it. */
		json_object_set_new(o, "dead", json_true());
		return;
	}
	json_object_set_new(o, "flags", json_integer(conn->flags));
	if (chr->kind == CHR_STDIO) {
		json_object_set_new(o, "stdin-fl", json_integer(stdio_saved_fl[0]));
		json_object_set_new(o, "stdout-fl", json_integer(stdio_saved_fl[1]));
	}
	add_bytes(o, "in", conn->in);
	add_bytes(o, "out", conn->out);
}

/*
 * The state as JSON text. With @fds, (re)number every fd and list it there;
 * without, use the numbers given then (connections opened since have none
 * and are left out: nothing of theirs was registered).
 * Return: NULL when a chardev's id or spec is not UTF-8, which JSON cannot carry.
 */
static char *state_text(GArray *fds, gsize *len)
{
	g_autoptr(json_t) root = json_object();
	json_t *chrs = json_array();
	struct chardev_cpr_fd f;
	int next_listen = 0, next_conn = 0;
	char *text;

	json_object_set_new(root, "version", json_integer(CPR_STATE_VERSION));
	json_object_set_new(root, "chardevs", chrs);
	for (GList *c = chardevs; c; c = c->next) {
		Chardev *chr = c->data;
		json_t *o = json_object();
		json_t *conns = json_array();

		if (fds) {
			chr->cpr_listen_id = -1;
			if (chr->listen_fd >= 0) {
				f = (struct chardev_cpr_fd){ "chardev-listen", next_listen,
							     chr->listen_fd };
				g_array_append_val(fds, f);
				chr->cpr_listen_id = next_listen++;
			}
		}
		json_array_append_new(chrs, o);
		json_object_set_str(o, "id", chr->id);
		json_object_set_str(o, "spec", chr->spec);
		json_object_set_new(o, "listen", json_integer(chr->cpr_listen_id));
		json_object_set_new(o, "conns", conns);
		for (GList *l = chr->conns; l; l = l->next) {
			ChardevConn *conn = l->data;

			if (fds) {
				conn->cpr_id = -1;
				if (conn->owns_fds) {
					f = (struct chardev_cpr_fd){
						"chardev-conn", next_conn,
						conn->in_fd >= 0 ? conn->in_fd : conn->out_fd
					};
					g_array_append_val(fds, f);
					conn->cpr_id = next_conn++;
				}
			} else if (conn->owns_fds && conn->cpr_id < 0) {
				continue;
			}
			add_conn(conns, chr, conn);
		}
		if (!fds) {
			for (GList *l = dead_conns; l; l = l->next) {
				ChardevConn *conn = l->data;

				if (conn->chr == chr && conn->owns_fds && conn->cpr_id >= 0)
					add_conn(conns, chr, conn);
			}
		}
	}
	text = json_dumps(root, JSON_COMPACT);
	*len = text ? strlen(text) : 0;
	return text;
}

static void not_utf8(GError **errp)
{
	g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
		    "chardev state: a chardev's id or spec is not UTF-8");
}

/* Writes @text over the memfd; a shorter text is padded with NULs (the size only grows). */
static gboolean write_state(int mfd, const char *text, gsize len)
{
	struct stat st;
	gsize off = 0;

	if (fstat(mfd, &st) < 0)
		return FALSE;
	while (off < len) {
		ssize_t n = pwrite(mfd, text + off, len - off, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		off += n;
	}
	if ((gsize)st.st_size > len) {
		g_autofree char *zero = g_malloc0(st.st_size - len);

		if (pwrite(mfd, zero, st.st_size - len, len) != (ssize_t)(st.st_size - len))
			return FALSE;
	}
	return TRUE;
}

int chardev_cpr_export(GArray *fds, GError **errp)
{
	g_autofree char *text = NULL;
	struct chardev_cpr_fd f;
	gsize len;
	int mfd;

	text = state_text(fds, &len);
	if (!text) {
		not_utf8(errp);
		return -1;
	}
	if (len > CHARDEV_STATE_MAX - CHARDEV_STATE_SLACK) {
		g_set_error(errp, VM_ERROR, VM_ERROR_TOO_LARGE,
			    "the monitor and serial connections hold %" G_GSIZE_FORMAT
			    " bytes of state (queued input and output), more than an update carries (%u MiB): let the clients read their replies, or close them",
			    len, (CHARDEV_STATE_MAX - CHARDEV_STATE_SLACK) >> 20);
		return -1;
	}
	mfd = memfd_create("chardev-state", MFD_CLOEXEC);
	if (mfd < 0)
		goto err;
	if (!write_state(mfd, text, len)) {
		int e = errno;

		close(mfd);
		errno = e;
		goto err;
	}
	f = (struct chardev_cpr_fd){ "chardev-state", 0, mfd };
	g_array_append_val(fds, f);
	return mfd;
err:
	g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
		    "chardev state memfd: %s", g_strerror(errno));
	return -1;
}

gboolean chardev_cpr_rewrite(int mfd, GError **errp)
{
	g_autofree char *text = NULL;
	gsize len;

	text = state_text(NULL, &len);
	if (!text) {
		not_utf8(errp);
		return FALSE;
	}
	if (len > CHARDEV_STATE_MAX) {
		/* the export's state stays: what was queued since is not carried */
		g_set_error(errp, VM_ERROR, VM_ERROR_TOO_LARGE,
			    "chardev state memfd (fd %d): %" G_GSIZE_FORMAT " bytes, over %u MiB",
			    mfd, len, CHARDEV_STATE_MAX >> 20);
		return FALSE;
	}
	if (!write_state(mfd, text, len)) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev state memfd (fd %d): %s", mfd, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static void adopted_free(struct adopted_chr *a)
{
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	for (guint i = 0; i < a->conns->len; i++) {
		struct adopted_conn *ac = &g_array_index(a->conns, struct adopted_conn, i);

		if (ac->fd >= 0)
			close(ac->fd);
		g_bytes_unref(ac->in);
		g_bytes_unref(ac->out);
	}
	g_array_unref(a->conns);
	g_free(a->id);
	g_free(a->spec);
	g_free(a);
}

static struct adopted_chr *adopted_take(const char *id, const char *spec)
{
	for (GList *l = adopted; l; l = l->next) {
		struct adopted_chr *a = l->data;

		if (strcmp(a->id, id))
			continue;
		adopted = g_list_delete_link(adopted, l);
		if (!strcmp(a->spec, spec))
			return a;
		/* Same name, different backend: the new command line wins. */
		adopted_free(a);
		return NULL;
	}
	return NULL;
}

void chardev_cpr_discard_unclaimed(void)
{
	g_list_free_full(adopted, (GDestroyNotify)adopted_free);
	adopted = NULL;
}

/* Checks an inherited socket fd and makes it ours again. */
static gboolean adopt_socket_fd(int fd, gboolean listening, const char *what,
				int id, GError **errp)
{
	struct stat st;
	int acc = 0;
	socklen_t sl = sizeof(acc);

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) < 0 ||
	    !!acc != !!listening) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "inherited %s %d (fd %d) is not a %s socket", what, id,
			    fd, listening ? "listening" : "connected");
		return FALSE;
	}
	if (!set_cloexec(fd) || !set_nonblock(fd)) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "inherited %s %d (fd %d): %s", what, id, fd,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static GBytes *member_bytes(json_t *o, const char *name)
{
	const char *s = json_object_string_or(o, name, "");
	gsize len;
	guchar *p = g_base64_decode(s, &len);

	return g_bytes_new_take(p, len);
}

/*
 * Takes over one connection of chardev @a. One that cannot be taken over
 * is dropped with a message: its client reconnects, the others keep theirs.
 */
static void import_conn(struct adopted_chr *a, json_t *co,
			int (*lookup)(const char *, int, void *), void *opaque)
{
	const char *kind = json_object_string_or(co, "kind", "");
	gint64 cid = json_object_int_or(co, "fd", -1);
	struct adopted_conn ac = { .fd = -1 };
	g_autoptr(GError) e = NULL;

	if (json_object_bool_or(co, "dead", FALSE)) {
		int dfd = cid >= 0 ? lookup("chardev-conn", (int)cid, opaque) : -1;

		/* The peer was already gone in the old binary. */
		if (dfd >= 0)
			close(dfd);
		return;
	}
	if (cid >= 0) {
		ac.fd = lookup("chardev-conn", (int)cid, opaque);
		if (ac.fd < 0)
			g_set_error(&e, VM_ERROR, VM_ERROR_FAILED,
				    "connection chardev-conn %d was not inherited", (int)cid);
		else if (!strcmp(kind, "unix"))
			adopt_socket_fd(ac.fd, FALSE, "chardev-conn", (int)cid, &e);
		else if (!set_cloexec(ac.fd))
			g_set_error(&e, VM_ERROR, VM_ERROR_FAILED,
				    "inherited chardev-conn %d (fd %d): %s",
				    (int)cid, ac.fd, g_strerror(errno));
		if (e) {
			fprintf(stderr, "relive-vm: chardev '%s': %s; its client is dropped and may connect again\n",
				a->id, e->message);
			if (ac.fd >= 0)
				close(ac.fd);
			return;
		}
	}
	ac.kind = !strcmp(kind, "unix") ? CHR_UNIX :
		  !strcmp(kind, "file") ? CHR_FILE :
		  !strcmp(kind, "stdio") ? CHR_STDIO : CHR_NONE;
	ac.flags = (uint32_t)json_object_int_or(co, "flags", 0);
	ac.stdio_fl[0] = (int)json_object_int_or(co, "stdin-fl", -1);
	ac.stdio_fl[1] = (int)json_object_int_or(co, "stdout-fl", -1);
	ac.in = member_bytes(co, "in");
	ac.out = member_bytes(co, "out");
	g_array_append_val(a->conns, ac);
}

/*
 * Takes over chardev @o. A listening socket that cannot be taken over
 * drops the chardev's whole state with a message: it is created afresh,
 * listening again, and its clients reconnect.
 */
static void import_chardev(json_t *o, int (*lookup)(const char *, int, void *),
			   void *opaque, GList **out)
{
	struct adopted_chr *a = g_new0(struct adopted_chr, 1);
	g_autoptr(GError) e = NULL;
	size_t i;
	json_t *cn;
	gint64 lid;

	a->listen_fd = -1;
	a->file_fd = -1;
	a->conns = g_array_new(FALSE, TRUE, sizeof(struct adopted_conn));
	a->id = g_strdup(json_object_string_or(o, "id", ""));
	a->spec = g_strdup(json_object_string_or(o, "spec", ""));

	lid = json_object_int_or(o, "listen", -1);
	if (lid >= 0) {
		a->listen_fd = lookup("chardev-listen", (int)lid, opaque);
		if (a->listen_fd < 0)
			g_set_error(&e, VM_ERROR, VM_ERROR_FAILED,
				    "listening socket chardev-listen %d was not inherited",
				    (int)lid);
		else
			adopt_socket_fd(a->listen_fd, TRUE, "chardev-listen", (int)lid, &e);
	}
	/* not an array: no connections */
	json_array_foreach(json_object_get(o, "conns"), i, cn)
		if (json_is_object(cn))
			import_conn(a, cn, lookup, opaque);
	if (e) {
		fprintf(stderr, "relive-vm: chardev '%s': %s; it starts afresh and its clients are dropped\n",
			a->id, e->message);
		adopted_free(a);
		return;
	}
	*out = g_list_append(*out, a);
}

gboolean chardev_cpr_import(int (*lookup)(const char *name, int id, void *opaque),
			    void *opaque, GError **errp)
{
	g_autofree char *text = NULL;
	g_autoptr(json_t) root = NULL;
	GList *found = NULL;
	json_error_t jerr;
	size_t i;
	json_t *o;
	struct stat st;
	int sfd;
	ssize_t n;

	sfd = lookup("chardev-state", 0, opaque);
	if (sfd < 0)
		return TRUE; /* the previous binary had no chardevs to hand over */
	if (fstat(sfd, &st) < 0 || st.st_size > CHARDEV_STATE_MAX) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev-state (fd %d): not a readable state memfd", sfd);
		close(sfd);
		return FALSE;
	}
	text = g_malloc(st.st_size + 1);
	n = pread(sfd, text, st.st_size, 0);
	close(sfd);
	if (n != st.st_size) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev-state (fd %d): short read at offset 0", sfd);
		return FALSE;
	}
	text[n] = '\0';
	/* A rewrite may have left NUL padding after the text. */
	n = strlen(text);
	root = json_loadb(text, n, MONITOR_JSON_DECODE, &jerr);
	if (!root) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev-state: %s", jerr.text);
		return FALSE;
	}
	if (!json_is_object(root) || json_object_int_or(root, "version", 0) !=
				     CPR_STATE_VERSION) {
		g_set_error(errp, VM_ERROR, VM_ERROR_FAILED,
			    "chardev-state: unknown version");
		return FALSE;
	}
	/* not an array: no chardevs */
	json_array_foreach(json_object_get(root, "chardevs"), i, o)
		if (json_is_object(o))
			import_chardev(o, lookup, opaque, &found);
	adopted = g_list_concat(adopted, found);
	return TRUE;
}
