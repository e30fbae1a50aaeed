// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause, what to run: the matrix of scenarios built from the
 * command line's lists, their names, and the quantiles of their samples.
 * Includes only scenario.h, bench.h's helpers and librelive's names and
 * sizes: nothing here runs a VMM or prints a report.
 */
#include "scenario.h"
#include "bench.h"
#include "relive/migrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const backing_names[] = { "memfd", "hugetlb", "file", "private", NULL };
static const char *const exec_names[] = { "trampoline", "direct", NULL };
static const char *const writer_names[] = { "io_uring", "fallback", NULL };

/* The modes are librelive's, in its order. */
_Static_assert(MODE_NORMAL == (int)RL_MODE_NORMAL && MODE_CPR_REBOOT == (int)RL_MODE_CPR_REBOOT &&
	       MODE_CPR_TRANSFER == (int)RL_MODE_CPR_TRANSFER && MODE_CPR_EXEC == (int)RL_MODE_CPR_EXEC,
	       "enum update_mode follows enum rl_mig_mode");

const char *mode_name(enum update_mode m)
{
	return rl_mig_mode_name((enum rl_mig_mode)m);
}

/* Return: the mode named @s, or -1 with @errp listing the names. */
static int mode_lookup(const char *s, GError **errp)
{
	const char *names[RL_MODE__MAX + 1] = { NULL };
	enum rl_mig_mode m;

	if (rl_mig_mode_parse(s, &m) == 0)
		return (int)m;
	for (int i = 0; i < RL_MODE__MAX; i++)
		names[i] = rl_mig_mode_name((enum rl_mig_mode)i);
	g_autofree char *all = g_strjoinv(", ", (char **)names);

	g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		    "--mode: unknown value '%s' (one of: %s)", s, all);
	return -1;
}

const char *backing_name(enum backing b)
{
	return backing_names[b];
}

const char *vmm_name(enum vmm_kind v)
{
	static const char *const names[] = { "relive", "qemu", "qemu+holder" };

	return names[v];
}

const char *vmm_title(enum vmm_kind v)
{
	static const char *const titles[] = { "relive-vm", "QEMU", "QEMU with the holder" };

	return titles[v];
}

bool vmm_is_qemu(enum vmm_kind v)
{
	return v == VMM_QEMU || v == VMM_QEMU_HOLDER;
}

char *size_name(uint64_t bytes)
{
	char buf[32];

	return g_strdup(rl_size_format(bytes, RL_SIZE_SHORT, buf, sizeof(buf)));
}

char *scenario_label(const struct scenario *sc)
{
	g_autofree char *ram = size_name(sc->ram);
	g_autofree char *blob = size_name(sc->blob);

	return g_strdup_printf("%s %s %s %s x%u blob %s %s%s", vmm_name(sc->vmm),
			       mode_name(sc->mode), backing_name(sc->backing), ram, sc->vcpus,
			       blob, sc->populate >= 1 ? "warm" : "cold",
			       sc->mode == MODE_CPR_EXEC ? (sc->exec == EXEC_TRAMPOLINE ?
							    " trampoline" : " direct") : "");
}

unsigned scenario_heartbeats(const struct scenario *sc)
{
	/* QEMU runs the bench's firmware on the boot vCPU only. */
	return vmm_is_qemu(sc->vmm) ? 1 : sc->vcpus;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double quantile(const struct scenario *sc, double q, bool vm_stall)
{
	guint n = sc->samples->len;
	g_autofree uint64_t *v = NULL;
	double pos;
	guint lo;

	if (!n)
		return NAN;
	v = g_new(uint64_t, n);
	for (guint i = 0; i < n; i++) {
		const struct sample *s = &g_array_index(sc->samples, struct sample, i);

		v[i] = vm_stall ? s->vm_stall_ns : s->pause_ns;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	pos = q * (n - 1);
	lo = (guint)pos;
	if (lo + 1 >= n)
		return v[n - 1] / 1e6;
	return (v[lo] + (pos - lo) * ((double)v[lo + 1] - v[lo])) / 1e6;
}

double samples_pause_quantile(const struct scenario *sc, double q)
{
	return quantile(sc, q, false);
}

double samples_vm_stall_quantile(const struct scenario *sc, double q)
{
	return quantile(sc, q, true);
}

/* ------------------------------------------------------------ the matrix */

static int lookup(const char *what, const char *s, const char *const *names, GError **errp)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	g_autofree char *all = g_strjoinv(", ", (char **)names);

	g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		    "--%s: unknown value '%s' (one of: %s)", what, s, all);
	return -1;
}

static gboolean bad_value(GError **errp, const char *what, const char *s, const char *range)
{
	g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: '%s' is not %s",
		    what, s, range);
	return FALSE;
}

/* The names of one combination of the axes, before they are parsed. */
struct cell {
	const char *mode, *backing, *ram, *vcpus, *blob, *exec, *writer, *populate;
};

