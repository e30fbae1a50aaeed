// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VMM command lines of relive-bench pause: a warm scenario preallocates
 * in the first VMM; a QEMU that takes over the populated RAM of the old one
 * (cpr-exec, cpr-transfer) is not asked to populate it again, relive-vm
 * keeps prealloc=on (it populates after the resume); a cold one never has it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm.h"

/* The -object argument of @sc's command line. */
static char *ram_object(enum vmm_kind vmm, double populate, enum backing b, enum vmm_ram ram)
{
	struct pause_opts o = { .vm_path = "relive-vm", .qemu_path = "qemu", .accel = "thread" };
	struct scenario sc = { .vmm = vmm, .mode = MODE_CPR_EXEC, .backing = b, .ram = 1ull << 30,
			       .vcpus = 1, .populate = populate };
	struct vmm_env env = { .ram_path = (char *)"/dev/shm/ram", .fw_path = (char *)"fw.bin" };
	g_auto(GStrv) argv = vmm_command(&o, &sc, &env, "/tmp/q.sock", ram);

	for (char **p = argv; *p; p++)
		if (!strcmp(*p, "-object"))
			return g_strdup(p[1]);
	fail_msg("no -object");
	return NULL;
}

static gboolean preallocs(enum vmm_kind vmm, double populate, enum backing b, enum vmm_ram ram)
{
	g_autofree char *obj = ram_object(vmm, populate, b, ram);

	return strstr(obj, "prealloc=on") != NULL;
}

static void test_warm_first_vmm_preallocates(void **state)
{
	(void)state;
	for (enum vmm_kind v = VMM_RELIVE; v <= VMM_QEMU_HOLDER; v++) {
		assert_true(preallocs(v, 1, BACK_MEMFD, VMM_RAM_NEW));
		assert_true(preallocs(v, 1, BACK_FILE, VMM_RAM_NEW));
	}
}

static void test_qemu_taking_over_does_not_populate_again(void **state)
{
	(void)state;
	assert_false(preallocs(VMM_QEMU, 1, BACK_MEMFD, VMM_RAM_TAKEN_OVER));
	assert_false(preallocs(VMM_QEMU_HOLDER, 1, BACK_MEMFD, VMM_RAM_TAKEN_OVER));
	assert_false(preallocs(VMM_QEMU_HOLDER, 1, BACK_FILE, VMM_RAM_TAKEN_OVER));
	/* The same backend otherwise: QEMU finds the preserved RAM by its id and size. */
	{
		g_autofree char *first = ram_object(VMM_QEMU, 1, BACK_FILE, VMM_RAM_NEW);
		g_autofree char *next = ram_object(VMM_QEMU, 1, BACK_FILE, VMM_RAM_TAKEN_OVER);

		assert_string_equal(next, "memory-backend-file,id=ram0,size=1073741824,"
				    "mem-path=/dev/shm/ram,share=on");
		assert_string_equal(first, "memory-backend-file,id=ram0,size=1073741824,"
				    "mem-path=/dev/shm/ram,share=on,prealloc=on");
	}
}

static void test_relive_keeps_prealloc_when_taking_over(void **state)
{
	(void)state;
	assert_true(preallocs(VMM_RELIVE, 1, BACK_MEMFD, VMM_RAM_TAKEN_OVER));
}

static void test_cold_never_preallocates(void **state)
{
	(void)state;
	for (enum vmm_kind v = VMM_RELIVE; v <= VMM_QEMU_HOLDER; v++) {
		assert_false(preallocs(v, 0, BACK_MEMFD, VMM_RAM_NEW));
		assert_false(preallocs(v, 0, BACK_MEMFD, VMM_RAM_TAKEN_OVER));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warm_first_vmm_preallocates),
		cmocka_unit_test(test_qemu_taking_over_does_not_populate_again),
		cmocka_unit_test(test_relive_keeps_prealloc_when_taking_over),
		cmocka_unit_test(test_cold_never_preallocates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
