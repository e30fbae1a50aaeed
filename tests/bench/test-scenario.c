// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause's scenario matrix: which combinations of the option
 * lists run, in which order, on which VMM (relive-vm, QEMU, QEMU with the
 * holder), with which RAM backing; bad values named in the error; and the
 * pause quantiles the reports print.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "scenario.h"

static const enum vmm_kind relive_only[] = { VMM_RELIVE };
static const enum vmm_kind all_three[] = { VMM_RELIVE, VMM_QEMU, VMM_QEMU_HOLDER };

static GPtrArray *build(const struct scenario_axes *ax, const enum vmm_kind *vmms, unsigned n)
{
	GPtrArray *out = g_ptr_array_new();
	GError *err = NULL;

	assert_true(scenarios_build(ax, vmms, n, out, &err));
	assert_null(err);
	return out;
}

static const struct scenario *at(GPtrArray *a, guint i)
{
	return g_ptr_array_index(a, i);
}

static void free_all(GPtrArray *a)
{
	for (guint i = 0; i < a->len; i++) {
		struct scenario *sc = g_ptr_array_index(a, i);

		g_array_free(sc->samples, TRUE);
		g_free(sc);
	}
	g_ptr_array_free(a, TRUE);
}

static void test_defaults(void **state)
{
	struct scenario_axes ax = { 0 };
	GPtrArray *a = build(&ax, relive_only, 1);
	const uint64_t rams[] = { 256ull << 20, 1ull << 30, 4ull << 30 };

	(void)state;
	assert_int_equal(a->len, 3);
	for (guint i = 0; i < 3; i++) {
		assert_int_equal(at(a, i)->vmm, VMM_RELIVE);
		assert_int_equal(at(a, i)->mode, MODE_CPR_EXEC);
		assert_int_equal(at(a, i)->backing, BACK_MEMFD);
		assert_int_equal(at(a, i)->exec, EXEC_TRAMPOLINE);
		assert_int_equal(at(a, i)->vcpus, 1);
		assert_int_equal(at(a, i)->blob, 0);
		assert_null(at(a, i)->writer);
		assert_true(at(a, i)->populate == 1.0);
		assert_int_equal(at(a, i)->ram, rams[i]);
	}
	free_all(a);
}

/* QEMU runs the CPR modes only, once per blob and writer list, after relive-vm. */
static void test_qemu_and_holder_rows(void **state)
{
	struct scenario_axes ax = {
		.modes = "cpr-exec,normal", .rams = "256M", .blobs = "0,4M",
		.writers = "io_uring,fallback", .populate = "1,0",
	};
	GPtrArray *a = build(&ax, all_three, 3);

	(void)state;
	/* relive-vm: 2 modes x 2 blobs x 2 writers x 2 populations. */
	assert_int_equal(a->len, 16 + 2 + 2);
	for (guint i = 0; i < 16; i++)
		assert_int_equal(at(a, i)->vmm, VMM_RELIVE);
	for (guint i = 16; i < 20; i++) {
		const struct scenario *sc = at(a, i);

		assert_int_equal(sc->vmm, i < 18 ? VMM_QEMU : VMM_QEMU_HOLDER);
		assert_int_equal(sc->mode, MODE_CPR_EXEC);
		assert_int_equal(sc->blob, 0);
		assert_null(sc->writer);
		assert_int_equal(sc->backing, BACK_MEMFD);
		assert_true(sc->populate == (i % 2 ? 0.0 : 1.0));
		assert_int_equal(scenario_heartbeats(sc), 1);
	}
	assert_string_equal(vmm_name(at(a, 19)->vmm), "qemu+holder");
	assert_true(vmm_is_qemu(VMM_QEMU_HOLDER));
	assert_false(vmm_is_qemu(VMM_RELIVE));
	free_all(a);
}

/* Every VMM of a scenario gets the backing asked for, QEMU included. */
static void test_qemu_takes_the_backing(void **state)
{
	struct scenario_axes ax = { .rams = "1G", .backings = "memfd,file", .vcpus = "2" };
	GPtrArray *a = build(&ax, all_three, 3);

	(void)state;
	assert_int_equal(a->len, 6);
	for (guint i = 0; i < 6; i++)
		assert_int_equal(at(a, i)->backing, i % 2 ? BACK_FILE : BACK_MEMFD);
	assert_int_equal(scenario_heartbeats(at(a, 0)), 2);
	assert_int_equal(scenario_heartbeats(at(a, 2)), 1);
	free_all(a);
}

