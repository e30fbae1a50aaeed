// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * HMP: the human monitor. Parses QEMU's command lines (the migration subset,
 * run control, info), prints QEMU's text and "Error: ..." messages, and keeps
 * QEMU's "(qemu) " prompt so existing scripts work unchanged.
 */
#include <string.h>

#include "monitors/control.h"
#include "monitors/monitor.h"
#include "monitors/monitor-int.h"

GPtrArray *hmp_chardevs;

const char *hmp_banner(void)
{
	return "QEMU " G_STRINGIFY(MONITOR_QEMU_MAJOR) "." G_STRINGIFY(MONITOR_QEMU_MINOR)
	       "." G_STRINGIFY(MONITOR_QEMU_MICRO) " compatible relive-vm " RELIVE_VERSION
	       " monitor - type 'help' for more information\r\n";
}

/* QEMU's monitor turns every "\n" into "\r\n". */
static void out_printf(GString *out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void out_printf(GString *out, const char *fmt, ...)
{
	g_autofree char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	for (const char *p = s; *p; p++) {
		if (*p == '\n')
			g_string_append_c(out, '\r');
		g_string_append_c(out, *p);
	}
}

static void out_error(GString *out, GError *err)
{
	out_printf(out, "Error: %s\n", err ? err->message : "unknown error");
	g_clear_error(&err);
}

/* ------------------------------------------------------------ JSON as text */

static void scalar_text(json_t *n, GString *s)
{
	size_t i;
	json_t *e;

	switch (n ? json_typeof(n) : JSON_NULL) {
	case JSON_ARRAY:
		/* cpr-exec-command and other lists print as words. */
		json_array_foreach(n, i, e) {
			if (i)
				g_string_append_c(s, ' ');
			scalar_text(e, s);
		}
		break;
	case JSON_OBJECT:
		qmp_format(n, s);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		g_string_append(s, json_is_true(n) ? "on" : "off");
		break;
	case JSON_INTEGER:
		g_string_append_printf(s, "%" G_GINT64_FORMAT, (gint64)json_integer_value(n));
		break;
	case JSON_REAL:
		g_string_append_printf(s, "%g", json_real_value(n));
		break;
	case JSON_STRING:
		g_string_append(s, json_string_value(n));
		break;
	default:
		break;
	}
}

static void print_member(GString *out, const char *indent, const char *name,
			 json_t *n)
{
	g_autoptr(GString) v = g_string_new(NULL);

	scalar_text(n, v);
	out_printf(out, "%s%s: %s\n", indent, name, v->str);
}

static gboolean array_of_objects(json_t *a)
{
	size_t i;
	json_t *e;

	if (!json_array_size(a))
		return FALSE;
	json_array_foreach(a, i, e)
		if (!json_is_object(e))
			return FALSE;
	return TRUE;
}

/* "  a=1, b=x" */
static void print_record(GString *out, const char *indent, json_t *o)
{
	g_autoptr(GString) line = g_string_new(NULL);
	const char *name;
	json_t *m;

	json_object_foreach(o, name, m) {
		g_string_append_printf(line, "%s%s=", line->len ? ", " : "", name);
		scalar_text(m, line);
	}
	out_printf(out, "%s  %s\n", indent, line->str);
}

/* Members of @o other than @skip, nested objects as indented sections. */
static void print_object(GString *out, const char *indent, json_t *o,
			 const char *const *skip)
{
	const char *name;
	json_t *m;

	json_object_foreach(o, name, m) {
		if (skip && g_strv_contains(skip, name))
			continue;
		if (json_is_object(m)) {
			g_autofree char *deeper = g_strconcat(indent, "  ", NULL);

			out_printf(out, "%s%s:\n", indent, name);
			print_object(out, deeper, m, NULL);
		} else if (array_of_objects(m)) {
			size_t i;
			json_t *e;

			/* A list of records (devices): one line each. */
			out_printf(out, "%s%s:\n", indent, name);
			json_array_foreach(m, i, e)
				print_record(out, indent, e);
		} else {
			print_member(out, indent, name, m);
		}
	}
}

static gboolean obj_int(json_t *o, const char *name, gint64 *v)
{
	json_t *n = json_object_get(o, name);

	if (!json_is_integer(n))
		return FALSE;
	*v = json_integer_value(n);
	return TRUE;
}

static void info_migrate(GString *out)
{
	static const char *const known[] = {
		"status", "error-desc", "total-time", "setup-time", "downtime",
		"expected-downtime", NULL
	};
	g_autoptr(json_t) o = control_query_migrate();
	g_autoptr(GString) t = g_string_new(NULL);
	gint64 v;

	if (!json_is_object(o))
		return;
	if (json_object_get(o, "status"))
		print_member(out, "", "Status", json_object_get(o, "status"));
	if (json_object_get(o, "error-desc"))
		print_member(out, "", "Error", json_object_get(o, "error-desc"));
	if (obj_int(o, "total-time", &v))
		g_string_append_printf(t, "total=%" G_GINT64_FORMAT, v);
	if (obj_int(o, "setup-time", &v))
		g_string_append_printf(t, "%ssetup=%" G_GINT64_FORMAT, t->len ? ", " : "", v);
	if (obj_int(o, "downtime", &v))
		g_string_append_printf(t, "%sdown=%" G_GINT64_FORMAT, t->len ? ", " : "", v);
	if (obj_int(o, "expected-downtime", &v))
		g_string_append_printf(t, "%sexp_down=%" G_GINT64_FORMAT, t->len ? ", " : "", v);
	if (t->len)
		out_printf(out, "Time (ms): %s\n", t->str);
	/* Everything else, the pause breakdown included, as name: value lines. */
	print_object(out, "", o, known);
}

static void info_migrate_parameters(GString *out)
{
	g_autoptr(json_t) o = control_query_migrate_parameters();

	if (json_is_object(o))
		print_object(out, "", o, NULL);
}

static void info_migrate_capabilities(GString *out)
{
	g_autoptr(json_t) a = control_query_migrate_capabilities();
	size_t i;
	json_t *o;

	/* not an array: no elements */
	json_array_foreach(a, i, o) {
		if (!json_is_object(o))
			continue;
		out_printf(out, "%s: %s\n",
			   json_object_string_or(o, "capability", "?"),
			   json_object_bool_or(o, "state", FALSE) ? "on" : "off");
	}
}

static void info_status(GString *out)
{
	const char *st = control_runstate();

	if (control_running())
		out_printf(out, "VM status: running\n");
	else if (!strcmp(st, "paused"))
		out_printf(out, "VM status: paused\n");
	else
		out_printf(out, "VM status: paused (%s)\n", st);
}

/* ---------------------------------------------------------------- commands */

struct hmp_cmd;
typedef gboolean (*hmp_handler)(const struct hmp_cmd *cmd, char **argv,
				const char *rest, GString *out);

struct hmp_cmd {
	const char *name;   /* "q|quit": aliases separated by '|' */
	const char *params;
	const char *help;
	hmp_handler fn;
	int min_args;
	int max_args;	    /* -1: the rest of the line is one argument */
};

static const struct hmp_cmd hmp_cmds[];
static const struct hmp_cmd hmp_info_cmds[];

static gboolean name_matches(const char *names, const char *word)
{
	g_auto(GStrv) alts = g_strsplit(names, "|", -1);

	return g_strv_contains((const char *const *)alts, word);
}

static const struct hmp_cmd *find_cmd(const struct hmp_cmd *table, const char *word)
{
	for (const struct hmp_cmd *c = table; c->name; c++)
		if (name_matches(c->name, word))
			return c;
	return NULL;
}

static void help_table(GString *out, const char *prefix, const struct hmp_cmd *table,
		       const char *only)
{
	for (const struct hmp_cmd *c = table; c->name; c++) {
		if (only && !name_matches(c->name, only))
			continue;
		out_printf(out, "%s%s %s -- %s\n", prefix, c->name, c->params, c->help);
	}
}

static gboolean do_help(const struct hmp_cmd *cmd, char **argv, const char *rest,
			GString *out)
{
	if (argv[1] && !strcmp(argv[1], "info"))
		help_table(out, "info ", hmp_info_cmds, argv[2]);
	else if (argv[1] && !find_cmd(hmp_cmds, argv[1]))
		out_printf(out, "unknown command: '%s'\n", argv[1]);
	else
		help_table(out, "", hmp_cmds, argv[1]);
	return FALSE;
}

static gboolean do_info(const struct hmp_cmd *cmd, char **argv, const char *rest,
			GString *out)
{
	const struct hmp_cmd *sub;

	if (!argv[1]) {
		help_table(out, "info ", hmp_info_cmds, NULL);
		return FALSE;
	}
	sub = find_cmd(hmp_info_cmds, argv[1]);
	if (!sub) {
		out_printf(out, "unknown command: 'info %s'\n", argv[1]);
		return FALSE;
	}
	return sub->fn(sub, argv + 1, NULL, out);
}

static gboolean do_info_status(const struct hmp_cmd *cmd, char **argv,
			       const char *rest, GString *out)
{
	info_status(out);
	return FALSE;
}

static gboolean do_info_migrate(const struct hmp_cmd *cmd, char **argv,
				const char *rest, GString *out)
{
	info_migrate(out);
	return FALSE;
}

static gboolean do_info_migrate_parameters(const struct hmp_cmd *cmd, char **argv,
					   const char *rest, GString *out)
{
	info_migrate_parameters(out);
	return FALSE;
}

static gboolean do_info_migrate_capabilities(const struct hmp_cmd *cmd, char **argv,
					     const char *rest, GString *out)
{
	info_migrate_capabilities(out);
	return FALSE;
}

static gboolean do_stop(const struct hmp_cmd *cmd, char **argv, const char *rest,
			GString *out)
{
	GError *err = NULL;

	if (!control_stop(&err))
		out_error(out, err);
	return FALSE;
}

static gboolean do_cont(const struct hmp_cmd *cmd, char **argv, const char *rest,
			GString *out)
{
	GError *err = NULL;

	if (!control_cont(&err))
		out_error(out, err);
	return FALSE;
}

static gboolean do_quit(const struct hmp_cmd *cmd, char **argv, const char *rest,
			GString *out)
{
	return TRUE;
}

static gboolean do_migrate(const struct hmp_cmd *cmd, char **argv, const char *rest,
			   GString *out)
{
	GError *err = NULL;
	const char *uri = NULL;

	/* -d (detach) is what we always do; -r (resume) is accepted as QEMU's. */
	for (int i = 1; argv[i]; i++) {
		if (!strcmp(argv[i], "-d") || !strcmp(argv[i], "-r"))
			continue;
		if (argv[i][0] == '-' && !uri) {
			out_printf(out, "migrate: unsupported option '%s'\n", argv[i]);
			return FALSE;
		}
		if (uri) {
			out_printf(out, "migrate: extraneous characters at the end of line\n");
			return FALSE;
		}
		uri = argv[i];
	}
	if (!uri) {
		out_printf(out, "migrate: Parameter 'uri' is missing\n");
		return FALSE;
	}
	if (!control_migrate(uri, NULL, &err))
		out_error(out, err);
	return FALSE;
}

static gboolean do_migrate_incoming(const struct hmp_cmd *cmd, char **argv,
				    const char *rest, GString *out)
{
	GError *err = NULL;

	if (!control_migrate_incoming(argv[1], NULL, &err))
		out_error(out, err);
	return FALSE;
}

static gboolean do_migrate_cancel(const struct hmp_cmd *cmd, char **argv,
				  const char *rest, GString *out)
{
	GError *err = NULL;

	if (!control_migrate_cancel(&err))
		out_error(out, err);
	return FALSE;
}

static gboolean do_migrate_set_capability(const struct hmp_cmd *cmd, char **argv,
					  const char *rest, GString *out)
{
	GError *err = NULL;
	gboolean on;

	if (!strcmp(argv[2], "on")) {
		on = TRUE;
	} else if (!strcmp(argv[2], "off")) {
		on = FALSE;
	} else {
		out_printf(out, "migrate_set_capability: Expected 'on' or 'off'\n");
		return FALSE;
	}
	if (!control_migrate_set_capability(argv[1], on, &err))
		out_error(out, err);
	return FALSE;
}

static gboolean is_command_param(const char *name)
{
	return !strcmp(name, "cpr-exec-command");
}

static gboolean do_migrate_set_parameter(const struct hmp_cmd *cmd, char **argv,
					 const char *rest, GString *out)
{
	g_autofree char *name = NULL;
	const char *value;
	GError *err = NULL;
	const char *p = rest;

	/* rest = "NAME VALUE...": the value is everything after the name. */
	while (*p && !g_ascii_isspace(*p))
		p++;
	name = g_strndup(rest, p - rest);
	while (g_ascii_isspace(*p))
		p++;
	value = p;
	if (!*value) {
		out_printf(out, "migrate_set_parameter: Parameter 'value' is missing\n");
		return FALSE;
	}
	if (is_command_param(name)) {
		g_autoptr(json_t) args = json_object();
		json_t *words;
		g_auto(GStrv) argvv = NULL;

		/* A command line: split into words as a shell would. */
		if (!g_shell_parse_argv(value, NULL, &argvv, &err)) {
			g_prefix_error(&err, "%s: ", name);
			out_error(out, err);
			return FALSE;
		}
		words = json_array();
		for (int i = 0; argvv[i]; i++)
			json_array_append_new(words, json_string_nocheck(argvv[i]));
		json_object_set_new_nocheck(args, name, words);
		if (!control_migrate_set_parameters(args, &err))
			out_error(out, err);
		return FALSE;
	}
	if (!control_migrate_set_parameter(name, value, &err))
		out_error(out, err);
	return FALSE;
}

static const struct hmp_cmd hmp_cmds[] = {
	{ "cont|c", "", "resume emulation", do_cont, 0, 0 },
	{ "help|?", "[cmd]", "show the help", do_help, 0, 2 },
	{ "info", "[subcommand]", "show various information about the system state",
	  do_info, 0, 1 },
	{ "migrate", "[-d] [-r] uri",
	  "migrate to URI (using -d to not wait for completion)", do_migrate, 1, 3 },
	{ "migrate_cancel", "", "cancel the current VM migration", do_migrate_cancel, 0, 0 },
	{ "migrate_incoming", "uri",
	  "Continue an incoming migration from an -incoming defer", do_migrate_incoming, 1, 1 },
	{ "migrate_set_capability", "capability state",
	  "Enable/Disable the usage of a capability for migration",
	  do_migrate_set_capability, 2, 2 },
	{ "migrate_set_parameter", "parameter value",
	  "Set the parameter for migration (cpr-exec-command takes the rest of the line as a command)",
	  do_migrate_set_parameter, 2, -1 },
	{ "quit|q", "", "quit the emulator", do_quit, 0, 0 },
	{ "stop|s", "", "stop emulation", do_stop, 0, 0 },
	{ NULL },
};

static const struct hmp_cmd hmp_info_cmds[] = {
	{ "migrate", "", "show migration status", do_info_migrate, 0, 0 },
	{ "migrate_capabilities", "", "show current migration capabilities",
	  do_info_migrate_capabilities, 0, 0 },
	{ "migrate_parameters", "", "show current migration parameters",
	  do_info_migrate_parameters, 0, 0 },
	{ "status", "", "show the current VM status (running|paused)", do_info_status, 0, 0 },
	{ NULL },
};

static const char *first_name(const char *names, char *buf, size_t len)
{
	const char *bar = strchr(names, '|');
	size_t n = bar ? (size_t)(bar - names) : strlen(names);

	g_strlcpy(buf, names, MIN(len, n + 1));
	return buf;
}

gboolean hmp_dispatch_line(const char *line, GString *out)
{
	g_autofree char *copy = g_strdup(line);
	g_auto(GStrv) argv = NULL;
	const struct hmp_cmd *cmd;
	const char *rest;
	char name[64];
	int argc;

	argv = g_strsplit_set(g_strstrip(copy), " \t", -1);
	/* Collapse runs of blanks: g_strsplit_set leaves empty words. */
	argc = 0;
	for (int i = 0; argv[i]; i++) {
		if (argv[i][0])
			argv[argc++] = argv[i];
		else
			g_free(argv[i]);
	}
	argv[argc] = NULL;
	if (!argc)
		return FALSE;
	cmd = find_cmd(hmp_cmds, argv[0]);
	if (!cmd) {
		out_printf(out, "unknown command: '%s'\n", argv[0]);
		return FALSE;
	}
	first_name(cmd->name, name, sizeof(name));
	if (argc - 1 < cmd->min_args) {
		out_printf(out, "%s: missing argument (usage: %s %s)\n", name, name,
			   cmd->params);
		return FALSE;
	}
	if (cmd->max_args >= 0 && argc - 1 > cmd->max_args) {
		out_printf(out, "%s: extraneous characters at the end of line\n", name);
		return FALSE;
	}
	/* The text after the command word, for commands that take the line. */
	rest = line;
	while (g_ascii_isspace(*rest))
		rest++;
	rest += strlen(argv[0]);
	while (g_ascii_isspace(*rest))
		rest++;
	return cmd->fn(cmd, argv, rest, out);
}

/* -------------------------------------------------------------- sockets */

static void hmp_open(ChardevConn *conn, void *opaque)
{
	/* Adopted clients too: the new binary greets them as QEMU's does. */
	chardev_conn_write(conn, hmp_banner(), strlen(hmp_banner()));
	chardev_conn_write(conn, HMP_PROMPT, strlen(HMP_PROMPT));
}

static void hmp_input(ChardevConn *conn, void *opaque)
{
	char *line;

	while ((line = chardev_conn_take_line(conn))) {
		g_autoptr(GString) out = g_string_new(NULL);
		gboolean quit = hmp_dispatch_line(line, out);

		g_free(line);
		chardev_conn_write(conn, out->str, out->len);
		if (quit) {
			control_quit();
			return;
		}
		chardev_conn_write(conn, HMP_PROMPT, strlen(HMP_PROMPT));
	}
}

static const struct chardev_ops hmp_ops = {
	.open = hmp_open,
	.input = hmp_input,
};

gboolean monitor_hmp_add(const char *spec, GError **errp)
{
	return monitor_chardev_add(&hmp_chardevs, "hmp", "-monitor", spec, &hmp_ops, errp);
}
