// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause, the table on stdout (median, p90, max pause and the
 * VMM's breakdown medians per scenario) and the JSON file with every
 * sample. Reads scenario.h only; plot.c draws the plot.
 */
#include "report.h"
#include "floor.h"
#include "observer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, guint n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The breakdown's member names over every scenario, in first-seen order. */
static GPtrArray *breakdown_keys(const struct pause_opts *o)
{
	GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);

		for (guint j = 0; j < sc->samples->len; j++) {
			const struct sample *s = &g_array_index(sc->samples, struct sample, j);
			g_autoptr(GList) members = NULL;

			if (!s->breakdown)
				continue;
			members = json_object_get_members(s->breakdown);
			for (GList *l = members; l; l = l->next) {
				gboolean have = FALSE;

				for (guint k = 0; k < keys->len && !have; k++)
					have = !strcmp(g_ptr_array_index(keys, k), l->data);
				if (!have)
					g_ptr_array_add(keys, g_strdup(l->data));
			}
		}
	}
	return keys;
}

static double breakdown_median(const struct scenario *sc, const char *key)
{
	g_autofree double *v = g_new(double, sc->samples->len + 1);
	guint n = 0;

	for (guint j = 0; j < sc->samples->len; j++) {
		const struct sample *s = &g_array_index(sc->samples, struct sample, j);
		JsonNode *m;

		if (!s->breakdown || !(m = json_object_get_member(s->breakdown, key)) ||
		    !JSON_NODE_HOLDS_VALUE(m))
			continue;
		v[n++] = json_node_get_double(m);
	}
	return median(v, n);
}

static double field_median(const struct scenario *sc, int which)
{
	g_autofree double *v = g_new(double, sc->samples->len + 1);
	guint n = 0;

	for (guint j = 0; j < sc->samples->len; j++) {
		const struct sample *s = &g_array_index(sc->samples, struct sample, j);

		switch (which) {
		case 0:
			if (s->downtime_ms >= 0)
				v[n++] = s->downtime_ms;
			break;
		case 1:
			if (s->rate_base > 0)
				v[n++] = 100.0 * s->rate_after / s->rate_base;
			break;
		case 2:
			if (s->state_bytes)
				v[n++] = (double)s->state_bytes;
			break;
		}
	}
	return median(v, n);
}

/* Median recovery, ms; one that did not come within @window_ms counts as @window_ms. */
static double recover_median(const struct scenario *sc, unsigned window_ms)
{
	g_autofree double *v = g_new(double, sc->samples->len + 1);
	guint n = 0;

	for (guint j = 0; j < sc->samples->len; j++) {
		const struct sample *s = &g_array_index(sc->samples, struct sample, j);

		v[n++] = s->recover_ns == UINT64_MAX ? window_ms : s->recover_ns / 1e6;
	}
	return median(v, n);
}

static void cell(FILE *out, double v, int decimals, int width)
{
	if (isnan(v))
		fprintf(out, " %*s", width, "-");
	else
		fprintf(out, " %*.*f", width, decimals, v);
}

/* A breakdown member as a column header: without its unit suffix. */
static char *header_name(const char *key)
{
	size_t n = strlen(key);

	if (n > 3 && !strcmp(key + n - 3, "-us"))
		n -= 3;
	return g_strndup(key, n);
}

/* The width of the vmm column: its longest name, at least 6. */
static int vmm_width(const struct pause_opts *o)
{
	int w = 6;

	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);

		w = MAX(w, (int)strlen(vmm_name(sc->vmm)));
	}
	return w;
}

