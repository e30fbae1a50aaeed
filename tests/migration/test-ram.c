// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The RAM block registry: adding, finding, and the refusals of bad blocks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "relive/ram.h"

static struct rl_ram_block blk(const char *name, uint64_t size, uint64_t gpa)
{
	struct rl_ram_block b = { .size = size, .gpa = gpa, .fd = -1 };

	strcpy(b.name, name);
	return b;
}

static void test_add_find(void **state)
{
	struct rl_ram_registry reg;
	struct rl_ram_block b = blk("ram0", 1 << 20, 0);

	rl_ram_registry_init(&reg);
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		b = blk(name, 4096, (uint64_t)i << 20);
		assert_int_equal(rl_ram_add(&reg, &b), 0);
	}
	assert_int_equal(reg.count, 20);
	assert_non_null(rl_ram_find(&reg, "r13"));
	assert_int_equal(rl_ram_find(&reg, "r13")->gpa, 13u << 20);
	assert_int_equal(rl_ram_find(&reg, "r13")->page_size, 4096);
	assert_null(rl_ram_find(&reg, "nope"));
	rl_ram_registry_free(&reg);
	assert_int_equal(reg.count, 0);
}

static void test_refusals(void **state)
{
	struct rl_ram_registry reg = { 0 };
	struct rl_ram_block b = blk("ram0", 1 << 20, 0);

	assert_int_equal(rl_ram_add(&reg, &b), 0);
	assert_int_equal(rl_ram_add(&reg, &b), -EEXIST);
	b = blk("ram1", 1 << 20, 4096);
	assert_int_equal(rl_ram_add(&reg, &b), -ERANGE);
	b = blk("ram1", 1000, 1 << 30);
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	b = blk("ram1", 0, 1 << 30);
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	b = blk("", 4096, 1 << 30);
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	b = blk("ram1", 4096, 1 << 30);
	b.page_size = 3000;
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	memset(b.name, 'x', sizeof(b.name));
	b.page_size = 0;
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	assert_int_equal(reg.count, 1);
	rl_ram_registry_free(&reg);
}

/* A PC's RAM: 3.75 GiB from 0, the rest from 4 GiB; the ROM fits in between. */
static void test_split(void **state)
{
	struct rl_ram_registry reg = { 0 };
	struct rl_ram_block b = blk("ram0", 5ull << 30, 0);

	b.split = 0xf0000000ull;
	b.split_gpa = 1ull << 32;
	assert_int_equal(rl_ram_add(&reg, &b), 0);
	b = blk("pc.bios", 64 << 10, (1ull << 32) - (64 << 10));
	assert_int_equal(rl_ram_add(&reg, &b), 0);
	/* inside the part above 4 GiB */
	b = blk("rom2", 4096, (1ull << 32) + (1ull << 30));
	assert_int_equal(rl_ram_add(&reg, &b), -ERANGE);
	/* just past it */
	b = blk("rom2", 4096, (1ull << 32) + (5ull << 30) - 0xf0000000ull);
	assert_int_equal(rl_ram_add(&reg, &b), 0);
	/* a split that maps back onto its own first part */
	b = blk("ram1", 8 << 20, 64ull << 30);
	b.split = 4 << 20;
	b.split_gpa = (64ull << 30) + 4096;
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	/* a split at or past the end */
	b.split = 8 << 20;
	b.split_gpa = 128ull << 30;
	assert_int_equal(rl_ram_add(&reg, &b), -EINVAL);
	rl_ram_registry_free(&reg);
}

static void test_backend_type(void **state)
{
	struct rl_ram_block b = blk("ram0", 4096, 0);

	b.backing = RL_RAM_ANON;
	assert_string_equal(rl_ram_backend_type(&b), "memory-backend-ram");
	b.backing = RL_RAM_MEMFD;
	assert_string_equal(rl_ram_backend_type(&b), "memory-backend-memfd");
	b.backing = RL_RAM_FILE;
	assert_string_equal(rl_ram_backend_type(&b), "memory-backend-file");
	b.implicit = true;
	assert_string_equal(rl_ram_backend_type(&b), "RAM block");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_backend_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