/* Fills @sc from @c. Return: FALSE with @errp naming the first bad value. */
static gboolean scenario_parse(struct scenario *sc, const struct cell *c, GError **errp)
{
	int mi = mode_lookup(c->mode, errp);
	int ki = mi < 0 ? -1 : lookup("backing", c->backing, backing_names, errp);
	int ei = ki < 0 ? -1 : lookup("exec", c->exec, exec_names, errp);
	int wi = (ei < 0 || !*c->writer) ? 0 : lookup("writer", c->writer, writer_names, errp);
	char *end;

	if (mi < 0 || ki < 0 || ei < 0 || wi < 0)
		return FALSE;
	sc->mode = (enum update_mode)mi;
	sc->backing = (enum backing)ki;
	sc->exec = (enum exec_via)ei;
	/* An empty name: the VMM's default writer. */
	sc->writer = *c->writer ? writer_names[wi] : NULL;
	sc->populate = g_ascii_strtod(c->populate, &end);
	if (*end || end == c->populate || !(sc->populate >= 0 && sc->populate <= 1))
		return bad_value(errp, "populate", c->populate, "a fraction from 0 to 1");
	if (rl_size_parse(c->ram, 1, &sc->ram) < 0 || sc->ram < (64ull << 20) ||
	    sc->ram > (16ull << 30))
		return bad_value(errp, "ram", c->ram, "a size from 64M to 16G");
	sc->vcpus = (unsigned)strtoul(c->vcpus, &end, 10);
	if (*end || end == c->vcpus || sc->vcpus < 1 || sc->vcpus > 8)
		return bad_value(errp, "vcpus", c->vcpus, "a count from 1 to 8");
	if (rl_size_parse(c->blob, 1, &sc->blob) < 0 || sc->blob > (256ull << 20))
		return bad_value(errp, "blob", c->blob, "a size from 0 to 256M");
	return TRUE;
}

/*
 * Combinations that would only repeat another, or that QEMU is not asked
 * to run: --exec only multiplies cpr-exec scenarios; QEMU runs the CPR
 * modes only and has no state-blob device and no writer choice, so it
 * takes the first of each of those lists.
 */
static gboolean scenario_redundant(const struct scenario *sc, gboolean first_blob,
				   gboolean first_writer, gboolean first_exec)
{
	if (vmm_is_qemu(sc->vmm) &&
	    ((sc->mode != MODE_CPR_EXEC && sc->mode != MODE_CPR_TRANSFER) ||
	     !first_blob || !first_writer))
		return TRUE;
	return sc->mode != MODE_CPR_EXEC && !first_exec;
}

/* @list split at commas, or @def's when NULL. Return: NULL with @errp set for an empty list. */
static char **split_axis(const char *what, const char *list, const char *def, GError **errp)
{
	char **v = g_strsplit(list ? list : def, ",", -1);

	if (!v[0]) {
		g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
			    "--%s: an empty list", what);
		g_strfreev(v);
		return NULL;
	}
	return v;
}

gboolean scenarios_build(const struct scenario_axes *axes, const enum vmm_kind *vmms,
			 unsigned n_vmms, GPtrArray *out, GError **errp)
{
	g_auto(GStrv) lm = NULL, lr = NULL, lv = NULL, lb = NULL, lk = NULL, le = NULL;
	g_auto(GStrv) lf = NULL, lw = NULL;

	if (!(lm = split_axis("mode", axes->modes, "cpr-exec", errp)) ||
	    !(lk = split_axis("backing", axes->backings, "memfd", errp)) ||
	    !(lr = split_axis("ram", axes->rams, "256M,1G,4G", errp)) ||
	    !(lv = split_axis("vcpus", axes->vcpus, "1", errp)) ||
	    !(lb = split_axis("blob", axes->blobs, "0", errp)) ||
	    !(le = split_axis("exec", axes->execs, "trampoline", errp)) ||
	    !(lf = split_axis("populate", axes->populate, "1", errp)))
		return FALSE;
	if (!axes->writers) {
		/* An empty name: the VMM's default writer. */
		lw = g_new0(char *, 2);
		lw[0] = g_strdup("");
	} else if (!(lw = split_axis("writer", axes->writers, NULL, errp))) {
		return FALSE;
	}
	for (unsigned vmm = 0; vmm < n_vmms; vmm++)
	for (char **m = lm; *m; m++)
	for (char **k = lk; *k; k++)
	for (char **r = lr; *r; r++)
	for (char **v = lv; *v; v++)
	for (char **b = lb; *b; b++)
	for (char **e = le; *e; e++)
	for (char **w = lw; *w; w++)
	for (char **f = lf; *f; f++) {
		const struct cell c = { *m, *k, *r, *v, *b, *e, *w, *f };
		struct scenario *sc = g_new0(struct scenario, 1);

		sc->vmm = vmms[vmm];
		if (!scenario_parse(sc, &c, errp)) {
			g_free(sc);
			return FALSE;
		}
		if (scenario_redundant(sc, b == lb, w == lw, e == le)) {
			g_free(sc);
			continue;
		}
		if (vmm_is_qemu(sc->vmm)) {
			sc->blob = 0;
			sc->writer = NULL;
		}
		sc->samples = g_array_new(FALSE, TRUE, sizeof(struct sample));
		g_ptr_array_add(out, sc);
	}
	return TRUE;
}
