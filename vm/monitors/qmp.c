// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP: the greeting, the qmp_capabilities handshake, command dispatch with
 * QEMU's argument checking and error classes, QEMU-style JSON text, and
 * event broadcast to negotiated clients. Input is split into messages by
 * bracket depth, as QEMU's streamer splits it, then parsed with jansson.
 */
#include <string.h>

#include "monitors/control.h"
#include "monitors/monitor.h"
#include "monitors/monitor-int.h"

GPtrArray *qmp_chardevs;

/* ------------------------------------------------------------ JSON text */

static void format_string(const char *s, GString *out)
{
	g_string_append_c(out, '"');
	for (const char *p = s; *p;) {
		gunichar c = g_utf8_get_char_validated(p, -1);

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			/* Not UTF-8: pass the byte as U+FFFD rather than break the stream. */
			g_string_append(out, "\\uFFFD");
			p++;
			continue;
		}
		p = g_utf8_next_char(p);
		switch (c) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\b':
			g_string_append(out, "\\b");
			break;
		case '\f':
			g_string_append(out, "\\f");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		default:
			if (c < 0x20 || c >= 0x7f) {
				/* QEMU writes everything outside printable ASCII escaped. */
				if (c >= 0x10000) {
					c -= 0x10000;
					g_string_append_printf(out, "\\u%04X\\u%04X",
							       0xD800 | (c >> 10),
							       0xDC00 | (c & 0x3FF));
				} else {
					g_string_append_printf(out, "\\u%04X", c);
				}
			} else {
				g_string_append_c(out, (char)c);
			}
		}
	}
	g_string_append_c(out, '"');
}

static void format_object(json_t *o, GString *out)
{
	const char *name;
	json_t *m;
	gboolean first = TRUE;

	g_string_append_c(out, '{');
	json_object_foreach(o, name, m) {
		if (!first)
			g_string_append(out, ", ");
		first = FALSE;
		format_string(name, out);
		g_string_append(out, ": ");
		qmp_format(m, out);
	}
	g_string_append_c(out, '}');
}

static void format_array(json_t *a, GString *out)
{
	size_t i;
	json_t *e;

	g_string_append_c(out, '[');
	json_array_foreach(a, i, e) {
		if (i)
			g_string_append(out, ", ");
		qmp_format(e, out);
	}
	g_string_append_c(out, ']');
}

void qmp_format(json_t *v, GString *out)
{
	char dbuf[G_ASCII_DTOSTR_BUF_SIZE];

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_OBJECT:
		format_object(v, out);
		break;
	case JSON_ARRAY:
		format_array(v, out);
		break;
	case JSON_TRUE:
		g_string_append(out, "true");
		break;
	case JSON_FALSE:
		g_string_append(out, "false");
		break;
	case JSON_INTEGER:
		g_string_append_printf(out, "%" G_GINT64_FORMAT,
				       (gint64)json_integer_value(v));
		break;
	case JSON_REAL:
		g_string_append(out, g_ascii_dtostr(dbuf, sizeof(dbuf),
						    json_real_value(v)));
		break;
	case JSON_STRING:
		/* Up to a "\u0000" it holds, as the text has always ended there. */
		format_string(json_string_value(v), out);
		break;
	default:
		g_string_append(out, "null");
	}
}

static char *format_line(json_t *v)
{
	GString *s = g_string_new(NULL);

	qmp_format(v, s);
	g_string_append(s, "\r\n");
	return g_string_free(s, FALSE);
}

static json_t *version_node(void)
{
	return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu",
			 "micro", MONITOR_QEMU_MICRO, "minor", MONITOR_QEMU_MINOR,
			 "major", MONITOR_QEMU_MAJOR,
			 "package", "relive-vm " RELIVE_VERSION);
}

char *qmp_greeting(void)
{
	g_autoptr(json_t) root = json_pack("{s:{s:o,s:[s]}}", "QMP",
					   "version", version_node(),
					   "capabilities", "oob");

	return format_line(root);
}

/* ------------------------------------------------------------- commands */

enum qmp_class {
	QMP_GENERIC_ERROR,
	QMP_COMMAND_NOT_FOUND,
};

struct qmp_error {
	enum qmp_class cls;
	char *desc;
};

