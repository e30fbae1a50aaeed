// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bad state streams: every byte of a small valid file flipped in turn, every
 * truncation, an unknown version, a length past the end, a duplicate section,
 * a missing footer; a sample of them from a small file (read whole at open)
 * and from one large enough for the io reader. Each is refused with a message
 * naming file, section and offset, and the destination VM keeps its sentinel
 * contents: all of them, or, for damage inside a device extent (whose CRC is
 * checked as it is read into the device), its guest RAM. Damage in RAM pages
 * is found as they land in guest RAM (read once, checked where they are).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "relive/crc32c.h"
#include "stream-format.h"
#include "synth-vm.h"

#define SENTINEL 0xAA

struct fix {
	char dir[64];
	char path[128];
	struct synth_vm vm, out;
	unsigned char *good;
	size_t size;
	size_t ram_size;			/* of ram1, whose pages end the file */
	size_t blob_sec, blob_ext, blob_end;	/* blob0's section and extent */
	struct rl_error err;
};

static void read_file(const char *path, unsigned char **data, size_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*data = malloc(st.st_size);
	assert_non_null(*data);
	assert_int_equal(pread(fd, *data, st.st_size, 0), st.st_size);
	*size = st.st_size;
	close(fd);
}

static void write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	close(fd);
}

static void find_extent(struct fix *f, const char *name)
{
	for (size_t off = 128; off + 64 <= f->size; off += 8) {
		struct rl_sec_hdr h;
		uint64_t ext, next;

		if (rl_sec_hdr_decode(f->good + off, &h) != RL_FMT_OK ||
		    strcmp(h.name, name))
			continue;
		assert_true(h.flags & RL_SEC_F_EXTENT);
		assert_true(rl_sec_layout(off, &h, &ext, &next));
		f->blob_sec = off;
		f->blob_ext = ext;
		f->blob_end = ext + h.ext_len;
		return;
	}
	fail_msg("no section %s", name);
}

static int setup_with(void **state, size_t ram_size)
{
	struct fix *f = calloc(1, sizeof(*f));

	synth_tmpdir(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/vm.state", f->dir);
	f->ram_size = ram_size;
	synth_vm_init(&f->vm, 0, ram_size);
	synth_vm_add_device(&f->vm, "serial0", 200, false, 1);
	synth_vm_add_device(&f->vm, "blob0", 4096, true, 2);
	assert_int_equal(synth_vm_save(&f->vm, f->path, NULL, &f->err), 0);
	read_file(f->path, &f->good, &f->size);
	synth_vm_empty_like(&f->out, &f->vm, SENTINEL);
	find_extent(f, "blob0");
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 16384);
}

static int setup_large(void **state)
{
	return setup_with(state, 1024 * 1024);
}

static int teardown(void **state)
{
	struct fix *f = *state;

	synth_vm_free(&f->vm);
	synth_vm_free(&f->out);
	free(f->good);
	synth_rmdir(f->dir);
	free(f);
	return 0;
}

static bool all_sentinel(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != SENTINEL)
			return false;
	return true;
}

static void assert_ram_untouched(const struct synth_vm *vm)
{
	for (unsigned i = 0; i < vm->ram.count; i++)
		assert_true(all_sentinel(vm->ram.blocks[i].host, vm->ram.blocks[i].size));
}

static void assert_untouched(const struct synth_vm *vm)
{
	assert_true(all_sentinel(vm->cpu[0], sizeof(vm->cpu)));
	for (unsigned i = 0; i < vm->nr_devices; i++)
		assert_true(all_sentinel(vm->dev_state[i], vm->dev_len[i]));
	assert_ram_untouched(vm);
}

/*
 * A byte of blob0's extent: the load reads it into the device and then finds
 * the CRC wrong. vCPU and device state before it may have been handed out;
 * guest RAM is never written. The sentinels are put back for the next case.
 */
static void refused_in_extent(struct fix *f, int ret, const char *file,
			      const char *what, size_t at)
{
	char want[256];

	snprintf(want, sizeof(want), "%s: section 'blob0' at offset %zu: device state: CRC mismatch",
		 file, f->blob_sec);
	if (ret != -EINVAL || strcmp(f->err.msg, want))
		fail_msg("%s at %zu: %d, message '%s'", what, at, ret, f->err.msg);
	assert_ram_untouched(&f->out);
	synth_vm_free(&f->out);
	synth_vm_empty_like(&f->out, &f->vm, SENTINEL);
}

/*
 * The bytes the format leaves undefined: the holes of ram1's region where
 * its zero pages would be (pages 1-3 of every 4; the loader never reads them).
 */
static bool in_hole(const struct fix *f, size_t off)
{
	size_t region = f->size - 80 - f->ram_size; /* the footer follows the region */

	return off >= region && off < region + f->ram_size && ((off - region) / 4096) % 4;
}

