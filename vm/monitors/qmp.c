// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP: the greeting, the qmp_capabilities handshake, command dispatch with
 * QEMU's argument checking and error classes, QEMU-style JSON text, and
 * event broadcast to negotiated clients. Input is split into messages by
 * bracket depth, as QEMU's streamer splits it, then parsed with json-glib.
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

void qmp_format(JsonNode *node, GString *out)
{
	char dbuf[G_ASCII_DTOSTR_BUF_SIZE];

	if (!node) {
		g_string_append(out, "null");
		return;
	}
	switch (json_node_get_node_type(node)) {
	case JSON_NODE_OBJECT: {
		JsonObject *o = json_node_get_object(node);
		JsonObjectIter it;
		const char *name;
		JsonNode *m;
		gboolean first = TRUE;

		g_string_append_c(out, '{');
		json_object_iter_init_ordered(&it, o);
		while (json_object_iter_next_ordered(&it, &name, &m)) {
			if (!first)
				g_string_append(out, ", ");
			first = FALSE;
			format_string(name, out);
			g_string_append(out, ": ");
			qmp_format(m, out);
		}
		g_string_append_c(out, '}');
		break;
	}
	case JSON_NODE_ARRAY: {
		JsonArray *a = json_node_get_array(node);

		g_string_append_c(out, '[');
		for (guint i = 0; i < json_array_get_length(a); i++) {
			if (i)
				g_string_append(out, ", ");
			qmp_format(json_array_get_element(a, i), out);
		}
		g_string_append_c(out, ']');
		break;
	}
	case JSON_NODE_NULL:
		g_string_append(out, "null");
		break;
	case JSON_NODE_VALUE:
		switch (json_node_get_value_type(node)) {
		case G_TYPE_BOOLEAN:
			g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
			break;
		case G_TYPE_INT64:
			g_string_append_printf(out, "%" G_GINT64_FORMAT,
					       json_node_get_int(node));
			break;
		case G_TYPE_DOUBLE:
			g_string_append(out, g_ascii_dtostr(dbuf, sizeof(dbuf),
							    json_node_get_double(node)));
			break;
		case G_TYPE_STRING:
			format_string(json_node_get_string(node), out);
			break;
		default:
			g_string_append(out, "null");
		}
		break;
	}
}

static char *format_line(JsonNode *node)
{
	GString *s = g_string_new(NULL);

	qmp_format(node, s);
	g_string_append(s, "\r\n");
	return g_string_free(s, FALSE);
}

static JsonNode *version_node(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "qemu");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "micro");
	json_builder_add_int_value(b, MONITOR_QEMU_MICRO);
	json_builder_set_member_name(b, "minor");
	json_builder_add_int_value(b, MONITOR_QEMU_MINOR);
	json_builder_set_member_name(b, "major");
	json_builder_add_int_value(b, MONITOR_QEMU_MAJOR);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "package");
	json_builder_add_string_value(b, "relive-vm " RELIVE_VERSION);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

char *qmp_greeting(void)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "QMP");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "version");
	json_builder_add_value(b, version_node());
	json_builder_set_member_name(b, "capabilities");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "oob");
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
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

typedef JsonNode *(*qmp_handler)(JsonObject *args, struct qmp_ctx *ctx,
				 struct qmp_error *err);

struct qmp_cmd {
	const char *name;
	qmp_handler fn;
	const struct qmp_arg *args; /* NULL: any object, checked by the handler */
	gboolean hidden;	    /* an alias, not listed by query-commands */
};

static JsonNode *empty_return(void)
{
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);

	json_node_take_object(n, json_object_new());
	return n;
}

static JsonNode *gbool_return(gboolean ok, GError *gerr, struct qmp_error *err)
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
static gboolean type_ok(JsonNode *n, char type);