static void qmp_error_set(struct qmp_error *err, enum qmp_class cls,
			  const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void qmp_error_set(struct qmp_error *err, enum qmp_class cls,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err->cls = cls;
	err->desc = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

static void qmp_error_from_gerror(struct qmp_error *err, GError *gerr)
{
	err->cls = QMP_GENERIC_ERROR;
	err->desc = g_strdup(gerr ? gerr->message : "Unknown error");
	g_clear_error(&gerr);
}

/* Argument types: s string, b bool, i integer, o object, a array. */
struct qmp_arg {
	const char *name;
	char type;
	gboolean optional;
};

struct qmp_ctx {
	gboolean *negotiated;
	gboolean *quit;
};

/* Return: the command's "return" value (a new reference), or NULL with @err set. */
typedef json_t *(*qmp_handler)(json_t *args, struct qmp_ctx *ctx,
			       struct qmp_error *err);

struct qmp_cmd {
	const char *name;
	qmp_handler fn;
	const struct qmp_arg *args; /* NULL: any object, checked by the handler */
	gboolean hidden;	    /* an alias, not listed by query-commands */
};

static json_t *empty_return(void)
{
	return json_object();
}

static json_t *gbool_return(gboolean ok, GError *gerr, struct qmp_error *err)
{
	if (!ok) {
		qmp_error_from_gerror(err, gerr);
		return NULL;
	}
	return empty_return();
}

static const struct qmp_cmd *qmp_find(const char *name);
static const struct qmp_cmd qmp_cmds[];
static const char *type_name(char type);
static gboolean type_ok(json_t *n, char type);

static json_t *cmd_capabilities(json_t *args, struct qmp_ctx *ctx,
				struct qmp_error *err)
{
	size_t i;
	json_t *n;

	/* No "enable": no elements. */
	json_array_foreach(json_object_get(args, "enable"), i, n) {
		if (!json_is_string(n)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'enable[%u]', expected: string",
				      (guint)i);
			return NULL;
		}
		if (strcmp(json_string_value(n), "oob")) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter 'enable[%u]' does not accept value '%s'",
				      (guint)i, json_string_value(n));
			return NULL;
		}
	}
	*ctx->negotiated = TRUE;
	return empty_return();
}

static json_t *cmd_query_status(json_t *args, struct qmp_ctx *ctx,
				struct qmp_error *err)
{
	json_t *o = json_object();

	json_object_set_new(o, "running", json_boolean(control_running()));
	json_object_set_str(o, "status", control_runstate());
	return o;
}

static json_t *cmd_query_version(json_t *args, struct qmp_ctx *ctx,
				 struct qmp_error *err)
{
	return version_node();
}

static json_t *cmd_query_commands(json_t *args, struct qmp_ctx *ctx,
				  struct qmp_error *err)
{
	json_t *a = json_array();

	for (const struct qmp_cmd *c = qmp_cmds; c->name; c++) {
		json_t *o;

		if (c->hidden)
			continue;
		o = json_object();
		json_object_set_str(o, "name", c->name);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *query_or_empty(json_t *n)
{
	return n ? n : empty_return();
}

static json_t *cmd_query_migrate(json_t *args, struct qmp_ctx *ctx,
				 struct qmp_error *err)
{
	return query_or_empty(control_query_migrate());
}

static json_t *cmd_query_migrate_parameters(json_t *args, struct qmp_ctx *ctx,
					    struct qmp_error *err)
{
	return query_or_empty(control_query_migrate_parameters());
}

static json_t *cmd_query_migrate_capabilities(json_t *args, struct qmp_ctx *ctx,
					      struct qmp_error *err)
{
	json_t *n = control_query_migrate_capabilities();

	return n ? n : json_array();
}

static json_t *cmd_migrate_set_parameters(json_t *args, struct qmp_ctx *ctx,
					  struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_migrate_set_parameters(args, &gerr);

	return gbool_return(ok, gerr, err);
}

static json_t *cmd_migrate_set_capabilities(json_t *args, struct qmp_ctx *ctx,
					    struct qmp_error *err)
{
	json_t *caps = json_object_get(args, "capabilities");
	GError *gerr = NULL;
	guint len = json_array_size(caps);

	/* Check every entry before changing anything, as QEMU's visitor does. */
	for (guint i = 0; i < len; i++) {
		json_t *o = json_array_get(caps, i);
		const char *name;
		json_t *m;

		if (!json_is_object(o)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'capabilities[%u]', expected: object",
				      i);
			return NULL;
		}
		json_object_foreach(o, name, m) {
			if (strcmp(name, "capability") && strcmp(name, "state")) {
				qmp_error_set(err, QMP_GENERIC_ERROR,
					      "Parameter 'capabilities[%u].%s' is unexpected",
					      i, name);
				return NULL;
			}
		}
		m = json_object_get(o, "capability");
		if (!m) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter 'capabilities[%u].capability' is missing", i);
			return NULL;
		}
		if (!json_is_string(m)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'capabilities[%u].capability', expected: string",
				      i);
			return NULL;
		}
		m = json_object_get(o, "state");
		if (!m) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter 'capabilities[%u].state' is missing", i);
			return NULL;
		}
		if (!json_is_boolean(m)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'capabilities[%u].state', expected: boolean",
				      i);
			return NULL;
		}
	}
	for (guint i = 0; i < len; i++) {
		json_t *o = json_array_get(caps, i);

		if (!control_migrate_set_capability(json_string_value(json_object_get(o, "capability")),
						    json_is_true(json_object_get(o, "state")),
						    &gerr)) {
			qmp_error_from_gerror(err, gerr);
			return NULL;
		}
	}
	return empty_return();
}

