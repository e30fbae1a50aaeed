// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state-blob device through a real state file: its bytes come back
 * equal; a damaged extent is refused by the stream's CRC; a damaged byte
 * whose CRC was made to match is caught by the device's own check, at its
 * offset, the last partial word included. In cpr-exec the stream carries a
 * reference to the blob's memfd instead: the file does not grow with the
 * blob, the memfd is adopted when it is the right one (size, seals, bytes)
 * and refused with a message naming what is wrong otherwise.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/devices.h"
#include "relive/crc32c.h"
#include "stream-format.h"
#include "vm-error.h"

G_DEFINE_QUARK(relive-vm-error-quark, vm_error)

/* Not a multiple of 8: the last word of the pattern is partial. */
#define SIZE ((1u << 20) + 5)

struct fix {
	char *dir, *path;
	struct state_blob *b;
	unsigned char *file;
	size_t len;
	size_t sec, ext;	/* blob0/data's section header and extent */
	int fd;			/* what the lookup hands over: dup()ed, or -errno */
};

static const char *const devices[] = { "blob0", "blob0/data" };

/* Saves @b alone in @mode to f->path. Return: what state_blob_save() said (committed if 0). */
static int save_blob(struct fix *f, struct state_blob *b, enum rl_mig_mode mode)
{
	struct rl_stream_config cfg = { .devices = devices, .nr_devices = 2 };
	struct rl_stream_save_opts o = { .mode = mode };
	struct rl_error err = { { 0 } };
	struct rl_stream_saver *s;
	int ret;

	assert_int_equal(rl_stream_save_begin(&s, f->path, &o, &err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	ret = state_blob_save(b, s);
	if (ret) {
		rl_stream_save_abort(s);
		return ret;
	}
	assert_int_equal(rl_stream_save_commit(s), 0);
	return 0;
}

static void save_mode(struct fix *f, enum rl_mig_mode mode)
{
	/* as an update's CPR state does: its memfd goes in the fd table */
	if (mode == RL_MODE_CPR_EXEC || mode == RL_MODE_CPR_TRANSFER)
		f->b->in_cpr = true;
	assert_int_equal(save_blob(f, f->b, mode), 0);
	assert_true(g_file_get_contents(f->path, (char **)&f->file, &f->len, NULL));
	if (mode == RL_MODE_CPR_EXEC)
		return;
	for (size_t off = 128; off + RL_SEC_HDR_LEN <= f->len; off += 8) {
		struct rl_sec_hdr h;
		uint64_t next;

		if (rl_sec_hdr_decode(f->file + off, &h) != RL_FMT_OK ||
		    strcmp(h.name, "blob0/data"))
			continue;
		assert_true(rl_sec_layout(off, &h, &f->ext, &next));
		assert_int_equal(h.ext_len, SIZE);
		f->sec = off;
		return;
	}
	fail_msg("no section blob0/data in %s", f->path);
}

static void save(struct fix *f)
{
	save_mode(f, RL_MODE_NORMAL);
}

/* The CPR fd table of the test: a dup of f->fd, or f->fd itself when negative. */
static int lookup(const char *name, struct rl_error *err, void *opaque)
{
	struct fix *f = opaque;

	assert_string_equal(name, "state-blob:blob0");
	if (f->fd < 0)
		return f->fd;
	return dup(f->fd);
}

static void rewrite(struct fix *f)
{
	assert_true(g_file_set_contents(f->path, (char *)f->file, f->len, NULL));
}

/* Return: what loading the file into a fresh blob says; *@ok its verdict. */
static char *load(struct fix *f, gboolean *ok, struct state_blob **out)
{
	struct state_blob *n = state_blob_new("blob0", SIZE, false, NULL);
	struct rl_stream_config cfg = { .devices = devices, .nr_devices = 2 };
	struct rl_error err = { { 0 } };
	struct rl_stream_loader *l;
	GError *e = NULL;
	char *msg;

	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &err), 0);
	assert_int_equal(rl_stream_load_check_config(l, &cfg, &err), 0);
	assert_int_equal(rl_stream_load_verify(l, &err), 0);
	*ok = state_blob_load(n, l, lookup, f, &e);
	msg = g_strdup(e ? e->message : "");
	g_clear_error(&e);
	rl_stream_load_close(l);
	if (out)
		*out = n;
	else
		state_blob_free(n);
	return msg;
}

