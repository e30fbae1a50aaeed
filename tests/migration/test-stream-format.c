// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state stream's fixed records in memory: file header, section header,
 * RAM descriptor; each flipped bit in a header is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relive/crc32c.h"
#include "stream-format.h"

static void test_file_header(void **state)
{
	struct rl_stream_hdr h = { .version = RL_STREAM_VERSION,
				   .flags = RL_STREAM_F_IGNORE_SHARED,
				   .mode = RL_MODE_CPR_EXEC }, d;
	unsigned char buf[RL_STREAM_HDR_LEN];

	strcpy(h.creator, "relive 0.1.0");
	rl_stream_hdr_encode(buf, &h);
	assert_memory_equal(buf, "RLSTREAM", 8);
	assert_int_equal(rl_stream_hdr_decode(buf, &d), RL_FMT_OK);
	assert_int_equal(d.mode, RL_MODE_CPR_EXEC);
	assert_int_equal(d.flags, RL_STREAM_F_IGNORE_SHARED);
	assert_string_equal(d.creator, "relive 0.1.0");

	for (unsigned i = 0; i < sizeof(buf) * 8; i++) {
		buf[i / 8] ^= 1u << (i % 8);
		assert_int_not_equal(rl_stream_hdr_decode(buf, &d), RL_FMT_OK);
		buf[i / 8] ^= 1u << (i % 8);
	}
	h.version = 2;
	rl_stream_hdr_encode(buf, &h);
	assert_int_equal(rl_stream_hdr_decode(buf, &d), RL_FMT_BAD_VERSION);
	buf[0] = 'X';
	assert_int_equal(rl_stream_hdr_decode(buf, &d), RL_FMT_BAD_MAGIC);
}

/* The update identity: bytes 88..103 with flag bit 1; without it, all zero. */
static void test_file_header_update_id(void **state)
{
	struct rl_stream_hdr h = { .version = RL_STREAM_VERSION,
				   .flags = RL_STREAM_F_UPDATE_ID }, d;
	unsigned char buf[RL_STREAM_HDR_LEN];

	for (unsigned i = 0; i < RL_UPDATE_ID_LEN; i++)
		h.update_id.b[i] = (uint8_t)(0xa0 + i);
	rl_stream_hdr_encode(buf, &h);
	assert_int_equal(buf[88], 0xa0);
	assert_int_equal(rl_stream_hdr_decode(buf, &d), RL_FMT_OK);
	assert_memory_equal(d.update_id.b, h.update_id.b, RL_UPDATE_ID_LEN);
	/* the same bytes without the flag: a field that should be zero */
	h.flags = 0;
	rl_stream_hdr_encode(buf, &h);
	assert_int_equal(buf[88], 0);
	buf[88] = 1;
	rl_put32(buf + 124, rl_crc32c(0, buf, 124));
	assert_int_equal(rl_stream_hdr_decode(buf, &d), RL_FMT_BAD_FIELD);
}

static void test_section_header(void **state)
{
	struct rl_sec_hdr h = { .type = RL_SECTION_DEVICE,
				.flags = RL_SEC_F_EXTENT, .payload_len = 100,
				.payload_crc = 0x1234, .ext_len = 1 << 20,
				.ext_crc = 0xabcd }, d;
	unsigned char buf[RL_SEC_HDR_LEN];
	uint64_t ext, next;

	assert_true(rl_name_put(h.name, sizeof(h.name), "blob0"));
	rl_sec_hdr_encode(buf, &h);
	assert_int_equal(rl_sec_hdr_decode(buf, &d), RL_FMT_OK);
	assert_int_equal(d.type, h.type);
	assert_int_equal(d.flags, h.flags);
	assert_string_equal(d.name, h.name);
	assert_int_equal(d.payload_len, h.payload_len);
	assert_int_equal(d.payload_crc, h.payload_crc);
	assert_int_equal(d.ext_len, h.ext_len);
	assert_int_equal(d.ext_crc, h.ext_crc);
	for (unsigned i = 0; i < sizeof(buf) * 8; i++) {
		buf[i / 8] ^= 1u << (i % 8);
		assert_int_not_equal(rl_sec_hdr_decode(buf, &d), RL_FMT_OK);
		buf[i / 8] ^= 1u << (i % 8);
	}
	assert_true(rl_sec_layout(128, &h, &ext, &next));
	assert_int_equal(ext, 4096);
	assert_int_equal(next, 4096 + (1 << 20));
	h.flags = 0;
	h.ext_len = 0;
	h.ext_crc = 0;
	assert_true(rl_sec_layout(128, &h, &ext, &next));
	assert_int_equal(next, 128 + 64 + 104);
	h.flags = RL_SEC_F_EXTENT;
	h.ext_len = UINT64_MAX - 100;
	assert_false(rl_sec_layout(128, &h, &ext, &next));
}