/*
 * The members of an object argument, checked the way QEMU's input visitor
 * checks them: in order, type first, then the members nobody asked for.
 * Types: s string, b boolean, i integer, u unsigned integer, o object
 * (@sub), S list of strings. @values: a string's allowed values (an enum).
 */
struct qmp_member {
	const char *name;
	char type;
	gboolean optional;
	const char *const *values;
	const struct qmp_schema *sub;
};

/* A flat union: the members of @variants[i] come with @tag == its value. */
struct qmp_variant {
	const char *value;
	const struct qmp_schema *schema;
};

struct qmp_schema {
	const struct qmp_member *members;
	const char *tag;
	const struct qmp_variant *variants;
};

static const struct qmp_member inet_members[] = {
	{ "host", 's' }, { "port", 's' },
	{ "numeric", 'b', TRUE }, { "to", 'u', TRUE }, { "ipv4", 'b', TRUE },
	{ "ipv6", 'b', TRUE }, { "keep-alive", 'b', TRUE }, { "mptcp", 'b', TRUE },
	{ NULL },
};
static const struct qmp_member unix_members[] = {
	{ "path", 's' }, { "abstract", 'b', TRUE }, { "tight", 'b', TRUE },
	{ NULL },
};
static const struct qmp_member vsock_members[] = {
	{ "cid", 's' }, { "port", 's' },
	{ NULL },
};
static const struct qmp_member fd_members[] = {
	{ "str", 's' },
	{ NULL },
};
static const char *const socket_types[] = { "inet", "unix", "vsock", "fd", NULL };
static const struct qmp_member socket_members[] = {
	{ "type", 's', FALSE, socket_types },
	{ NULL },
};
static const struct qmp_schema inet_schema = { inet_members };
static const struct qmp_schema unix_schema = { unix_members };
static const struct qmp_schema vsock_schema = { vsock_members };
static const struct qmp_schema fd_schema = { fd_members };
static const struct qmp_variant socket_variants[] = {
	{ "inet", &inet_schema }, { "unix", &unix_schema },
	{ "vsock", &vsock_schema }, { "fd", &fd_schema },
	{ NULL },
};
static const struct qmp_schema socket_schema = {
	socket_members, "type", socket_variants,
};
static const struct qmp_member exec_members[] = {
	{ "args", 'S' },
	{ NULL },
};
/* QEMU requires "offset"; relive-vm's file channels always start at 0. */
static const struct qmp_member file_members[] = {
	{ "filename", 's' }, { "offset", 'u', TRUE },
	{ NULL },
};
static const char *const transports[] = { "socket", "exec", "rdma", "file", NULL };
static const struct qmp_member address_members[] = {
	{ "transport", 's', FALSE, transports },
	{ NULL },
};
static const struct qmp_schema exec_schema = { exec_members };
static const struct qmp_schema file_schema = { file_members };
static const struct qmp_variant address_variants[] = {
	{ "socket", &socket_schema }, { "exec", &exec_schema },
	{ "rdma", &inet_schema }, { "file", &file_schema },
	{ NULL },
};
static const struct qmp_schema address_schema = {
	address_members, "transport", address_variants,
};
static const char *const channel_types[] = { "main", "cpr", NULL };
static const struct qmp_member channel_members[] = {
	{ "channel-type", 's', FALSE, channel_types },
	{ "addr", 'o', FALSE, NULL, &address_schema },
	{ NULL },
};
static const struct qmp_schema channel_schema = { channel_members };

