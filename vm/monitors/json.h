/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitors' JSON values (jansson) and the few readers they share.
 * A member that is missing or of another type reads as the caller's
 * default (numbers and booleans convert as json-glib converted them), so
 * that no input reaches a caller as NULL where it expects text.
 */
#ifndef VM_MONITORS_JSON_H
#define VM_MONITORS_JSON_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_t, json_decref)

/* What the monitors' parser accepts: any value at top level, "\u0000" in strings. */
#define MONITOR_JSON_DECODE (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* A new string or, for NULL, null. The text is not checked for UTF-8: qmp_format() replaces what is not. */
static inline json_t *json_string_or_null(const char *s)
{
	return s ? json_string_nocheck(s) : json_null();
}

/* Sets @o's member @name to @s (NULL: null). */
static inline void json_object_set_str(json_t *o, const char *name, const char *s)
{
	json_object_set_new_nocheck(o, name, json_string_or_null(s));
}

/* A scalar member other than null, or NULL. */
static inline json_t *json_object_scalar(const json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return v && !json_is_null(v) && !json_is_object(v) && !json_is_array(v) ? v : NULL;
}

/* A member's text, or @def when it is missing or not a string. */
static inline const char *json_object_string_or(const json_t *o, const char *name,
						const char *def)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) ? json_string_value(v) : def;
}

/* A member as an integer: @def as above; a real truncated, a boolean 0 or 1, a string 0. */
static inline gint64 json_object_int_or(const json_t *o, const char *name, gint64 def)
{
	json_t *v = json_object_scalar(o, name);

	if (!v)
		return def;
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v)) {
		double d = json_real_value(v);

		/* outside int64's range the conversion is undefined */
		return d > -9.2e18 && d < 9.2e18 ? (gint64)d : def;
	}
	return json_is_true(v);
}

/* A member as a boolean: @def as above; a number true unless 0, a string false. */
static inline gboolean json_object_bool_or(const json_t *o, const char *name, gboolean def)
{
	json_t *v = json_object_scalar(o, name);

	if (!v)
		return def;
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_real(v))
		return json_real_value(v) != 0.0;
	return json_is_true(v);
}

/* A string value's text, NULL for anything else. */
static inline const char *json_str(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : NULL;
}

#endif