/* A byte of ram1's pages (the region, not its holes), in a file of full size. */
static bool in_ram_pages(const struct fix *f, size_t off, size_t size)
{
	size_t region = f->size - 80 - f->ram_size;

	return size == f->size && off >= region && off < region + f->ram_size && !in_hole(f, off);
}

/*
 * A byte of ram1's pages: they are read once, straight into guest RAM, and
 * their CRC checked as they land. The load fails naming the section and the
 * offset; what it wrote is half a load, which the VM must never run (the
 * VMM exits, or hands the guest back). The sentinels are put back.
 */
static void refused_in_ram(struct fix *f, int ret, const char *file,
			   const char *what, size_t at)
{
	char want[256];

	snprintf(want, sizeof(want), "%s: section 'ram1' at offset ", file);
	if (ret != -EINVAL || strncmp(f->err.msg, want, strlen(want)) ||
	    !strstr(f->err.msg, "RAM pages at offset") || !strstr(f->err.msg, "CRC mismatch"))
		fail_msg("%s at %zu: %d, message '%s'", what, at, ret, f->err.msg);
	synth_vm_free(&f->out);
	synth_vm_empty_like(&f->out, &f->vm, SENTINEL);
}

static bool in_extent(const struct fix *f, size_t off, size_t size)
{
	return size == f->size && off >= f->blob_ext && off < f->blob_end;
}

static void refused(struct fix *f, const void *data, size_t size,
		    const char *what, size_t at)
{
	int ret;

	memset(f->err.msg, 0, sizeof(f->err.msg));
	ret = synth_vm_load_mem(&f->out, data, size, &f->err);
	if (in_extent(f, at, size)) {
		refused_in_extent(f, ret, "vm.state", what, at);
		return;
	}
	if (in_ram_pages(f, at, size)) {
		refused_in_ram(f, ret, "vm.state", what, at);
		return;
	}
	if (ret >= 0)
		fail_msg("%s at %zu: accepted", what, at);
	if (strncmp(f->err.msg, "vm.state: ", 10) || strlen(f->err.msg) < 20)
		fail_msg("%s at %zu: message '%s'", what, at, f->err.msg);
	assert_untouched(&f->out);
}

static void test_good_file_loads(void **state)
{
	struct fix *f = *state;
	struct synth_vm out;

	assert_true(f->size < 32768);
	synth_vm_empty_like(&out, &f->vm, SENTINEL);
	assert_int_equal(synth_vm_load_mem(&out, f->good, f->size, &f->err), 0);
	assert_memory_equal(out.ram.blocks[0].host, f->vm.ram.blocks[0].host, 16384);
	synth_vm_free(&out);
}

static void test_every_byte_flipped(void **state)
{
	struct fix *f = *state;
	unsigned char *bad = malloc(f->size);

	memcpy(bad, f->good, f->size);
	for (size_t i = 0; i < f->size; i++) {
		if (in_hole(f, i))
			continue;
		bad[i] ^= 0xff;
		refused(f, bad, f->size, "flip", i);
		bad[i] ^= 0xff;
	}
	free(bad);
}

/* What a hole holds never reaches the VM: absent pages load as zero. */
static void test_holes_do_not_reach_the_vm(void **state)
{
	struct fix *f = *state;
	unsigned char *bad = malloc(f->size);
	struct synth_vm out;
	unsigned n = 0;

	memcpy(bad, f->good, f->size);
	for (size_t i = 0; i < f->size; i++)
		if (in_hole(f, i))
			bad[i] = 0x5a, n++;
	assert_int_equal(n, 3 * 4096);
	synth_vm_empty_like(&out, &f->vm, SENTINEL);
	assert_int_equal(synth_vm_load_mem(&out, bad, f->size, &f->err), 0);
	assert_memory_equal(out.ram.blocks[0].host, f->vm.ram.blocks[0].host, 16384);
	synth_vm_free(&out);
	free(bad);
}

static void test_every_truncation(void **state)
{
	struct fix *f = *state;

	for (size_t len = 0; len < f->size; len++)
		refused(f, f->good, len, "truncation", len);
}

static size_t find_section(const struct fix *f, const char *name)
{
	for (size_t off = 128; off + 64 <= f->size; off += 8) {
		struct rl_sec_hdr h;

		if (rl_sec_hdr_decode(f->good + off, &h) == RL_FMT_OK &&
		    !strcmp(h.name, name))
			return off;
	}
	fail_msg("no section %s", name);
	return 0;
}