static gboolean check_object(const char *path, json_t *o,
			     const struct qmp_schema *schema, struct qmp_error *err);

/* Return: the member's full name for messages, "channels[0].addr.path". */
static char *member_path(const char *path, const char *name)
{
	return *path ? g_strdup_printf("%s.%s", path, name) : g_strdup(name);
}

static gboolean check_member(const char *path, json_t *o,
			     const struct qmp_member *m, struct qmp_error *err)
{
	g_autofree char *full = member_path(path, m->name);
	json_t *n = json_object_get(o, m->name);
	size_t i;
	json_t *e;

	if (!n) {
		if (m->optional)
			return TRUE;
		qmp_error_set(err, QMP_GENERIC_ERROR, "Parameter '%s' is missing", full);
		return FALSE;
	}
	switch (m->type) {
	case 'o':
		if (!json_is_object(n))
			break;
		return check_object(full, n, m->sub, err);
	case 'S':
		if (!json_is_array(n))
			break;
		json_array_foreach(n, i, e) {
			if (!json_is_string(e)) {
				qmp_error_set(err, QMP_GENERIC_ERROR,
					      "Invalid parameter type for '%s[%u]', expected: string",
					      full, (guint)i);
				return FALSE;
			}
		}
		return TRUE;
	case 'u':
		if (!json_is_integer(n))
			break;
		if (json_integer_value(n) < 0) {
			qmp_error_set(err, QMP_GENERIC_ERROR, "Parameter '%s' expects uint64", full);
			return FALSE;
		}
		return TRUE;
	default:
		if (!type_ok(n, m->type))
			break;
		if (m->values && !g_strv_contains(m->values, json_string_value(n))) {
			/* QEMU names an enum by its own name here, not its path. */
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter '%s' does not accept value '%s'",
				      m->name, json_string_value(n));
			return FALSE;
		}
		return TRUE;
	}
	qmp_error_set(err, QMP_GENERIC_ERROR, "Invalid parameter type for '%s', expected: %s",
		      full, type_name(m->type));
	return FALSE;
}

/* Checks @schema's members of @o, a union's variant too; adds their names to @known. */
static gboolean check_members(const char *path, json_t *o,
			      const struct qmp_schema *schema, GPtrArray *known,
			      struct qmp_error *err)
{
	for (const struct qmp_member *m = schema->members; m->name; m++) {
		if (!check_member(path, o, m, err))
			return FALSE;
		g_ptr_array_add(known, (gpointer)m->name);
	}
	if (schema->tag) {
		/* checked above: a string, one of the values */
		const char *tag = json_string_value(json_object_get(o, schema->tag));

		for (const struct qmp_variant *v = schema->variants; v->value; v++)
			if (!strcmp(v->value, tag))
				return check_members(path, o, v->schema, known, err);
	}
	return TRUE;
}

static gboolean check_object(const char *path, json_t *o,
			     const struct qmp_schema *schema, struct qmp_error *err)
{
	g_autoptr(GPtrArray) known = g_ptr_array_new();
	const char *name;
	json_t *n;

	if (!check_members(path, o, schema, known, err))
		return FALSE;
	json_object_foreach(o, name, n) {
		if (!g_ptr_array_find_with_equal_func(known, name, g_str_equal, NULL)) {
			g_autofree char *full = member_path(path, name);

			qmp_error_set(err, QMP_GENERIC_ERROR, "Parameter '%s' is unexpected", full);
			return FALSE;
		}
	}
	return TRUE;
}