static int setup(void **state)
{
	struct fix *f = g_new0(struct fix, 1);

	f->dir = g_dir_make_tmp("relive-blob-XXXXXX", NULL);
	assert_non_null(f->dir);
	f->path = g_build_filename(f->dir, "vm.state", NULL);
	f->b = state_blob_new("blob0", SIZE, true, NULL);
	f->fd = -ENOENT;
	save(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	state_blob_free(f->b);
	g_free(f->file);
	g_free(f->path);
	g_free(f->dir);
	g_free(f);
	return 0;
}

static void test_round_trip(void **state)
{
	struct fix *f = *state;
	struct state_blob *n;
	g_autofree char *msg = NULL;
	gboolean ok;

	msg = load(f, &ok, &n);
	assert_true(ok);
	assert_string_equal(msg, "");
	assert_int_equal(n->seed, f->b->seed);
	assert_memory_equal(n->data, f->b->data, SIZE);
	assert_int_equal(n->loads, 1);
	state_blob_free(n);
}

/* A memfd of @size bytes with @seals, filled from the blob's bytes. */
static int memfd_like(struct fix *f, uint64_t size, int seals)
{
	int fd = memfd_create("state-blob:blob0", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(pwrite(fd, f->b->data, MIN(size, SIZE), 0), (ssize_t)MIN(size, SIZE));
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* cpr-exec: the file holds a reference; the blob's own memfd is adopted and checked. */
static void test_reference_adopted(void **state)
{
	struct fix *f = *state;
	struct state_blob *n;
	g_autofree char *msg = NULL;
	gboolean ok;

	g_free(f->file);
	save_mode(f, RL_MODE_CPR_EXEC);
	assert_true(f->len < SIZE);
	assert_null(memmem(f->file, f->len, f->b->data + 4096, 64));
	f->fd = f->b->fd;
	msg = load(f, &ok, &n);
	assert_true(ok);
	assert_string_equal(msg, "");
	assert_int_equal(n->seed, f->b->seed);
	assert_true(n->fd >= 0 && n->fd != f->b->fd);
	/* the same memory, not a copy */
	n->data[100] ^= 1;
	assert_int_equal(n->data[100], f->b->data[100]);
	n->data[100] ^= 1;
	assert_int_equal(n->loads, 0);
	state_blob_check_start(n);
	assert_true(state_blob_check_wait(n));
	assert_int_equal(n->loads, 1);
	state_blob_free(n);
}

/* A byte of the adopted memfd damaged: the check after the resume finds it. */
static void test_reference_damage_found_after(void **state)
{
	struct fix *f = *state;
	struct state_blob *n;
	g_autofree char *msg = NULL;
	gboolean ok;

	g_free(f->file);
	save_mode(f, RL_MODE_CPR_EXEC);
	f->fd = f->b->fd;
	msg = load(f, &ok, &n);
	assert_true(ok);
	n->data[SIZE / 2] ^= 0x40;
	state_blob_check_start(n);
	assert_false(state_blob_check_wait(n));
	assert_int_equal(n->loads, 0);
	/* and those bytes are never handed on, by reference or by value */
	assert_int_equal(save_blob(f, n, RL_MODE_CPR_EXEC), -EBADMSG);
	assert_int_equal(save_blob(f, n, RL_MODE_NORMAL), -EBADMSG);
	state_blob_free(n);
}

/*
 * Bytes loaded from a stream live in a memfd no CPR fd table holds: a
 * cpr-exec save of them (a rollback's) writes the bytes, not a reference
 * the exec would not carry.
 */
static void test_loaded_bytes_saved_as_bytes(void **state)
{
	struct fix *f = *state;
	struct state_blob *n;
	g_autofree char *msg = NULL;
	gboolean ok;

	msg = load(f, &ok, &n);
	assert_true(ok);
	assert_false(n->in_cpr);
	g_free(f->file);
	f->file = NULL;
	assert_int_equal(save_blob(f, n, RL_MODE_CPR_EXEC), 0);
	assert_true(g_file_get_contents(f->path, (char **)&f->file, &f->len, NULL));
	assert_true(f->len > SIZE);
	assert_non_null(memmem(f->file, f->len, n->data + 4096, 64));
	state_blob_free(n);
}

static void expect_refused(struct fix *f, int fd, const char *want)
{
	g_autofree char *msg = NULL;
	gboolean ok;

	g_free(f->file);
	save_mode(f, RL_MODE_CPR_EXEC);
	f->fd = fd;
	msg = load(f, &ok, NULL);
	assert_false(ok);
	if (!strstr(msg, want) || !strstr(msg, "state-blob blob0"))
		fail_msg("message '%s' lacks '%s'", msg, want);
	printf("refused: %s\n", msg);
	/* a refused fd is left open for a rollback */
	if (fd >= 0) {
		assert_true(fcntl(fd, F_GETFD) >= 0);
		close(fd);
	}
}

static void test_reference_missing(void **state)
{
	expect_refused(*state, -ENOENT, "which this process did not receive");
}

static void test_reference_wrong_size(void **state)
{
	struct fix *f = *state;

	expect_refused(f, memfd_like(f, SIZE + 4096, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		       "holds 1052677 bytes, the device has 1048581");
}

static void test_reference_unsealed(void **state)
{
	struct fix *f = *state;

	expect_refused(f, memfd_like(f, SIZE, 0), "has seals 0x0, not 0x7");
}

static void test_reference_not_memfd(void **state)
{
	struct fix *f = *state;
	g_autofree char *p = g_build_filename(f->dir, "plain", NULL);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	assert_true(fd >= 0);
	unlink(p);
	assert_int_equal(ftruncate(fd, SIZE), 0);
	expect_refused(f, fd, "is not a memfd");
}

/* The memfd of another save: right size and seals, other bytes. */
static void test_reference_stale(void **state)
{
	struct fix *f = *state;
	int fd;

	g_free(f->file);
	save_mode(f, RL_MODE_CPR_EXEC);
	fd = memfd_like(f, SIZE, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	assert_int_equal(state_blob_reseed(f->b), 0);
	expect_refused(f, fd, "does not hold the state of this stream");
}

static void test_damage_refused_by_crc(void **state)
{
	struct fix *f = *state;
	g_autofree char *msg = NULL;
	char want[160];
	gboolean ok;

	f->file[f->ext + 4096] ^= 0x10;
	rewrite(f);
	msg = load(f, &ok, NULL);
	assert_false(ok);
	snprintf(want, sizeof(want), "section 'blob0/data' at offset %zu: device state: CRC mismatch",
		 f->sec);
	if (!strstr(msg, want))
		fail_msg("message '%s' lacks '%s'", msg, want);
}

/* Damage @at and make the extent CRC match: only the device can tell. */
static void damaged_with_good_crc(struct fix *f, size_t at)
{
	g_autofree char *msg = NULL;
	struct rl_sec_hdr h;
	char want[160];
	gboolean ok;

	f->file[f->ext + at] ^= 0x01;
	assert_int_equal(rl_sec_hdr_decode(f->file + f->sec, &h), RL_FMT_OK);
	h.ext_crc = rl_crc32c(0, f->file + f->ext, SIZE);
	rl_sec_hdr_encode(f->file + f->sec, &h);
	rewrite(f);
	msg = load(f, &ok, NULL);
	assert_false(ok);
	snprintf(want, sizeof(want), "section 'blob0/data': byte at offset %zu differs from the device's pattern",
		 at);
	if (!strstr(msg, want))
		fail_msg("message '%s' lacks '%s'", msg, want);
}

static void test_damage_caught_by_device(void **state)
{
	damaged_with_good_crc(*state, 12345);
}

static void test_damage_in_last_word(void **state)
{
	damaged_with_good_crc(*state, SIZE - 2);
}

/* The bytes of another save (another seed) under this save's header. */
static void test_stale_bytes_caught(void **state)
{
	struct fix *f = *state;
	g_autofree unsigned char *old = g_memdup2(f->file + f->ext, SIZE);
	g_autofree char *msg = NULL;
	struct rl_sec_hdr h;
	gboolean ok;

	g_free(f->file);
	assert_int_equal(state_blob_reseed(f->b), 0);
	save(f);
	memcpy(f->file + f->ext, old, SIZE);
	assert_int_equal(rl_sec_hdr_decode(f->file + f->sec, &h), RL_FMT_OK);
	h.ext_crc = rl_crc32c(0, old, SIZE);
	rl_sec_hdr_encode(f->file + f->sec, &h);
	rewrite(f);
	msg = load(f, &ok, NULL);
	assert_false(ok);
	if (!strstr(msg, "differs from the device's pattern"))
		fail_msg("message '%s'", msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_refused_by_crc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_caught_by_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_in_last_word, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_bytes_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_adopted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_damage_found_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loaded_bytes_saved_as_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_wrong_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_unsealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_not_memfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_stale, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