void report_table(FILE *out, const struct pause_opts *o)
{
	g_autoptr(GPtrArray) keys = breakdown_keys(o);
	int vw = vmm_width(o);

	fprintf(out, "\nrelive-bench pause: %u updates per scenario, accel %s, observer %s",
		o->runs, o->accel, o->observer_sleep_us ? "polling every" : "in a tight loop");
	if (o->observer_sleep_us)
		fprintf(out, " %u µs", o->observer_sleep_us);
	fprintf(out, "\n");
	fprintf(out, "pause = longest heartbeat stall of any vCPU seen from outside; ms. vm-stall = "
		"longest time no vCPU moved (the pause when vCPUs outnumber host CPUs).\n"
		"downtime = the VMM's own figure. rate = heartbeat rate in the %u ms after the resume, %% of the rate before the first update.\n"
		"recover = ms from the end of the stall until the rate over %u ms is back to %u %% of that "
		"(>%u: not within the window).\n",
		o->rate_window_ms, OBS_RECOVER_WINDOW_MS, OBS_RECOVER_PERCENT, o->rate_window_ms);
	fprintf(out, "breakdown: medians of query-migrate's relive-pause, µs.\n\n");
	fprintf(out, "%-*s %-12s %-7s %5s %2s %5s %-10s %-4s %3s %8s %8s %8s %8s %8s %6s %8s %8s",
		vw, "vmm", "mode", "backing", "ram", "cpu", "blob", "exec", "pop", "n",
		"median", "p90", "max", "vm-stall", "downtime", "rate%", "recover", "state");
	if (o->floor)
		fprintf(out, " %6s %7s", "floor", "x-floor");
	for (guint k = 0; k < keys->len; k++) {
		g_autofree char *h = header_name(g_ptr_array_index(keys, k));

		fprintf(out, " %*s", MAX(6, (int)strlen(h)), h);
	}
	fprintf(out, "\n");

	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);
		g_autofree char *ram = size_name(sc->ram);
		g_autofree char *blob = size_name(sc->blob);
		g_autofree char *pop = g_strdup_printf("%g", sc->populate);
		double state = field_median(sc, 2);
		g_autofree char *st = isnan(state) ? g_strdup("-") : size_name((uint64_t)state);

		fprintf(out, "%-*s %-12s %-7s %5s %2u %5s %-10s %-4s %3u", vw, vmm_name(sc->vmm),
			mode_name(sc->mode), backing_name(sc->backing), ram, sc->vcpus, blob,
			sc->mode == MODE_CPR_EXEC ?
			(sc->exec == EXEC_TRAMPOLINE ? "trampoline" : "direct") : "-",
			pop, sc->samples->len);
		if (!sc->samples->len) {
			fprintf(out, "  %s\n", sc->skipped ? sc->skipped :
				sc->note ? sc->note : "no sample");
			continue;
		}
		cell(out, samples_pause_quantile(sc, 0.5), 2, 8);
		cell(out, samples_pause_quantile(sc, 0.9), 2, 8);
		cell(out, samples_pause_quantile(sc, 1.0), 2, 8);
		cell(out, samples_vm_stall_quantile(sc, 0.5), 2, 8);
		cell(out, field_median(sc, 0), 1, 8);
		cell(out, field_median(sc, 1), 0, 6);
		if (recover_median(sc, o->rate_window_ms) >= o->rate_window_ms) {
			g_autofree char *gt = g_strdup_printf(">%u", o->rate_window_ms);

			fprintf(out, " %8s", gt);
		} else {
			cell(out, recover_median(sc, o->rate_window_ms), 1, 8);
		}
		fprintf(out, " %8s", st);
		if (o->floor)
			floor_cells(out, sc);
		for (guint k = 0; k < keys->len; k++)
		{
			g_autofree char *h = header_name(g_ptr_array_index(keys, k));

			cell(out, breakdown_median(sc, g_ptr_array_index(keys, k)), 0,
			     MAX(6, (int)strlen(h)));
		}
		fprintf(out, "\n");
		if (sc->note)
			fprintf(out, "       note: %s\n", sc->note);
	}
	if (o->holder_note)
		fprintf(out, "\nnote: %s\n", o->holder_note);
}

/* @name: {"median", "p90", "max"} of @quantile over @sc's samples. */
static void quantiles_json(JsonBuilder *b, const char *name,
			   double (*quantile)(const struct scenario *, double),
			   const struct scenario *sc)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "median");
	json_builder_add_double_value(b, quantile(sc, 0.5));
	json_builder_set_member_name(b, "p90");
	json_builder_add_double_value(b, quantile(sc, 0.9));
	json_builder_set_member_name(b, "max");
	json_builder_add_double_value(b, quantile(sc, 1.0));
	json_builder_end_object(b);
}