/* QEMU's MigrationChannel list: every entry checked before any is used. */
static gboolean check_channels(json_t *channels, struct qmp_error *err)
{
	size_t i;
	json_t *n;

	json_array_foreach(channels, i, n) {
		g_autofree char *path = g_strdup_printf("channels[%u]", (guint)i);

		if (!json_is_object(n)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for '%s', expected: object", path);
			return FALSE;
		}
		if (!check_object(path, n, &channel_schema, err))
			return FALSE;
	}
	return TRUE;
}

/* QEMU's rule for migrate and migrate-incoming: exactly one of uri and channels. */
static gboolean uri_or_channels(json_t *args, const char *cmd,
				const char **uri, json_t **channels,
				struct qmp_error *err)
{
	json_t *u = json_object_get(args, "uri");
	json_t *ch = json_object_get(args, "channels");
	gboolean has_uri = !!u, has_ch = !!ch;

	if (has_uri && has_ch) {
		qmp_error_set(err, QMP_GENERIC_ERROR,
			      "'uri' and 'channels' arguments are mutually exclusive; exactly one of the two should be present in '%s' qmp command",
			      cmd);
		return FALSE;
	}
	if (!has_uri && !has_ch) {
		qmp_error_set(err, QMP_GENERIC_ERROR,
			      "Either 'uri' or 'channels' argument should be present in '%s' qmp command",
			      cmd);
		return FALSE;
	}
	/* check_args() has seen a string and an array */
	*uri = has_uri ? json_string_value(u) : NULL;
	*channels = ch;
	return !*channels || check_channels(*channels, err);
}

static json_t *cmd_migrate(json_t *args, struct qmp_ctx *ctx,
			   struct qmp_error *err)
{
	const char *uri;
	json_t *channels;
	GError *gerr = NULL;

	if (!uri_or_channels(args, "migrate", &uri, &channels, err))
		return NULL;
	gboolean ok = control_migrate(uri, channels, &gerr);

	return gbool_return(ok, gerr, err);
}

static json_t *cmd_migrate_incoming(json_t *args, struct qmp_ctx *ctx,
				    struct qmp_error *err)
{
	const char *uri;
	json_t *channels;
	GError *gerr = NULL;

	if (!uri_or_channels(args, "migrate-incoming", &uri, &channels, err))
		return NULL;
	gboolean ok = control_migrate_incoming(uri, channels, &gerr);

	return gbool_return(ok, gerr, err);
}

static json_t *cmd_migrate_cancel(json_t *args, struct qmp_ctx *ctx,
				  struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_migrate_cancel(&gerr);

	return gbool_return(ok, gerr, err);
}

static json_t *cmd_stop(json_t *args, struct qmp_ctx *ctx,
			struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_stop(&gerr);

	return gbool_return(ok, gerr, err);
}

static json_t *cmd_cont(json_t *args, struct qmp_ctx *ctx,
			struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_cont(&gerr);

	return gbool_return(ok, gerr, err);
}

static json_t *cmd_quit(json_t *args, struct qmp_ctx *ctx,
			struct qmp_error *err)
{
	*ctx->quit = TRUE;
	return empty_return();
}

static const struct qmp_arg no_args[] = { { NULL } };

static const struct qmp_arg capabilities_args[] = {
	{ "enable", 'a', TRUE },
	{ NULL },
};

static const struct qmp_arg set_capabilities_args[] = {
	{ "capabilities", 'a', FALSE },
	{ NULL },
};

static const struct qmp_arg migrate_args[] = {
	{ "uri", 's', TRUE },
	{ "channels", 'a', TRUE },
	{ "detach", 'b', TRUE },
	{ "resume", 'b', TRUE },
	{ NULL },
};

static const struct qmp_arg migrate_incoming_args[] = {
	{ "uri", 's', TRUE },
	{ "channels", 'a', TRUE },
	{ "exit-on-error", 'b', TRUE },
	{ NULL },
};

