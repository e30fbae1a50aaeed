// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP client of the bench: one blocking unix socket read with poll() and a
 * deadline, one JSON object per line. Replies are matched by "id"; events
 * are kept, stamped on arrival, until cleared.
 */
#include "qmp-client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct qmp_client {
	int fd;
	GString *in;
	GPtrArray *events; /* struct qmp_event * */
	unsigned next_id;
};

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void event_free(gpointer p)
{
	struct qmp_event *e = p;

	g_free(e->name);
	if (e->data)
		json_node_unref(e->data);
	g_free(e);
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = bench_now_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/*
 * Reads one line into a parsed object. Return: the root node (new
 * reference) or NULL with @errp set.
 */
static JsonNode *read_message(struct qmp_client *c, uint64_t deadline, GError **errp)
{
	for (;;) {
		char *nl = memchr(c->in->str, '\n', c->in->len);

		if (nl) {
			size_t len = (size_t)(nl - c->in->str);
			g_autoptr(JsonParser) parser = json_parser_new();
			g_autofree char *line = g_strndup(c->in->str, len);

			g_string_erase(c->in, 0, (gssize)len + 1);
			g_strstrip(line);
			if (!*line)
				continue;
			if (!json_parser_load_from_data(parser, line, -1, errp))
				return NULL;
			if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
				g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
					    "QMP sent something that is not an object: %s", line);
				return NULL;
			}
			return json_node_ref(json_parser_get_root(parser));
		}

		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int ms = remaining_ms(deadline);
		int r = poll(&pfd, 1, ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(errno),
				    "QMP poll: %s", g_strerror(errno));
			return NULL;
		}
		if (r == 0) {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "QMP: no answer in time");
			return NULL;
		}
		char buf[65536];
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_CLOSED,
				    "QMP connection closed%s%s", n < 0 ? ": " : "",
				    n < 0 ? g_strerror(errno) : "");
			return NULL;
		}
		g_string_append_len(c->in, buf, n);
	}
}

/* Keeps @msg if it is an event. Return: TRUE if it was one. */
static gboolean take_event(struct qmp_client *c, JsonNode *msg)
{
	JsonObject *o = json_node_get_object(msg);
	struct qmp_event *e;

	if (!json_object_has_member(o, "event"))
		return FALSE;
	e = g_new0(struct qmp_event, 1);
	e->name = g_strdup(json_object_get_string_member(o, "event"));
	e->recv_ns = bench_now_ns();
	if (json_object_has_member(o, "data"))
		e->data = json_node_copy(json_object_get_member(o, "data"));
	g_ptr_array_add(c->events, e);
	return TRUE;
}

static gboolean write_all(int fd, const char *s, size_t len, GError **errp)
{
	while (len) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(errp, G_IO_ERROR, errno == EPIPE ? G_IO_ERROR_CLOSED :
				    g_io_error_from_errno(errno), "QMP write: %s",
				    g_strerror(errno));
			return FALSE;
		}
		s += n;
		len -= (size_t)n;
	}
	return TRUE;
}

static gboolean send_command(struct qmp_client *c, const char *cmd, const char *args,
			     unsigned id, GError **errp)
{
	g_autofree char *line = NULL;

	if (args)
		line = g_strdup_printf("{\"execute\": \"%s\", \"arguments\": %s, \"id\": %u}\n",
				       cmd, args, id);
	else
		line = g_strdup_printf("{\"execute\": \"%s\", \"id\": %u}\n", cmd, id);
	return write_all(c->fd, line, strlen(line), errp);
}

gboolean qmp_send(struct qmp_client *c, const char *cmd, const char *args, GError **errp)
{
	return send_command(c, cmd, args, c->next_id++, errp);
}

JsonNode *qmp_execute(struct qmp_client *c, const char *cmd, const char *args,
		      int timeout_ms, GError **errp)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned id = c->next_id++;

	if (!send_command(c, cmd, args, id, errp))
		return NULL;
	for (;;) {
		g_autoptr(JsonNode) msg = read_message(c, deadline, errp);
		JsonObject *o;

		if (!msg)
			return NULL;
		if (take_event(c, msg))
			continue;
		o = json_node_get_object(msg);
		/* A reply to an earlier qmp_send() is not ours. */
		if (json_object_has_member(o, "id") &&
		    json_object_get_int_member(o, "id") != (gint64)id)
			continue;
		if (json_object_has_member(o, "return"))
			return json_node_copy(json_object_get_member(o, "return"));
		if (json_object_has_member(o, "error")) {
			JsonObject *e = json_object_get_object_member(o, "error");
			const char *desc = e && json_object_has_member(e, "desc") ?
				json_object_get_string_member(e, "desc") : "(no description)";

			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", cmd, desc);
			return NULL;
		}
		/* A greeting (after an exec the server may greet again): skip. */
	}
}

const struct qmp_event *qmp_wait_event(struct qmp_client *c, const char *name,
				       int timeout_ms, GError **errp)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		for (guint i = 0; i < c->events->len; i++) {
			struct qmp_event *e = g_ptr_array_index(c->events, i);

			if (!strcmp(e->name, name))
				return e;
		}
		g_autoptr(JsonNode) msg = read_message(c, deadline, errp);

		if (!msg)
			return NULL;
		take_event(c, msg);
	}
}

void qmp_events_clear(struct qmp_client *c)
{
	g_ptr_array_set_size(c->events, 0);
}

struct qmp_client *qmp_connect(const char *path, int timeout_ms, GError **errp)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp_client *c;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "QMP socket path too long: %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(err),
				    "socket: %s", g_strerror(err));
			return NULL;
		}
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		err = errno;
		close(fd);
		if (bench_now_ns() >= deadline) {
			g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(err),
				    "cannot connect to QMP socket %s: %s", path, g_strerror(err));
			return NULL;
		}
		g_usleep(2000);
	}

	c = g_new0(struct qmp_client, 1);
	c->fd = fd;
	c->in = g_string_new(NULL);
	c->events = g_ptr_array_new_with_free_func(event_free);
	c->next_id = 1;

	g_autoptr(JsonNode) greeting = read_message(c, deadline, errp);

	if (!greeting || !json_object_has_member(json_node_get_object(greeting), "QMP")) {
		if (greeting)
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
				    "%s: no QMP greeting", path);
		qmp_close(c);
		return NULL;
	}
	g_autoptr(JsonNode) ret = qmp_execute(c, "qmp_capabilities", NULL,
					      remaining_ms(deadline) + 1000, errp);
	if (!ret) {
		qmp_close(c);
		return NULL;
	}
	return c;
}

void qmp_close(struct qmp_client *c)
{
	if (!c)
		return;
	close(c->fd);
	g_string_free(c->in, TRUE);
	g_ptr_array_free(c->events, TRUE);
	g_free(c);
}