/* A load of f->path after damage at @at: refused, naming the file. */
static void refused_file(struct fix *f, int ret, const char *what, size_t at,
			 size_t size)
{
	if (in_extent(f, at, size)) {
		refused_in_extent(f, ret, f->path, what, at);
		return;
	}
	if (in_ram_pages(f, at, size)) {
		refused_in_ram(f, ret, f->path, what, at);
		return;
	}
	if (ret >= 0)
		fail_msg("%s at %zu: accepted", what, at);
	if (!strstr(f->err.msg, f->path))
		fail_msg("%s at %zu: message '%s'", what, at, f->err.msg);
	assert_untouched(&f->out);
}

/* The same from a small file, read whole at open, on a sample of the cases. */
static void test_small_file_path(void **state)
{
	struct fix *f = *state;
	unsigned char *bad = malloc(f->size);
	size_t foot = find_section(f, "footer");
	char want[320];

	assert_true(f->size <= RL_STREAM_LOAD_WHOLE_MAX);
	memcpy(bad, f->good, f->size);
	for (size_t i = 0; i < f->size; i += 97) {
		if (in_hole(f, i))
			continue;
		bad[i] ^= 0xff;
		write_file(f->path, bad, f->size);
		bad[i] ^= 0xff;
		refused_file(f, synth_vm_load_file(&f->out, f->path, &f->err), "flip", i,
			     f->size);
	}
	for (size_t len = 0; len < f->size; len += 211) {
		write_file(f->path, f->good, len);
		refused_file(f, synth_vm_load_file(&f->out, f->path, &f->err), "truncation",
			     len, len);
	}

	write_file(f->path, f->good, foot);
	assert_int_equal(synth_vm_load_file(&f->out, f->path, &f->err), -EINVAL);
	snprintf(want, sizeof(want), "%s: truncated at offset %zu: the file ends at %zu before the footer",
		 f->path, foot, foot);
	assert_string_equal(f->err.msg, want);
	write_file(f->path, f->good, 0);
	assert_int_equal(synth_vm_load_file(&f->out, f->path, &f->err), -EINVAL);
	snprintf(want, sizeof(want), "%s: truncated header (0 bytes; a state stream starts with a 128-byte header)",
		 f->path);
	assert_string_equal(f->err.msg, want);
	assert_untouched(&f->out);
	free(bad);
}

static void flip_in_file(const char *path, size_t off)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0xff;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void flip_and_load(struct fix *f, size_t at)
{
	int ret;

	flip_in_file(f->path, at);
	ret = synth_vm_load_file(&f->out, f->path, &f->err);
	flip_in_file(f->path, at);
	refused_file(f, ret, "flip", at, f->size);
}

/*
 * The same through the io reader, from a file above RL_STREAM_LOAD_WHOLE_MAX:
 * every 97th byte before ram1's pages, bytes of its pages, every byte of the
 * footer, and truncations that leave the file above the threshold.
 */
static void test_large_file_path(void **state)
{
	struct fix *f = *state;
	size_t region = f->size - 80 - f->ram_size;
	unsigned pages = 0;

	assert_true(f->size > RL_STREAM_LOAD_WHOLE_MAX);
	write_file(f->path, f->good, f->size);
	for (size_t i = 0; i < region; i += 97)
		flip_and_load(f, i);
	for (size_t i = region; i < f->size - 80; i += 4099) {
		if (in_hole(f, i))
			continue;
		flip_and_load(f, i);
		pages++;
	}
	assert_true(pages >= 32);
	for (size_t i = f->size - 80; i < f->size; i++)
		flip_and_load(f, i);
	for (size_t len = f->size - 1; len > RL_STREAM_LOAD_WHOLE_MAX;
	     len -= len > f->size - 100 ? 1 : 8191) {
		write_file(f->path, f->good, len);
		refused_file(f, synth_vm_load_file(&f->out, f->path, &f->err), "truncation",
			     len, len);
	}
	write_file(f->path, f->good, f->size);
	assert_int_equal(synth_vm_load_file(&f->out, f->path, &f->err), 0);
	assert_memory_equal(f->out.ram.blocks[0].host, f->vm.ram.blocks[0].host, f->ram_size);
}

/*
 * A file changed after it was verified, before its RAM was read: the pages
 * are checked where they land, so the change is refused, never loaded.
 */
static void test_changed_after_verify(void **state)
{
	struct fix *f = *state;
	struct rl_stream_config cfg = synth_vm_config(&f->out);
	size_t region = f->size - 80 - f->ram_size;
	struct rl_stream_loader *l;
	int ret;

	write_file(f->path, f->good, f->size);
	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_load_check_config(l, &cfg, &f->err), 0);
	assert_int_equal(rl_stream_load_verify(l, &f->err), 0);
	flip_in_file(f->path, region + 4 * 4096 + 100);
	ret = rl_stream_load_ram(l, &f->out.ram, &f->err);
	rl_stream_load_close(l);
	refused_in_ram(f, ret, f->path, "changed after verify", region + 4 * 4096 + 100);
}