static const struct qmp_cmd qmp_cmds[] = {
	{ "cont", cmd_cont, no_args },
	{ "migrate", cmd_migrate, migrate_args },
	{ "migrate-incoming", cmd_migrate_incoming, migrate_incoming_args },
	{ "migrate-set-capabilities", cmd_migrate_set_capabilities, set_capabilities_args },
	{ "migrate-set-parameters", cmd_migrate_set_parameters, NULL },
	{ "migrate_cancel", cmd_migrate_cancel, no_args },
	{ "migrate-cancel", cmd_migrate_cancel, no_args, TRUE },
	{ "qmp_capabilities", cmd_capabilities, capabilities_args },
	{ "query-commands", cmd_query_commands, no_args },
	{ "query-migrate", cmd_query_migrate, no_args },
	{ "query-migrate-capabilities", cmd_query_migrate_capabilities, no_args },
	{ "query-migrate-parameters", cmd_query_migrate_parameters, no_args },
	{ "query-status", cmd_query_status, no_args },
	{ "query-version", cmd_query_version, no_args },
	{ "quit", cmd_quit, no_args },
	{ "stop", cmd_stop, no_args },
	{ NULL },
};

static const struct qmp_cmd *qmp_find(const char *name)
{
	for (const struct qmp_cmd *c = qmp_cmds; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static const char *type_name(char type)
{
	switch (type) {
	case 's':
		return "string";
	case 'b':
		return "boolean";
	case 'i':
		return "integer";
	case 'u':
		return "uint64";
	case 'o':
		return "object";
	default:
		return "array";
	}
}

static gboolean type_ok(json_t *n, char type)
{
	switch (type) {
	case 's':
		return json_is_string(n);
	case 'b':
		return json_is_boolean(n);
	case 'i':
		return json_is_integer(n);
	case 'o':
		return json_is_object(n);
	default:
		return json_is_array(n);
	}
}

static gboolean check_args(const struct qmp_cmd *cmd, json_t *args,
			   struct qmp_error *err)
{
	const char *name;
	json_t *m;

	if (!cmd->args)
		return TRUE;
	json_object_foreach(args, name, m) {
		const struct qmp_arg *a;

		for (a = cmd->args; a->name; a++)
			if (!strcmp(a->name, name))
				break;
		if (!a->name) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter '%s' is unexpected", name);
			return FALSE;
		}
		if (!type_ok(m, a->type)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for '%s', expected: %s",
				      name, type_name(a->type));
			return FALSE;
		}
	}
	for (const struct qmp_arg *a = cmd->args; a->name; a++) {
		if (!a->optional && !json_object_get(args, a->name)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter '%s' is missing", a->name);
			return FALSE;
		}
	}
	return TRUE;
}

static char *error_reply(struct qmp_error *err, json_t *id)
{
	g_autoptr(json_t) root = json_object();
	json_t *e = json_object();

	json_object_set_str(e, "class", err->cls == QMP_COMMAND_NOT_FOUND ?
			    "CommandNotFound" : "GenericError");
	json_object_set_str(e, "desc", err->desc);
	json_object_set_new(root, "error", e);
	if (id)
		json_object_set(root, "id", id);
	g_free(err->desc);
	err->desc = NULL;
	return format_line(root);
}

char *qmp_error_line(const char *desc)
{
	struct qmp_error err = { QMP_GENERIC_ERROR, g_strdup(desc) };

	return error_reply(&err, NULL);
}

/* Takes @ret. */
static char *return_reply(json_t *ret, json_t *id)
{
	g_autoptr(json_t) root = json_object();

	json_object_set_new(root, "return", ret);
	if (id)
		json_object_set(root, "id", id);
	return format_line(root);
}

static gboolean blank(const char *s)
{
	for (; *s; s++)
		if (!g_ascii_isspace(*s))
			return FALSE;
	return TRUE;
}

