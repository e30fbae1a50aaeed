// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CRC32C against published check values, on both the instruction and the
 * table path, whole and in pieces of every alignment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "relive/crc32c.h"

static void test_check_value(void **state)
{
	assert_int_equal(rl_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(rl_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(rl_crc32c(0, "", 0), 0);
}

/* RFC 3720 (iSCSI) appendix B.4 vectors. */
static void test_rfc3720(void **state)
{
	unsigned char buf[32];

	memset(buf, 0, sizeof(buf));
	assert_int_equal(rl_crc32c(0, buf, 32), 0x8A9136AAu);
	assert_int_equal(rl_crc32c_sw(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(rl_crc32c(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = i;
	assert_int_equal(rl_crc32c(0, buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = 31 - i;
	assert_int_equal(rl_crc32c(0, buf, 32), 0x113FDB5Cu);
	assert_int_equal(rl_crc32c_sw(0, buf, 32), 0x113FDB5Cu);
}

static void test_pieces_and_paths_agree(void **state)
{
	unsigned char *buf = malloc(4096 + 8);
	uint32_t whole;

	assert_non_null(buf);
	srand(7);
	for (int i = 0; i < 4096 + 8; i++)
		buf[i] = rand();
	for (int shift = 0; shift < 8; shift++) {
		whole = rl_crc32c(0, buf + shift, 4096);
		assert_int_equal(whole, rl_crc32c_sw(0, buf + shift, 4096));
		for (size_t cut = 0; cut <= 4096; cut += 333) {
			uint32_t c = rl_crc32c(0, buf + shift, cut);

			c = rl_crc32c(c, buf + shift + cut, 4096 - cut);
			assert_int_equal(c, whole);
		}
	}
	free(buf);
}

/* Large buffers take the three-lane path: it must agree with the table. */
static void test_large_buffers(void **state)
{
	size_t n = (1 << 20) + 12345;
	unsigned char *buf = malloc(n + 8);
	uint32_t sw, hw;

	assert_non_null(buf);
	srand(11);
	for (size_t i = 0; i < n + 8; i++)
		buf[i] = rand();
	for (int shift = 0; shift < 3; shift++) {
		for (size_t len = 3 * 8192 - 1; len <= n; len = len * 3 + 7) {
			sw = rl_crc32c_sw(0x12345678, buf + shift, len);
			hw = rl_crc32c(0x12345678, buf + shift, len);
			assert_int_equal(hw, sw);
		}
	}
	memset(buf, 0, n);
	assert_int_equal(rl_crc32c(0, buf, n), rl_crc32c_sw(0, buf, n));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_rfc3720),
		cmocka_unit_test(test_pieces_and_paths_agree),
		cmocka_unit_test(test_large_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