static JsonNode *cmd_capabilities(JsonObject *args, struct qmp_ctx *ctx,
				  struct qmp_error *err)
{
	if (json_object_has_member(args, "enable")) {
		JsonArray *en = json_object_get_array_member(args, "enable");

		for (guint i = 0; i < json_array_get_length(en); i++) {
			JsonNode *n = json_array_get_element(en, i);

			if (!JSON_NODE_HOLDS_VALUE(n) ||
			    json_node_get_value_type(n) != G_TYPE_STRING) {
				qmp_error_set(err, QMP_GENERIC_ERROR,
					      "Invalid parameter type for 'enable[%u]', expected: string",
					      i);
				return NULL;
			}
			if (strcmp(json_node_get_string(n), "oob")) {
				qmp_error_set(err, QMP_GENERIC_ERROR,
					      "Parameter 'enable[%u]' does not accept value '%s'",
					      i, json_node_get_string(n));
				return NULL;
			}
		}
	}
	*ctx->negotiated = TRUE;
	return empty_return();
}

static JsonNode *cmd_query_status(JsonObject *args, struct qmp_ctx *ctx,
				  struct qmp_error *err)
{
	JsonObject *o = json_object_new();
	JsonNode *n = json_node_new(JSON_NODE_OBJECT);

	json_object_set_boolean_member(o, "running", control_running());
	json_object_set_string_member(o, "status", control_runstate());
	json_node_take_object(n, o);
	return n;
}

static JsonNode *cmd_query_version(JsonObject *args, struct qmp_ctx *ctx,
				   struct qmp_error *err)
{
	return version_node();
}

static JsonNode *cmd_query_commands(JsonObject *args, struct qmp_ctx *ctx,
				    struct qmp_error *err)
{
	JsonArray *a = json_array_new();
	JsonNode *n = json_node_new(JSON_NODE_ARRAY);

	for (const struct qmp_cmd *c = qmp_cmds; c->name; c++) {
		JsonObject *o;

		if (c->hidden)
			continue;
		o = json_object_new();
		json_object_set_string_member(o, "name", c->name);
		json_array_add_object_element(a, o);
	}
	json_node_take_array(n, a);
	return n;
}

static JsonNode *query_or_empty(JsonNode *n)
{
	return n ? n : empty_return();
}

static JsonNode *cmd_query_migrate(JsonObject *args, struct qmp_ctx *ctx,
				   struct qmp_error *err)
{
	return query_or_empty(control_query_migrate());
}

static JsonNode *cmd_query_migrate_parameters(JsonObject *args, struct qmp_ctx *ctx,
					      struct qmp_error *err)
{
	return query_or_empty(control_query_migrate_parameters());
}

static JsonNode *cmd_query_migrate_capabilities(JsonObject *args, struct qmp_ctx *ctx,
						struct qmp_error *err)
{
	JsonNode *n = control_query_migrate_capabilities();

	if (!n) {
		n = json_node_new(JSON_NODE_ARRAY);
		json_node_take_array(n, json_array_new());
	}
	return n;
}

static JsonNode *cmd_migrate_set_parameters(JsonObject *args, struct qmp_ctx *ctx,
					    struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_migrate_set_parameters(args, &gerr);

	return gbool_return(ok, gerr, err);
}

static JsonNode *cmd_migrate_set_capabilities(JsonObject *args, struct qmp_ctx *ctx,
					      struct qmp_error *err)
{
	JsonArray *caps = json_object_get_array_member(args, "capabilities");
	GError *gerr = NULL;
	guint len = json_array_get_length(caps);