char *qmp_dispatch_line(const char *line, gboolean *negotiated, gboolean *quit)
{
	struct qmp_error err = { 0 };
	struct qmp_ctx ctx = { negotiated, quit };
	g_autoptr(json_t) req = NULL;
	g_autoptr(json_t) empty = NULL;
	const struct qmp_cmd *cmd;
	json_t *args, *id, *exec, *m, *ret;
	const char *name, *cmdname;
	json_error_t jerr;

	*quit = FALSE;
	if (blank(line))
		return NULL;
	req = json_loads(line, MONITOR_JSON_DECODE, &jerr);
	if (!req) {
		qmp_error_set(&err, QMP_GENERIC_ERROR, "JSON parse error, %s",
			      jerr.text);
		return error_reply(&err, NULL);
	}
	if (!json_is_object(req)) {
		qmp_error_set(&err, QMP_GENERIC_ERROR, "QMP input must be a JSON object");
		return error_reply(&err, NULL);
	}
	id = json_object_get(req, "id");

	json_object_foreach(req, name, m) {
		if (strcmp(name, "execute") && strcmp(name, "exec-oob") &&
		    strcmp(name, "arguments") && strcmp(name, "id")) {
			qmp_error_set(&err, QMP_GENERIC_ERROR,
				      "QMP input member '%s' is unexpected", name);
			return error_reply(&err, id);
		}
	}
	exec = json_object_get(req, "execute");
	if (exec && json_object_get(req, "exec-oob")) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input must not have both 'execute' and 'exec-oob'");
		return error_reply(&err, id);
	}
	if (!exec)
		exec = json_object_get(req, "exec-oob");
	if (!exec) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input lacks member 'execute'");
		return error_reply(&err, id);
	}
	if (!json_is_string(exec)) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input member 'execute' must be a string");
		return error_reply(&err, id);
	}
	cmdname = json_string_value(exec);
	m = json_object_get(req, "arguments");
	if (m && !json_is_object(m)) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input member 'arguments' must be an object");
		return error_reply(&err, id);
	}
	if (m) {
		args = m;
	} else {
		empty = json_object();
		args = empty;
	}

	cmd = qmp_find(cmdname);
	if (!*negotiated && (!cmd || strcmp(cmd->name, "qmp_capabilities"))) {
		qmp_error_set(&err, QMP_COMMAND_NOT_FOUND,
			      "Expecting capabilities negotiation with 'qmp_capabilities'");
		return error_reply(&err, id);
	}
	if (!cmd) {
		qmp_error_set(&err, QMP_COMMAND_NOT_FOUND,
			      "The command %s has not been found", cmdname);
		return error_reply(&err, id);
	}
	if (*negotiated && !strcmp(cmd->name, "qmp_capabilities")) {
		qmp_error_set(&err, QMP_COMMAND_NOT_FOUND,
			      "Capabilities negotiation is already complete, command ignored");
		return error_reply(&err, id);
	}
	if (!check_args(cmd, args, &err))
		return error_reply(&err, id);
	ret = cmd->fn(args, &ctx, &err);
	if (!ret)
		return error_reply(&err, id);
	return return_reply(ret, id);
}

/* -------------------------------------------------------------- sockets */

static void qmp_open(ChardevConn *conn, void *opaque)
{
	g_autofree char *greeting = NULL;

	/* A client adopted across an exec already had its greeting. */
	if (chardev_conn_adopted(conn))
		return;
	greeting = qmp_greeting();
	chardev_conn_write(conn, greeting, strlen(greeting));
}