/* Rewrite the section header at @off through @fn and fix its CRC. */
static void patch_section(unsigned char *data, size_t off,
			  void (*fn)(struct rl_sec_hdr *))
{
	struct rl_sec_hdr h;

	assert_int_equal(rl_sec_hdr_decode(data + off, &h), RL_FMT_OK);
	fn(&h);
	rl_sec_hdr_encode(data + off, &h);
}

static void huge_payload(struct rl_sec_hdr *h)
{
	h->payload_len = 1u << 30;
}

static void test_specific_messages(void **state)
{
	struct fix *f = *state;
	unsigned char *bad = malloc(f->size);
	size_t cpu1 = find_section(f, "cpu/1"), foot = find_section(f, "footer");
	char want[160];
	struct rl_stream_hdr h = { .version = 2 };

	/* unknown version, with a valid header CRC */
	memcpy(bad, f->good, f->size);
	rl_stream_hdr_encode(bad, &h);
	assert_int_equal(synth_vm_load_mem(&f->out, bad, f->size, &f->err), -ENOTSUP);
	assert_string_equal(f->err.msg, "vm.state: unknown state stream version 2 (this build reads version 1)");

	/* not a stream at all */
	memcpy(bad, f->good, f->size);
	bad[0] = 'X';
	assert_int_equal(synth_vm_load_mem(&f->out, bad, f->size, &f->err), -EINVAL);
	assert_string_equal(f->err.msg, "vm.state: not a relive state stream (bad magic at offset 0)");

	/* a flipped payload byte names the section and its offset */
	memcpy(bad, f->good, f->size);
	bad[cpu1 + 64 + 10] ^= 1;
	assert_int_equal(synth_vm_load_mem(&f->out, bad, f->size, &f->err), -EINVAL);
	snprintf(want, sizeof(want), "vm.state: section 'cpu/1' at offset %zu: CRC mismatch", cpu1);
	assert_string_equal(f->err.msg, want);

	/* a length past the end of the file */
	memcpy(bad, f->good, f->size);
	patch_section(bad, cpu1, huge_payload);
	assert_int_equal(synth_vm_load_mem(&f->out, bad, f->size, &f->err), -EINVAL);
	snprintf(want, sizeof(want), "vm.state: section 'cpu/1' at offset %zu: length 1073741824 runs past the end of the file (%zu bytes)",
		 cpu1, f->size);
	assert_string_equal(f->err.msg, want);

	/* a missing footer */
	assert_int_equal(synth_vm_load_mem(&f->out, f->good, foot, &f->err), -EINVAL);
	snprintf(want, sizeof(want), "vm.state: truncated at offset %zu: the file ends at %zu before the footer",
		 foot, foot);
	assert_string_equal(f->err.msg, want);
	assert_untouched(&f->out);
	free(bad);
}

static void test_duplicate_and_missing_sections(void **state)
{
	struct fix *f = *state;
	struct rl_stream_config cfg = synth_vm_config(&f->vm);
	struct rl_stream_saver *s;
	unsigned char *data;
	size_t size;

	/* cpu/0 twice, cpu/1 never */
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rl_stream_save_section_begin(s, RL_SECTION_CPU, "cpu/0"), 0);
		assert_int_equal(rl_stream_save_put(s, "abc", 3), 0);
		assert_int_equal(rl_stream_save_section_end(s), 0);
	}
	assert_int_equal(rl_stream_save_commit(s), 0);
	read_file(f->path, &data, &size);
	assert_int_equal(synth_vm_load_mem(&f->out, data, size, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "section 'cpu/0' at offset"));
	assert_non_null(strstr(f->err.msg, "duplicate section (first at offset"));
	free(data);

	/* nothing but the configuration */
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	assert_int_equal(rl_stream_save_commit(s), 0);
	read_file(f->path, &data, &size);
	assert_int_equal(synth_vm_load_mem(&f->out, data, size, &f->err), -EINVAL);
	assert_string_equal(f->err.msg, "vm.state: section 'cpu/0' is missing");
	free(data);

	/* a vCPU the configuration does not have */
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	assert_int_equal(rl_stream_save_section_begin(s, RL_SECTION_CPU, "cpu/2"), 0);
	assert_int_equal(rl_stream_save_section_end(s), 0);
	assert_int_equal(rl_stream_save_commit(s), 0);
	read_file(f->path, &data, &size);
	assert_int_equal(synth_vm_load_mem(&f->out, data, size, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "section 'cpu/2' at offset"));
	assert_non_null(strstr(f->err.msg, "not a vCPU of this configuration (2 vCPUs)"));
	free(data);
	assert_untouched(&f->out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_byte_flipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holes_do_not_reach_the_vm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_file_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_file_path, setup_large, teardown),
		cmocka_unit_test_setup_teardown(test_changed_after_verify, setup_large, teardown),
		cmocka_unit_test_setup_teardown(test_specific_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_and_missing_sections, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
