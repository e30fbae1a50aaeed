// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause, the plot: the median pause against RAM size, one
 * line per series (everything of a scenario but its RAM size), as data and
 * a gnuplot script that gnuplot turns into pause.svg. Reads scenario.h only.
 */
#include "report.h"

#include <math.h>
#include <string.h>

/* The plot's series a scenario belongs to: everything but its RAM size. */
static char *series_name(const struct scenario *sc)
{
	g_autofree char *blob = size_name(sc->blob);
	g_autofree char *cpus = sc->vcpus > 1 ? g_strdup_printf(" x%u", sc->vcpus) : g_strdup("");

	return g_strdup_printf("%s %s %s%s%s%s%s%s", vmm_name(sc->vmm), mode_name(sc->mode),
			       backing_name(sc->backing), cpus, sc->blob ? " blob " : "",
			       sc->blob ? blob : "", sc->populate < 1 ? " cold" : "",
			       sc->mode == MODE_CPR_EXEC && sc->exec == EXEC_DIRECT ? " direct" : "");
}

/* A point shape per VMM (circle, square, triangle), beside the colour per series. */
static int series_point(const struct scenario *sc)
{
	static const int points[] = { 7, 5, 9 };

	return points[sc->vmm];
}

/* Cold guests dashed, warm ones solid. */
static int series_dash(const struct scenario *sc)
{
	return sc->populate < 1 ? 2 : 1;
}

/*
 * On a linear axis from 0, a median below 1/20 of the largest sits within
 * 5 % of the plot's height, indistinguishable from its neighbours: relive-vm's
 * few milliseconds under QEMU's hundreds. Then the axis is logarithmic.
 */
#define PLOT_LOG_RATIO 20.0

static gboolean wants_log_scale(const struct pause_opts *o)
{
	double lo = INFINITY, hi = 0;

	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);
		double m;

		if (!sc->samples->len)
			continue;
		m = samples_pause_quantile(sc, 0.5);
		lo = MIN(lo, m);
		hi = MAX(hi, m);
	}
	return lo > 0 && hi >= PLOT_LOG_RATIO * lo;
}

gboolean report_plot(const struct pause_opts *o, const char *dir, GError **errp)
{
	g_autofree char *gnuplot = g_find_program_in_path("gnuplot");
	g_autofree char *dat = g_build_filename(dir, "pause.dat", NULL);
	g_autofree char *gp = g_build_filename(dir, "pause.gp", NULL);
	g_autoptr(GString) d = g_string_new(NULL);
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *err_out = NULL;
	GHashTable *series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) firsts = g_ptr_array_new(); /* a scenario of each series */
	gboolean log_y = wants_log_scale(o);
	int status = 0;
	gboolean ok;

	/* One series per VMM, mode, backing, vCPUs, blob, exec and population. */
	for (guint i = 0; i < o->scenarios->len; i++) {
		const struct scenario *sc = g_ptr_array_index(o->scenarios, i);
		char *name;

		if (!sc->samples->len)
			continue;
		name = series_name(sc);
		if (!g_hash_table_contains(series, name)) {
			g_hash_table_insert(series, g_strdup(name), NULL);
			g_ptr_array_add(names, name);
			g_ptr_array_add(firsts, (gpointer)sc);
		} else {
			g_free(name);
		}
	}
	if (!names->len) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no samples to plot");
		ok = FALSE;
		goto out;
	}
	for (guint n = 0; n < names->len; n++) {
		g_string_append_printf(d, "# %s\n", (char *)g_ptr_array_index(names, n));
		for (guint i = 0; i < o->scenarios->len; i++) {
			const struct scenario *sc = g_ptr_array_index(o->scenarios, i);
			g_autofree char *name = NULL;

			if (!sc->samples->len)
				continue;
			name = series_name(sc);
			if (strcmp(name, g_ptr_array_index(names, n)))
				continue;
			g_string_append_printf(d, "%g %g %g %g\n", sc->ram / 1048576.0,
					       samples_pause_quantile(sc, 0.5),
					       samples_pause_quantile(sc, 0.9),
					       samples_pause_quantile(sc, 1.0));
		}
		g_string_append(d, "\n\n");
	}
	if (!g_file_set_contents(dat, d->str, (gssize)d->len, errp)) {
		ok = FALSE;
		goto out;
	}
	g_string_append_printf(s,
		"set terminal svg size 640,%u font 'sans,11'\n"
		"set output 'pause.svg'\n"
		"set title 'Guest-visible pause of one update (median)'\n"
		"set xlabel 'guest RAM (MiB)'\n"
		"set ylabel 'pause (ms%s)'\n"
		"set logscale x 2\n"
		"%s\n"
		"set key %s\n"
		"plot ", log_y ? 480 : 400, log_y ? ", log scale" : "",
		log_y ? "set logscale y 10" : "set yrange [0:*]",
		/* Two bands of lines far apart leave no free corner for the key. */
		log_y ? "below" : "top left");
	for (guint n = 0; n < names->len; n++) {
		g_autofree char *t = g_strescape(g_ptr_array_index(names, n), NULL);

		g_string_append_printf(s, "%s'pause.dat' index %u using 1:2 with linespoints "
				       "pt %d dt %d title \"%s\"", n ? ", \\\n     " : "", n,
				       series_point(g_ptr_array_index(firsts, n)),
				       series_dash(g_ptr_array_index(firsts, n)), t);
	}
	g_string_append(s, "\n");
	if (!g_file_set_contents(gp, s->str, (gssize)s->len, errp)) {
		ok = FALSE;
		goto out;
	}
	if (!gnuplot) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "gnuplot is not installed: no SVG (data and script in %s and %s)", dat, gp);
		ok = FALSE;
		goto out;
	}
	{
		char *argv[] = { gnuplot, (char *)"pause.gp", NULL };

		/* The script names its files relative to @dir: it can be run again there. */
		ok = g_spawn_sync(dir, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err_out,
				  &status, errp);
	}
	if (ok && !g_spawn_check_wait_status(status, NULL)) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "gnuplot failed: %s",
			    err_out ? err_out : "");
		ok = FALSE;
	}
out:
	g_ptr_array_free(names, TRUE);
	g_hash_table_destroy(series);
	return ok;
}