size_t qmp_next_value(const char *buf, size_t len, size_t *start,
		      gboolean *too_deep)
{
	gboolean in_str = FALSE, esc = FALSE;
	size_t i = 0, depth = 0;

	*too_deep = FALSE;
	while (i < len && g_ascii_isspace(buf[i]))
		i++;
	*start = i;
	if (i == len)
		return 0;
	if (buf[i] != '{' && buf[i] != '[') {
		const char *nl = memchr(buf + i, '\n', len - i);

		return nl ? (size_t)(nl - buf) + 1 : 0;
	}
	for (; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (esc)
				esc = FALSE;
			else if (c == '\\')
				esc = TRUE;
			else if (c == '"')
				in_str = FALSE;
		} else if (c == '"') {
			in_str = TRUE;
		} else if (c == '{' || c == '[') {
			if (++depth > QMP_MAX_NESTING) {
				*too_deep = TRUE;
				return i + 1;
			}
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

/* Skip state: bit 0 inside a string, bit 1 after a backslash, then the depth. */
#define SKIP_IN_STR 0x1u
#define SKIP_ESC 0x2u
#define SKIP_DEPTH_SHIFT 2
#define SKIP_DEPTH_MAX (QMP_CONN_SKIP_MAX >> SKIP_DEPTH_SHIFT)

uint32_t qmp_skip_start(void)
{
	return (uint32_t)(QMP_MAX_NESTING + 1) << SKIP_DEPTH_SHIFT;
}

size_t qmp_skip_value(const char *buf, size_t len, uint32_t *skip)
{
	gboolean in_str = !!(*skip & SKIP_IN_STR), esc = !!(*skip & SKIP_ESC);
	uint32_t depth = *skip >> SKIP_DEPTH_SHIFT;
	size_t i;

	if (!depth) {
		*skip = 0;
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (esc)
				esc = FALSE;
			else if (c == '\\')
				esc = TRUE;
			else if (c == '"')
				in_str = FALSE;
		} else if (c == '"') {
			in_str = TRUE;
		} else if (c == '{' || c == '[') {
			/* Deeper than the flags hold: the closers end the skip early. */
			if (depth < SKIP_DEPTH_MAX)
				depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			*skip = 0;
			return i + 1;
		}
	}
	*skip = depth << SKIP_DEPTH_SHIFT | (in_str ? SKIP_IN_STR : 0) |
		(esc ? SKIP_ESC : 0);
	return len;
}

static uint32_t conn_skip(ChardevConn *conn)
{
	return chardev_conn_flags(conn) >> QMP_CONN_SKIP_SHIFT;
}

static void conn_set_skip(ChardevConn *conn, uint32_t skip)
{
	uint32_t low = chardev_conn_flags(conn) & ((1u << QMP_CONN_SKIP_SHIFT) - 1);

	chardev_conn_set_flags(conn, low | skip << QMP_CONN_SKIP_SHIFT);
}

static void qmp_input(ChardevConn *conn, void *opaque)
{
	for (;;) {
		gboolean neg = !!(chardev_conn_flags(conn) & QMP_CONN_NEGOTIATED);
		gboolean quit = FALSE, too_deep;
		g_autofree char *reply = NULL;
		g_autofree char *msg = NULL;
		size_t len, start, end;
		const char *buf = chardev_conn_peek(conn, &len);

		if (conn_skip(conn)) {
			uint32_t skip = conn_skip(conn);

			chardev_conn_consume(conn, qmp_skip_value(buf, len, &skip));
			conn_set_skip(conn, skip);
			if (skip)
				return;
			continue;
		}
		end = qmp_next_value(buf, len, &start, &too_deep);
		if (!end) {
			/* Blanks alone are consumed; a partial message waits. */
			chardev_conn_consume(conn, start);
			return;
		}
		if (too_deep) {
			chardev_conn_consume(conn, end);
			conn_set_skip(conn, qmp_skip_start());
			reply = qmp_error_line("JSON nesting depth limit exceeded");
			chardev_conn_write(conn, reply, strlen(reply));
			continue;
		}
		msg = g_strndup(buf + start, end - start);
		chardev_conn_consume(conn, end);
		reply = qmp_dispatch_line(msg, &neg, &quit);
		chardev_conn_set_flags(conn, neg ? (chardev_conn_flags(conn) | QMP_CONN_NEGOTIATED) :
					     (chardev_conn_flags(conn) & ~QMP_CONN_NEGOTIATED));
		if (reply)
			chardev_conn_write(conn, reply, strlen(reply));
		if (quit) {
			control_quit();
			return;
		}
	}
}

static const struct chardev_ops qmp_ops = {
	.open = qmp_open,
	.input = qmp_input,
};

gboolean monitor_qmp_add(const char *spec, GError **errp)
{
	return monitor_chardev_add(&qmp_chardevs, "qmp", "-qmp", spec, &qmp_ops, errp);
}

static void event_to_conn(ChardevConn *conn, void *text)
{
	if (chardev_conn_flags(conn) & QMP_CONN_NEGOTIATED)
		chardev_conn_write(conn, text, strlen(text));
}

void monitor_event(const char *name, json_t *data)
{
	g_autoptr(json_t) root = json_object();
	json_t *ts = json_object();
	g_autofree char *text = NULL;
	gint64 now = g_get_real_time();

	json_object_set_new(ts, "seconds", json_integer(now / G_USEC_PER_SEC));
	json_object_set_new(ts, "microseconds", json_integer(now % G_USEC_PER_SEC));
	json_object_set_new(root, "timestamp", ts);
	json_object_set_str(root, "event", name);
	if (data)
		json_object_set_new(root, "data", data);
	text = format_line(root);
	for (guint i = 0; qmp_chardevs && i < qmp_chardevs->len; i++)
		chardev_foreach_conn(qmp_chardevs->pdata[i], event_to_conn, text);
}