	/* Check every entry before changing anything, as QEMU's visitor does. */
	for (guint i = 0; i < len; i++) {
		JsonNode *n = json_array_get_element(caps, i);
		JsonObject *o;
		JsonObjectIter it;
		const char *name;
		JsonNode *m;

		if (!JSON_NODE_HOLDS_OBJECT(n)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'capabilities[%u]', expected: object",
				      i);
			return NULL;
		}
		o = json_node_get_object(n);
		json_object_iter_init(&it, o);
		while (json_object_iter_next(&it, &name, &m)) {
			if (strcmp(name, "capability") && strcmp(name, "state")) {
				qmp_error_set(err, QMP_GENERIC_ERROR,
					      "Parameter 'capabilities[%u].%s' is unexpected",
					      i, name);
				return NULL;
			}
		}
		m = json_object_get_member(o, "capability");
		if (!m) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter 'capabilities[%u].capability' is missing", i);
			return NULL;
		}
		if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_STRING) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'capabilities[%u].capability', expected: string",
				      i);
			return NULL;
		}
		m = json_object_get_member(o, "state");
		if (!m) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter 'capabilities[%u].state' is missing", i);
			return NULL;
		}
		if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_BOOLEAN) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for 'capabilities[%u].state', expected: boolean",
				      i);
			return NULL;
		}
	}
	for (guint i = 0; i < len; i++) {
		JsonObject *o = json_array_get_object_element(caps, i);

		if (!control_migrate_set_capability(json_object_get_string_member(o, "capability"),
						    json_object_get_boolean_member(o, "state"),
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

static gboolean check_object(const char *path, JsonObject *o,
			     const struct qmp_schema *schema, struct qmp_error *err);

/* Return: the member's full name for messages, "channels[0].addr.path". */
static char *member_path(const char *path, const char *name)
{
	return *path ? g_strdup_printf("%s.%s", path, name) : g_strdup(name);
}

static gboolean check_member(const char *path, JsonObject *o,
			     const struct qmp_member *m, struct qmp_error *err)
{
	g_autofree char *full = member_path(path, m->name);
	JsonNode *n = json_object_get_member(o, m->name);

	if (!n) {
		if (m->optional)
			return TRUE;
		qmp_error_set(err, QMP_GENERIC_ERROR, "Parameter '%s' is missing", full);
		return FALSE;
	}
	switch (m->type) {
	case 'o':
		if (!JSON_NODE_HOLDS_OBJECT(n))
			break;
		return check_object(full, json_node_get_object(n), m->sub, err);
	case 'S':
		if (!JSON_NODE_HOLDS_ARRAY(n))
			break;
		for (guint i = 0; i < json_array_get_length(json_node_get_array(n)); i++) {
			JsonNode *e = json_array_get_element(json_node_get_array(n), i);

			if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
				qmp_error_set(err, QMP_GENERIC_ERROR,
					      "Invalid parameter type for '%s[%u]', expected: string",
					      full, i);
				return FALSE;
			}
		}
		return TRUE;
	case 'u':
		if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
			break;
		if (json_node_get_int(n) < 0) {
			qmp_error_set(err, QMP_GENERIC_ERROR, "Parameter '%s' expects uint64", full);
			return FALSE;
		}
		return TRUE;
	default:
		if (!type_ok(n, m->type))
			break;
		if (m->values && !g_strv_contains(m->values, json_node_get_string(n))) {
			/* QEMU names an enum by its own name here, not its path. */
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter '%s' does not accept value '%s'",
				      m->name, json_node_get_string(n));
			return FALSE;
		}
		return TRUE;
	}
	qmp_error_set(err, QMP_GENERIC_ERROR, "Invalid parameter type for '%s', expected: %s",
		      full, type_name(m->type));
	return FALSE;
}

/* Checks @schema's members of @o, a union's variant too; adds their names to @known. */
static gboolean check_members(const char *path, JsonObject *o,
			      const struct qmp_schema *schema, GPtrArray *known,
			      struct qmp_error *err)
{
	for (const struct qmp_member *m = schema->members; m->name; m++) {
		if (!check_member(path, o, m, err))
			return FALSE;
		g_ptr_array_add(known, (gpointer)m->name);
	}
	if (schema->tag) {
		const char *tag = json_object_get_string_member(o, schema->tag);

		for (const struct qmp_variant *v = schema->variants; v->value; v++)
			if (!strcmp(v->value, tag))
				return check_members(path, o, v->schema, known, err);
	}
	return TRUE;
}

static gboolean check_object(const char *path, JsonObject *o,
			     const struct qmp_schema *schema, struct qmp_error *err)
{
	g_autoptr(GPtrArray) known = g_ptr_array_new();
	JsonObjectIter it;
	const char *name;
	JsonNode *n;

	if (!check_members(path, o, schema, known, err))
		return FALSE;
	json_object_iter_init_ordered(&it, o);
	while (json_object_iter_next_ordered(&it, &name, &n)) {
		if (!g_ptr_array_find_with_equal_func(known, name, g_str_equal, NULL)) {
			g_autofree char *full = member_path(path, name);

			qmp_error_set(err, QMP_GENERIC_ERROR, "Parameter '%s' is unexpected", full);
			return FALSE;
		}
	}
	return TRUE;
}

/* QEMU's MigrationChannel list: every entry checked before any is used. */
static gboolean check_channels(JsonArray *channels, struct qmp_error *err)
{
	for (guint i = 0; i < json_array_get_length(channels); i++) {
		JsonNode *n = json_array_get_element(channels, i);
		g_autofree char *path = g_strdup_printf("channels[%u]", i);

		if (!JSON_NODE_HOLDS_OBJECT(n)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Invalid parameter type for '%s', expected: object", path);
			return FALSE;
		}
		if (!check_object(path, json_node_get_object(n), &channel_schema, err))
			return FALSE;
	}
	return TRUE;
}

/* QEMU's rule for migrate and migrate-incoming: exactly one of uri and channels. */
static gboolean uri_or_channels(JsonObject *args, const char *cmd,
				const char **uri, JsonArray **channels,
				struct qmp_error *err)
{
	gboolean has_uri = json_object_has_member(args, "uri");
	gboolean has_ch = json_object_has_member(args, "channels");

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
	*uri = has_uri ? json_object_get_string_member(args, "uri") : NULL;
	*channels = has_ch ? json_object_get_array_member(args, "channels") : NULL;
	return !*channels || check_channels(*channels, err);
}

static JsonNode *cmd_migrate(JsonObject *args, struct qmp_ctx *ctx,
			     struct qmp_error *err)
{
	const char *uri;
	JsonArray *channels;
	GError *gerr = NULL;

	if (!uri_or_channels(args, "migrate", &uri, &channels, err))
		return NULL;
	gboolean ok = control_migrate(uri, channels, &gerr);

	return gbool_return(ok, gerr, err);
}

static JsonNode *cmd_migrate_incoming(JsonObject *args, struct qmp_ctx *ctx,
				      struct qmp_error *err)
{
	const char *uri;
	JsonArray *channels;
	GError *gerr = NULL;

	if (!uri_or_channels(args, "migrate-incoming", &uri, &channels, err))
		return NULL;
	gboolean ok = control_migrate_incoming(uri, channels, &gerr);

	return gbool_return(ok, gerr, err);
}

static JsonNode *cmd_migrate_cancel(JsonObject *args, struct qmp_ctx *ctx,
				    struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_migrate_cancel(&gerr);

	return gbool_return(ok, gerr, err);
}

static JsonNode *cmd_stop(JsonObject *args, struct qmp_ctx *ctx,
			  struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_stop(&gerr);

	return gbool_return(ok, gerr, err);
}

static JsonNode *cmd_cont(JsonObject *args, struct qmp_ctx *ctx,
			  struct qmp_error *err)
{
	GError *gerr = NULL;

	gboolean ok = control_cont(&gerr);

	return gbool_return(ok, gerr, err);
}

static JsonNode *cmd_quit(JsonObject *args, struct qmp_ctx *ctx,
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

static gboolean type_ok(JsonNode *n, char type)
{
	switch (type) {
	case 's':
		return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
	case 'b':
		return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
	case 'i':
		return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64;
	case 'o':
		return JSON_NODE_HOLDS_OBJECT(n);
	default:
		return JSON_NODE_HOLDS_ARRAY(n);
	}
}

static gboolean check_args(const struct qmp_cmd *cmd, JsonObject *args,
			   struct qmp_error *err)
{
	JsonObjectIter it;
	const char *name;
	JsonNode *m;

	if (!cmd->args)
		return TRUE;
	json_object_iter_init_ordered(&it, args);
	while (json_object_iter_next_ordered(&it, &name, &m)) {
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
		if (!a->optional && !json_object_has_member(args, a->name)) {
			qmp_error_set(err, QMP_GENERIC_ERROR,
				      "Parameter '%s' is missing", a->name);
			return FALSE;
		}
	}
	return TRUE;
}

static char *error_reply(struct qmp_error *err, JsonNode *id)
{
	JsonObject *o = json_object_new();
	JsonObject *e = json_object_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);

	json_object_set_string_member(e, "class",
				      err->cls == QMP_COMMAND_NOT_FOUND ?
				      "CommandNotFound" : "GenericError");
	json_object_set_string_member(e, "desc", err->desc);
	json_object_set_object_member(o, "error", e);
	if (id)
		json_object_set_member(o, "id", json_node_copy(id));
	json_node_take_object(root, o);
	g_free(err->desc);
	err->desc = NULL;
	return format_line(root);
}

char *qmp_error_line(const char *desc)
{
	struct qmp_error err = { QMP_GENERIC_ERROR, g_strdup(desc) };

	return error_reply(&err, NULL);
}

static char *return_reply(JsonNode *ret, JsonNode *id)
{
	JsonObject *o = json_object_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);

	json_object_set_member(o, "return", ret);
	if (id)
		json_object_set_member(o, "id", json_node_copy(id));
	json_node_take_object(root, o);
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
	g_autoptr(JsonParser) parser = NULL;
	struct qmp_error err = { 0 };
	struct qmp_ctx ctx = { negotiated, quit };
	g_autoptr(JsonObject) empty = NULL;
	const struct qmp_cmd *cmd;
	JsonObject *req, *args;
	JsonObjectIter it;
	JsonNode *root, *id, *exec, *m, *ret;
	const char *name, *cmdname;
	GError *gerr = NULL;

	*quit = FALSE;
	if (blank(line))
		return NULL;
	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, line, -1, &gerr)) {
		qmp_error_set(&err, QMP_GENERIC_ERROR, "JSON parse error, %s",
			      gerr->message);
		g_error_free(gerr);
		return error_reply(&err, NULL);
	}
	root = json_parser_get_root(parser);
	if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
		qmp_error_set(&err, QMP_GENERIC_ERROR, "QMP input must be a JSON object");
		return error_reply(&err, NULL);
	}
	req = json_node_get_object(root);
	id = json_object_get_member(req, "id");

	json_object_iter_init_ordered(&it, req);
	while (json_object_iter_next_ordered(&it, &name, &m)) {
		if (strcmp(name, "execute") && strcmp(name, "exec-oob") &&
		    strcmp(name, "arguments") && strcmp(name, "id")) {
			qmp_error_set(&err, QMP_GENERIC_ERROR,
				      "QMP input member '%s' is unexpected", name);
			return error_reply(&err, id);
		}
	}
	exec = json_object_get_member(req, "execute");
	if (exec && json_object_has_member(req, "exec-oob")) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input must not have both 'execute' and 'exec-oob'");
		return error_reply(&err, id);
	}
	if (!exec)
		exec = json_object_get_member(req, "exec-oob");
	if (!exec) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input lacks member 'execute'");
		return error_reply(&err, id);
	}
	if (!JSON_NODE_HOLDS_VALUE(exec) || json_node_get_value_type(exec) != G_TYPE_STRING) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input member 'execute' must be a string");
		return error_reply(&err, id);
	}
	cmdname = json_node_get_string(exec);
	m = json_object_get_member(req, "arguments");
	if (m && !JSON_NODE_HOLDS_OBJECT(m)) {
		qmp_error_set(&err, QMP_GENERIC_ERROR,
			      "QMP input member 'arguments' must be an object");
		return error_reply(&err, id);
	}
	if (m) {
		args = json_node_get_object(m);
	} else {
		empty = json_object_new();
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

void monitor_event(const char *name, JsonObject *data)
{
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
	JsonObject *o = json_object_new();
	JsonObject *ts = json_object_new();
	g_autofree char *text = NULL;
	gint64 now = g_get_real_time();

	json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
	json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
	json_object_set_object_member(o, "timestamp", ts);
	json_object_set_string_member(o, "event", name);
	if (data)
		json_object_set_object_member(o, "data", data);
	json_node_take_object(root, o);
	text = format_line(root);
	for (guint i = 0; qmp_chardevs && i < qmp_chardevs->len; i++)
		chardev_foreach_conn(qmp_chardevs->pdata[i], event_to_conn, text);
}