static void test_names(void **state)
{
	char name[RL_SECTION_NAME_MAX];

	assert_true(rl_name_put(name, sizeof(name), "cpu/0"));
	assert_true(rl_name_valid(name, sizeof(name), false));
	assert_false(rl_name_put(name, sizeof(name), ""));
	assert_false(rl_name_put(name, sizeof(name),
				 "0123456789012345678901234567890123"));
	memset(name, 0, sizeof(name));
	assert_false(rl_name_valid(name, sizeof(name), false));
	assert_true(rl_name_valid(name, sizeof(name), true));
	strcpy(name, "a b");
	assert_false(rl_name_valid(name, sizeof(name), false));
	memset(name, 0, sizeof(name));
	name[0] = 'a';
	name[5] = 'b'; /* garbage after the NUL */
	assert_false(rl_name_valid(name, sizeof(name), false));
	memset(name, 'a', sizeof(name));
	assert_false(rl_name_valid(name, sizeof(name), false));
}

/* The one configuration check: names that fit a section, each once. */
static void test_config_check(void **state)
{
	const char *ok[] = { "machine", "serial0", "b/data", "0123456789012345678901234567890" };
	const char *twice[] = { "machine", "serial0", "machine" };
	const char *longer[] = { "01234567890123456789012345678901" };
	const char *space[] = { "a b" };
	struct rl_stream_config cfg = { .nr_vcpus = 2, .devices = ok, .nr_devices = 4 };
	struct rl_error err = { { 0 } };

	assert_int_equal(rl_stream_config_check(&cfg, &err), 0);
	cfg.devices = twice;
	cfg.nr_devices = 3;
	assert_int_equal(rl_stream_config_check(&cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "device 'machine' listed twice");
	cfg.devices = longer;
	cfg.nr_devices = 1;
	assert_int_equal(rl_stream_config_check(&cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "device name '01234567890123456789012345678901' is longer than 31 characters");
	cfg.devices = space;
	assert_int_equal(rl_stream_config_check(&cfg, &err), -EINVAL);
	cfg.nr_devices = 0;
	cfg.nr_vcpus = RL_STREAM_MAX_VCPUS + 1;
	assert_int_equal(rl_stream_config_check(&cfg, &err), -EINVAL);
}

static void test_ram_desc(void **state)
{
	struct rl_ram_desc d = { .size = 1 << 30, .gpa = 1 << 20,
				 .backing = RL_RAM_MEMFD,
				 .flags = RL_RAM_F_SHARED | RL_RAM_F_PAGES,
				 .page_size = 2 << 20, .dev = 5, .ino = 77,
				 .chunk_shift = 12 }, o;
	unsigned char buf[RL_CFG_RAM_LEN];

	strcpy(d.name, "ram0");
	rl_ram_desc_encode(buf, &d, true);
	assert_int_equal(rl_ram_desc_decode(buf, &o, true), RL_FMT_OK);
	assert_int_equal(o.ino, 77);
	assert_int_equal(o.page_size, 2 << 20);
	d.chunk_shift = 13;
	rl_ram_desc_encode(buf, &d, true);
	assert_int_equal(rl_ram_desc_decode(buf, &o, true), RL_FMT_BAD_FIELD);
	d.flags = RL_RAM_F_SHARED;
	d.chunk_shift = 0;
	rl_ram_desc_encode(buf, &d, false);
	assert_int_equal(rl_ram_desc_decode(buf, &o, false), RL_FMT_OK);
	assert_string_equal(o.name, "ram0");
	d.flags = RL_RAM_F_PAGES; /* only sections carry pages */
	rl_ram_desc_encode(buf, &d, false);
	assert_int_equal(rl_ram_desc_decode(buf, &o, false), RL_FMT_BAD_FLAGS);
	d.flags = 0;
	d.size = 4097;
	rl_ram_desc_encode(buf, &d, false);
	assert_int_equal(rl_ram_desc_decode(buf, &o, false), RL_FMT_BAD_FIELD);

	assert_int_equal(rl_ram_chunk_shift(1 << 30), 12);
	assert_int_equal(rl_ram_chunk_shift(8ull << 30), 12);
	assert_int_equal(rl_ram_chunk_shift(16ull << 30), 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_header),
		cmocka_unit_test(test_file_header_update_id),
		cmocka_unit_test(test_section_header),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ram_desc),
		cmocka_unit_test(test_config_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
