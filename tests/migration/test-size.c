// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rl_size_parse() and rl_size_format(): every spelling relive-vm and
 * relive-bench take, the refusals, and both styles of output.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "relive/size.h"

static void expect_size(const char *s, uint64_t unit, uint64_t want)
{
	uint64_t v = 0;

	assert_int_equal(rl_size_parse(s, unit, &v), 0);
	assert_true(v == want);
}

static void test_parse(void **state)
{
	uint64_t v = 7;

	expect_size("0", 1, 0);
	expect_size("4096", 1, 4096);
	expect_size("4096b", 1, 4096);
	expect_size("2K", 1, 2048);
	expect_size("512M", 1, 512ull << 20);
	expect_size("512MiB", 1, 512ull << 20);
	expect_size("512MB", 1, 512ull << 20);
	expect_size("4g", 1, 4ull << 30);
	expect_size("1T", 1, 1ull << 40);
	/* a bare number counts in the unit given: -m takes MiB */
	expect_size("256", 1ull << 20, 256ull << 20);
	expect_size("1G", 1ull << 20, 1ull << 30);
	expect_size("16777215T", 1, 16777215ull << 40);

	assert_int_equal(rl_size_parse("", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse(NULL, 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse("-1", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse(" 1", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse("M", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse("1X", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse("1MX", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse("1bB", 1, &v), -EINVAL);
	assert_int_equal(rl_size_parse("16777216T", 1, &v), -ERANGE);
	assert_int_equal(rl_size_parse("99999999999999999999", 1, &v), -ERANGE);
	assert_true(v == 7);
}

static void test_format(void **state)
{
	char b[32];

	assert_string_equal(rl_size_format(0, RL_SIZE_LONG, b, sizeof(b)), "0 bytes");
	assert_string_equal(rl_size_format(1000, RL_SIZE_LONG, b, sizeof(b)), "1000 bytes");
	assert_string_equal(rl_size_format(512ull << 20, RL_SIZE_LONG, b, sizeof(b)), "512 MiB");
	assert_string_equal(rl_size_format(3ull << 30, RL_SIZE_LONG, b, sizeof(b)), "3 GiB");
	assert_string_equal(rl_size_format(1536, RL_SIZE_LONG, b, sizeof(b)), "1536 bytes");
	assert_string_equal(rl_size_format(4096ull << 40, RL_SIZE_LONG, b, sizeof(b)), "4096 TiB");
	assert_string_equal(rl_size_format(256ull << 20, RL_SIZE_SHORT, b, sizeof(b)), "256M");
	assert_string_equal(rl_size_format(4ull << 30, RL_SIZE_SHORT, b, sizeof(b)), "4G");
	assert_string_equal(rl_size_format(1000, RL_SIZE_SHORT, b, sizeof(b)), "1000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests_name("size", tests, NULL, NULL);
}