gboolean report_json(const struct pause_opts *o, const char *path, GError **errp)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	struct utsname u;

	uname(&u);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "command");
	json_builder_add_string_value(b, o->command_line);
	json_builder_set_member_name(b, "kernel");
	json_builder_add_string_value(b, u.release);
	json_builder_set_member_name(b, "cpus");
	json_builder_add_int_value(b, sysconf(_SC_NPROCESSORS_ONLN));
	json_builder_set_member_name(b, "accel");
	json_builder_add_string_value(b, o->accel);
	json_builder_set_member_name(b, "observer-sleep-us");
	json_builder_add_int_value(b, o->observer_sleep_us);
	json_builder_set_member_name(b, "rate-window-ms");
	json_builder_add_int_value(b, o->rate_window_ms);
	if (o->qemu_path) {
		json_builder_set_member_name(b, "qemu");
		json_builder_add_string_value(b, o->qemu_path);
	}
	if (o->holder_path) {
		json_builder_set_member_name(b, "qemu-holder");
		json_builder_add_string_value(b, o->holder_path);
	}
	if (o->holder_note) {
		json_builder_set_member_name(b, "qemu-holder-note");
		json_builder_add_string_value(b, o->holder_note);
	}
	json_builder_set_member_name(b, "scenarios");
	json_builder_begin_array(b);
	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "vmm");
		json_builder_add_string_value(b, vmm_name(sc->vmm));
		json_builder_set_member_name(b, "mode");
		json_builder_add_string_value(b, mode_name(sc->mode));
		json_builder_set_member_name(b, "backing");
		json_builder_add_string_value(b, backing_name(sc->backing));
		json_builder_set_member_name(b, "ram-bytes");
		json_builder_add_int_value(b, (gint64)sc->ram);
		json_builder_set_member_name(b, "vcpus");
		json_builder_add_int_value(b, sc->vcpus);
		json_builder_set_member_name(b, "blob-bytes");
		json_builder_add_int_value(b, (gint64)sc->blob);
		json_builder_set_member_name(b, "exec");
		json_builder_add_string_value(b, sc->exec == EXEC_TRAMPOLINE ? "trampoline" : "direct");
		json_builder_set_member_name(b, "writer");
		json_builder_add_string_value(b, sc->writer ? sc->writer : "default");
		json_builder_set_member_name(b, "populate");
		json_builder_add_double_value(b, sc->populate);
		if (sc->skipped) {
			json_builder_set_member_name(b, "skipped");
			json_builder_add_string_value(b, sc->skipped);
		}
		if (sc->note) {
			json_builder_set_member_name(b, "note");
			json_builder_add_string_value(b, sc->note);
		}
		if (sc->samples->len) {
			quantiles_json(b, "pause-ms", samples_pause_quantile, sc);
			quantiles_json(b, "vm-stall-ms", samples_vm_stall_quantile, sc);
		}
		if (sc->floor) {
			JsonNode *n = json_node_new(JSON_NODE_OBJECT);

			json_node_set_object(n, sc->floor);
			json_builder_set_member_name(b, "floor");
			json_builder_add_value(b, n);
		}
		json_builder_set_member_name(b, "samples");
		json_builder_begin_array(b);
		for (guint j = 0; j < sc->samples->len; j++) {
			const struct sample *s = &g_array_index(sc->samples, struct sample, j);
			unsigned nv = scenario_heartbeats(sc);

			json_builder_begin_object(b);
			json_builder_set_member_name(b, "pause-us");
			json_builder_add_double_value(b, s->pause_ns / 1e3);
			json_builder_set_member_name(b, "vm-stall-us");
			json_builder_add_double_value(b, s->vm_stall_ns / 1e3);
			json_builder_set_member_name(b, "stall-us");
			json_builder_begin_array(b);
			for (unsigned v = 0; v < nv; v++)
				json_builder_add_double_value(b, s->stall_ns[v] / 1e3);
			json_builder_end_array(b);
			json_builder_set_member_name(b, "rate-before");
			json_builder_add_double_value(b, s->rate_before);
			json_builder_set_member_name(b, "rate-after");
			json_builder_add_double_value(b, s->rate_after);
			json_builder_set_member_name(b, "rate-base");
			json_builder_add_double_value(b, s->rate_base);
			/* null: not back within rate-window-ms */
			json_builder_set_member_name(b, "recover-ms");
			if (s->recover_ns == UINT64_MAX)
				json_builder_add_null_value(b);
			else
				json_builder_add_double_value(b, s->recover_ns / 1e6);
			if (s->downtime_ms >= 0) {
				json_builder_set_member_name(b, "downtime-ms");
				json_builder_add_double_value(b, s->downtime_ms);
			}
			if (s->state_bytes) {
				json_builder_set_member_name(b, "state-bytes");
				json_builder_add_int_value(b, (gint64)s->state_bytes);
			}
			if (s->breakdown) {
				JsonNode *n = json_node_new(JSON_NODE_OBJECT);

				json_node_set_object(n, s->breakdown);
				json_builder_set_member_name(b, "relive-pause");
				json_builder_add_value(b, n);
			}
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(g, root);
	json_generator_set_pretty(g, TRUE);
	return json_generator_to_file(g, path, errp);
}