/* --exec multiplies cpr-exec scenarios only. */
static void test_exec_only_multiplies_cpr_exec(void **state)
{
	struct scenario_axes ax = {
		.modes = "cpr-exec,cpr-transfer", .rams = "256M", .execs = "trampoline,direct",
	};
	GPtrArray *a = build(&ax, relive_only, 1);
	g_autofree char *label = NULL;

	(void)state;
	assert_int_equal(a->len, 3);
	assert_int_equal(at(a, 0)->exec, EXEC_TRAMPOLINE);
	assert_int_equal(at(a, 1)->exec, EXEC_DIRECT);
	assert_int_equal(at(a, 2)->mode, MODE_CPR_TRANSFER);
	label = scenario_label(at(a, 1));
	assert_string_equal(label, "relive cpr-exec memfd 256M x1 blob 0 warm direct");
	free_all(a);
}

static void assert_rejected(const struct scenario_axes *ax, const char *needle)
{
	GPtrArray *out = g_ptr_array_new();
	GError *err = NULL;

	assert_false(scenarios_build(ax, all_three, 3, out, &err));
	assert_non_null(err);
	if (!strstr(err->message, needle))
		fail_msg("'%s' does not name '%s'", err->message, needle);
	g_error_free(err);
	free_all(out);
}

static void test_bad_values_named(void **state)
{
	(void)state;
	assert_rejected(&(struct scenario_axes){ .modes = "cpr-exec,warp" }, "--mode: unknown value 'warp'");
	assert_rejected(&(struct scenario_axes){ .rams = "32M" }, "--ram: '32M'");
	assert_rejected(&(struct scenario_axes){ .rams = "1Q" }, "--ram: '1Q'");
	assert_rejected(&(struct scenario_axes){ .vcpus = "9" }, "--vcpus: '9'");
	assert_rejected(&(struct scenario_axes){ .vcpus = "" }, "--vcpus: an empty list");
	assert_rejected(&(struct scenario_axes){ .vcpus = "1,x" }, "--vcpus: 'x'");
	assert_rejected(&(struct scenario_axes){ .blobs = "512M" }, "--blob: '512M'");
	assert_rejected(&(struct scenario_axes){ .populate = "1.5" }, "--populate: '1.5'");
	assert_rejected(&(struct scenario_axes){ .backings = "tmpfs" }, "--backing: unknown value 'tmpfs'");
	assert_rejected(&(struct scenario_axes){ .execs = "fork" }, "--exec: unknown value 'fork'");
	assert_rejected(&(struct scenario_axes){ .writers = "aio" }, "--writer: unknown value 'aio'");
}

static void add_pause(struct scenario *sc, double ms)
{
	struct sample s = { .pause_ns = (uint64_t)(ms * 1e6) };

	g_array_append_val(sc->samples, s);
}

static void test_pause_quantiles(void **state)
{
	struct scenario sc = { .samples = g_array_new(FALSE, TRUE, sizeof(struct sample)) };

	(void)state;
	assert_true(isnan(samples_pause_quantile(&sc, 0.5)));
	add_pause(&sc, 4);
	add_pause(&sc, 1);
	add_pause(&sc, 3);
	add_pause(&sc, 2);
	assert_float_equal(samples_pause_quantile(&sc, 0.5), 2.5, 1e-9);
	assert_float_equal(samples_pause_quantile(&sc, 0.9), 3.7, 1e-9);
	assert_float_equal(samples_pause_quantile(&sc, 1.0), 4.0, 1e-9);
	g_array_free(sc.samples, TRUE);
}

static void test_size_name(void **state)
{
	g_autofree char *a = size_name(256ull << 20);
	g_autofree char *b = size_name(4ull << 30);
	g_autofree char *c = size_name(0);

	(void)state;
	assert_string_equal(a, "256M");
	assert_string_equal(b, "4G");
	assert_string_equal(c, "0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_qemu_and_holder_rows),
		cmocka_unit_test(test_qemu_takes_the_backing),
		cmocka_unit_test(test_exec_only_multiplies_cpr_exec),
		cmocka_unit_test(test_bad_values_named),
		cmocka_unit_test(test_pause_quantiles),
		cmocka_unit_test(test_size_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
