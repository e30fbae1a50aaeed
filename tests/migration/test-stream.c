// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * State stream round trips through real files: a synthetic VM with 2 vCPUs,
 * devices (one of 4 MiB through the iovec path), a shared memfd block kept in
 * place and a private block with zero pages; small files read whole and
 * larger ones through the io reader; configuration mismatches; abort and
 * failed saves leaving nothing behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "synth-vm.h"

#define MiB (1024 * 1024ull)

struct fix {
	char dir[64];
	char path[128];
	struct rl_error err;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	synth_tmpdir(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/vm.state", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	synth_rmdir(f->dir);
	free(f);
	return 0;
}

static unsigned count_files(const char *dir)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(dir);

	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Does the file contain the 8 bytes the shared block has at each page start? */
static bool file_has(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "re");
	char buf[4096];
	size_t n;
	bool found = false;

	assert_non_null(fp);
	while (!found && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
		found = memmem(buf, n, needle, strlen(needle)) != NULL;
	fclose(fp);
	return found;
}

static void assert_same(const struct synth_vm *a, const struct synth_vm *b)
{
	assert_memory_equal(a->cpu, b->cpu, sizeof(a->cpu));
	for (unsigned i = 0; i < a->nr_devices; i++)
		assert_memory_equal(a->dev_state[i], b->dev_state[i], a->dev_len[i]);
	for (unsigned i = 0; i < a->ram.count; i++)
		assert_memory_equal(a->ram.blocks[i].host, b->ram.blocks[i].host,
				    a->ram.blocks[i].size);
}

static void add_devices(struct synth_vm *vm)
{
	synth_vm_add_device(vm, "serial0", 300, false, 1);
	synth_vm_add_device(vm, "rtc0", 2000, false, 2);
	synth_vm_add_device(vm, "blob0", 4 * MiB, true, 3);
}

/* cpr-reboot with x-ignore-shared: the memfd stays in place, ram1 is written. */
/* The shared block stands for a shared memory-backend-file, which cpr-reboot keeps. */
static void shared_as_file(struct synth_vm *vm)
{
	vm->ram.blocks[0].backing = RL_RAM_FILE;
}

static void test_round_trip_cpr(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_CPR_REBOOT,
					    .ignore_shared = true };
	struct synth_vm vm, out;
	struct stat st;

	synth_vm_init(&vm, 64 * MiB, 8 * MiB);
	shared_as_file(&vm);
	add_devices(&vm);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* metadata + 4 MiB blob + 8 MiB region: nothing of the 64 MiB block */
	assert_true((uint64_t)st.st_size < 13 * MiB);
	assert_false(file_has(f->path, "SHAREDPG"));
	/* a quarter of ram1's pages are non-zero: the rest are holes */
	assert_true((uint64_t)st.st_blocks * 512 < 4 * MiB + 3 * MiB);
	assert_int_equal(count_files(f->dir), 1);

	synth_vm_empty_like(&out, &vm, 0xAA);
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), 0);
	assert_same(&vm, &out);
	synth_vm_free(&out);
	synth_vm_free(&vm);
}

/* cpr-exec with only shared RAM: the file is the device state only. */
static void test_round_trip_cpr_exec(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_CPR_EXEC };
	struct rl_stream_loader *l;
	struct synth_vm vm, out;
	struct stat st;

	synth_vm_init(&vm, 256 * MiB, 0);
	synth_vm_add_device(&vm, "serial0", 300, false, 1);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(st.st_size < 8192);
	assert_false(file_has(f->path, "SHAREDPG"));

	synth_vm_empty_like(&out, &vm, 0x55);
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), 0);
	assert_same(&vm, &out);

	/* A different memfd under the same name is refused, RAM untouched. */
	close(out.memfd);
	out.memfd = memfd_create("ram0", MFD_CLOEXEC);
	assert_int_equal(ftruncate(out.memfd, 256 * MiB), 0);
	out.ram.blocks[0].fd = out.memfd;
	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_load_verify(l, &f->err), 0);
	assert_int_equal(rl_stream_load_mode(l), RL_MODE_CPR_EXEC);
	assert_int_equal(rl_stream_load_ram(l, &out.ram, &f->err), -ESTALE);
	assert_non_null(strstr(f->err.msg, "RAM block ram0: fd"));
	assert_non_null(strstr(f->err.msg, "is not the memfd saved in vm.state"));
	rl_stream_load_close(l);
	synth_vm_free(&out);
	synth_vm_free(&vm);
}

/* Normal mode writes every block's pages, shared ones included. */
static void test_round_trip_normal(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_NORMAL };
	struct synth_vm vm, out;

	synth_vm_init(&vm, 1 * MiB, 1 * MiB);
	add_devices(&vm);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_true(file_has(f->path, "SHAREDPG"));
	synth_vm_empty_like(&out, &vm, 0xAA);
	/* the new process has its own, empty memfd */
	close(out.memfd);
	out.memfd = memfd_create("ram0", MFD_CLOEXEC);
	assert_int_equal(ftruncate(out.memfd, 1 * MiB), 0);
	munmap(out.ram.blocks[0].host, MiB);
	out.ram.blocks[0].fd = out.memfd;
	out.ram.blocks[0].host = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
				      MAP_SHARED, out.memfd, 0);
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), 0);
	assert_same(&vm, &out);
	synth_vm_free(&out);
	synth_vm_free(&vm);
}

/*
 * A device list the loader would refuse (a name twice, a name too long for
 * a section) is refused by the saver too, naming the device: nothing is
 * written that cannot be loaded.
 */
static void test_save_refuses_what_load_refuses(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_NORMAL };
	struct synth_vm vm;

	synth_vm_init(&vm, 0, 1 * MiB);
	synth_vm_add_device(&vm, "serial0", 300, false, 1);
	synth_vm_add_device(&vm, "serial0", 300, false, 2);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "device 'serial0' listed twice"));
	synth_vm_free(&vm);

	{
		const char *names[] = { "machine", "a-device-id-of-27-characters/data" };
		struct rl_stream_config cfg = { .nr_vcpus = 1, .devices = names, .nr_devices = 2 };
		struct rl_stream_saver *s;

		assert_int_equal(rl_stream_save_begin(&s, f->path, &opts, &f->err), 0);
		assert_int_equal(rl_stream_save_config(s, &cfg), -EINVAL);
		rl_stream_save_abort(s);
		assert_non_null(strstr(f->err.msg, "device name 'a-device-id-of-27-characters/data' is longer than 31 characters"));
	}
}

/*
 * The update identity: a stream written for update A loads under A, under
 * no CPR state (want NULL), and is refused under B naming both; a stream
 * without one is refused under any identity and loads without.
 */
static void test_update_id(void **state)
{
	struct fix *f = *state;
	struct rl_update_id a, b, got;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_CPR_EXEC, .update_id = &a };
	struct rl_stream_loader *l;
	struct synth_vm vm;
	char hex[2 * RL_UPDATE_ID_LEN + 1];

	assert_int_equal(rl_update_id_new(&a), 0);
	assert_int_equal(rl_update_id_new(&b), 0);
	assert_memory_not_equal(a.b, b.b, RL_UPDATE_ID_LEN);
	synth_vm_init(&vm, 1 * MiB, 1 * MiB);
	add_devices(&vm);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_load_update_id(l, &got), 0);
	assert_memory_equal(got.b, a.b, RL_UPDATE_ID_LEN);
	assert_int_equal(rl_stream_load_check_update(l, &a, &f->err), 0);
	assert_int_equal(rl_stream_load_check_update(l, NULL, &f->err), 0);
	assert_int_equal(rl_stream_load_check_update(l, &b, &f->err), -ESTALE);
	rl_update_id_format(&a, hex);
	assert_non_null(strstr(f->err.msg, hex));
	rl_update_id_format(&b, hex);
	assert_non_null(strstr(f->err.msg, hex));
	rl_stream_load_close(l);

	opts.update_id = NULL;
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_load_update_id(l, &got), -ENOENT);
	assert_int_equal(rl_stream_load_check_update(l, NULL, &f->err), 0);
	assert_int_equal(rl_stream_load_check_update(l, &a, &f->err), -ESTALE);
	rl_stream_load_close(l);
	synth_vm_free(&vm);
}

/*
 * cpr-reboot with x-ignore-shared keeps only shared files in place: a
 * shared memfd dies with the process, so its pages are written, block by
 * block, whatever the other blocks are.
 */
static void test_cpr_reboot_ignore_shared_writes_memfd(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_CPR_REBOOT, .ignore_shared = true };
	struct synth_vm vm;

	synth_vm_init(&vm, 1 * MiB, 0);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_true(file_has(f->path, "SHAREDPG"));
	synth_vm_free(&vm);
}

/* cpr-reboot without x-ignore-shared writes shared blocks too. */
static void test_cpr_reboot_writes_shared(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_CPR_REBOOT };
	struct synth_vm vm;

	synth_vm_init(&vm, 1 * MiB, 0);
	assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
	assert_true(file_has(f->path, "SHAREDPG"));
	synth_vm_free(&vm);
}

/* Small buffers: sections cross buffer boundaries; the fallback backend. */
static void test_many_sections_small_buffers(void **state)
{
	struct fix *f = *state;
	struct rl_stream_save_opts opts = { .mode = RL_MODE_NORMAL,
		.io = { .buf_size = 16384, .buf_count = 2, .queue_depth = 4 } };
	struct synth_vm vm, out;
	char name[32];

	for (int fallback = 0; fallback < 2; fallback++) {
		opts.io.force_fallback = fallback;
		synth_vm_init(&vm, 0, 64 * 1024);
		for (unsigned i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "dev%u", i);
			synth_vm_add_device(&vm, name, 100 + i * 150, i % 9 == 8, i);
		}
		assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
		synth_vm_empty_like(&out, &vm, 0xAA);
		assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), 0);
		assert_same(&vm, &out);
		synth_vm_free(&out);
		synth_vm_free(&vm);
	}
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/*
 * Load f->path into a fresh copy of @vm and compare. Return: the fds the open
 * left open: none when the file was read whole, its file (and ring) when the
 * io reader reads it.
 */
static unsigned load_counting_fds(struct fix *f, const struct synth_vm *vm)
{
	struct rl_stream_loader *l;
	struct synth_vm out;
	unsigned before, held;

	synth_vm_empty_like(&out, vm, 0xAA);
	before = count_files("/proc/self/fd");
	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), 0);
	held = count_files("/proc/self/fd") - before;
	assert_int_equal(synth_vm_apply(&out, l, &f->err), 0);
	rl_stream_load_close(l);
	assert_int_equal(count_files("/proc/self/fd"), before);
	assert_same(vm, &out);
	synth_vm_free(&out);
	return held;
}

/*
 * Every kind of section (vCPUs, inline devices, a device extent, a block kept
 * in place, a block with pages) from a file below RL_STREAM_LOAD_WHOLE_MAX and
 * from one above it, in a mode read through the page cache and in one read
 * with O_DIRECT.
 */
static void test_small_and_large_files(void **state)
{
	static const struct {
		enum rl_mig_mode mode;
		uint64_t priv;
		bool whole;
	} cases[] = {
		{ RL_MODE_CPR_EXEC, 128 * 1024, true },
		{ RL_MODE_CPR_EXEC, 2 * MiB, false },
		{ RL_MODE_CPR_REBOOT, 128 * 1024, true },
		{ RL_MODE_CPR_REBOOT, 2 * MiB, false },
	};
	struct fix *f = *state;
	struct synth_vm vm;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rl_stream_save_opts opts = { .mode = cases[i].mode,
						    .ignore_shared = true };
		uint64_t size;

		synth_vm_init(&vm, 4 * MiB, cases[i].priv);
		if (cases[i].mode == RL_MODE_CPR_REBOOT)
			shared_as_file(&vm);
		synth_vm_add_device(&vm, "serial0", 300, false, 1);
		synth_vm_add_device(&vm, "rtc0", 2000, false, 2);
		synth_vm_add_device(&vm, "blob0", 64 * 1024, true, 3);
		assert_int_equal(synth_vm_save(&vm, f->path, &opts, &f->err), 0);
		size = file_size(f->path);
		if (cases[i].whole) {
			assert_true(size <= RL_STREAM_LOAD_WHOLE_MAX);
			assert_int_equal(load_counting_fds(f, &vm), 0);
		} else {
			assert_true(size > RL_STREAM_LOAD_WHOLE_MAX);
			assert_true(load_counting_fds(f, &vm) > 0);
		}
		synth_vm_free(&vm);
	}
}

/* No RAM, a 448 KiB device extent and an inline device of @tail bytes. */
static void threshold_vm(struct synth_vm *vm, size_t tail)
{
	synth_vm_init(vm, 0, 0);
	synth_vm_add_device(vm, "blob0", 448 * 1024, true, 1);
	synth_vm_add_device(vm, "tail", tail, false, 2);
}

/* A file of exactly RL_STREAM_LOAD_WHOLE_MAX bytes is read whole, 8 more are not. */
static void test_threshold(void **state)
{
	struct fix *f = *state;
	struct synth_vm vm;
	uint64_t size;
	size_t tail;

	threshold_vm(&vm, 1024);
	assert_int_equal(synth_vm_save(&vm, f->path, NULL, &f->err), 0);
	size = file_size(f->path);
	synth_vm_free(&vm);
	/* the inline payload ends 8-aligned, and the footer follows it */
	assert_true(size < RL_STREAM_LOAD_WHOLE_MAX);
	tail = 1024 + (size_t)(RL_STREAM_LOAD_WHOLE_MAX - size);

	threshold_vm(&vm, tail);
	assert_int_equal(synth_vm_save(&vm, f->path, NULL, &f->err), 0);
	assert_int_equal(file_size(f->path), RL_STREAM_LOAD_WHOLE_MAX);
	assert_int_equal(load_counting_fds(f, &vm), 0);
	synth_vm_free(&vm);

	threshold_vm(&vm, tail + 8);
	assert_int_equal(synth_vm_save(&vm, f->path, NULL, &f->err), 0);
	assert_int_equal(file_size(f->path), RL_STREAM_LOAD_WHOLE_MAX + 8);
	assert_true(load_counting_fds(f, &vm) > 0);
	synth_vm_free(&vm);
}

/* Small or large, the last component must not be a symlink, nor a directory. */
static void test_symlink_and_directory(void **state)
{
	struct fix *f = *state;
	struct rl_stream_loader *l;
	struct synth_vm vm;
	char link[160];

	snprintf(link, sizeof(link), "%s/link.state", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	for (uint64_t priv = 64 * 1024; priv <= 2 * MiB; priv *= 32) {
		synth_vm_init(&vm, 0, priv);
		assert_int_equal(synth_vm_save(&vm, f->path, NULL, &f->err), 0);
		assert_int_equal(file_size(f->path) <= RL_STREAM_LOAD_WHOLE_MAX,
				 priv < MiB);
		assert_int_equal(rl_stream_load_open(&l, link, NULL, &f->err), -ELOOP);
		assert_non_null(strstr(f->err.msg, link));
		assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), 0);
		rl_stream_load_close(l);
		synth_vm_free(&vm);
	}
	assert_int_equal(rl_stream_load_open(&l, f->dir, NULL, &f->err), -EISDIR);
	assert_non_null(strstr(f->err.msg, f->dir));
}

static void test_mismatch_messages(void **state)
{
	struct fix *f = *state;
	struct synth_vm vm, out;

	synth_vm_init(&vm, 0, 8 * MiB);
	add_devices(&vm);
	assert_int_equal(synth_vm_save(&vm, f->path, NULL, &f->err), 0);

	synth_vm_empty_like(&out, &vm, 0xAA);
	out.nr_vcpus = 1;
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), -EINVAL);
	assert_string_equal(f->err.msg + strlen(f->path),
			    ": vCPU count: 2 in vm.state, 1 here");
	out.nr_vcpus = 2;

	out.ram.blocks[0].size = 16 * MiB;
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), -EINVAL);
	assert_string_equal(f->err.msg + strlen(f->path),
			    ": RAM block ram1: size 8 MiB in vm.state, 16 MiB here");
	out.ram.blocks[0].size = 8 * MiB;

	out.ram.blocks[0].gpa = 0;
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg,
			       "RAM block ram1: guest-physical address 0x100000000 in vm.state, 0x0 here"));
	out.ram.blocks[0].gpa = 1ull << 32;

	strcpy(out.ram.blocks[0].name, "ramX");
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "RAM block ram1: in vm.state (8 MiB), not here"));
	strcpy(out.ram.blocks[0].name, "ram1");

	out.devices[1] = "rtc1";
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "device 1: 'rtc0' in vm.state, 'rtc1' here"));
	out.devices[1] = out.dev_names[1];

	out.nr_devices = 2;
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "device count: 3 in vm.state, 2 here"));
	out.nr_devices = 3;

	/* None of the refusals touched anything. */
	for (unsigned i = 0; i < 8 * MiB; i += 4096)
		assert_int_equal(((unsigned char *)out.ram.blocks[0].host)[i], 0xAA);
	assert_int_equal(out.dev_state[2][0], 0xAA);
	assert_int_equal(synth_vm_load_file(&out, f->path, &f->err), 0);
	assert_same(&vm, &out);
	synth_vm_free(&out);
	synth_vm_free(&vm);
}

static void test_abort_and_failure_leave_nothing(void **state)
{
	struct fix *f = *state;
	struct rl_stream_saver *s;
	struct synth_vm vm;
	struct rl_stream_config cfg;
	struct stat st;
	void *p;
	int fd;

	synth_vm_init(&vm, 0, 0);
	cfg = synth_vm_config(&vm);
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	rl_stream_save_abort(s);
	assert_int_equal(count_files(f->dir), 0);

	/* An old file survives a failed save untouched. */
	fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_int_equal(write(fd, "old", 3), 3);
	close(fd);
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	assert_int_equal(rl_stream_save_section_begin(s, RL_SECTION_CPU, "cpu/0"), 0);
	assert_int_equal(rl_stream_save_reserve(s, 64 * MiB, &p), -EMSGSIZE);
	assert_non_null(strstr(f->err.msg, "rl_stream_save_device_iov"));
	assert_int_equal(rl_stream_save_section_end(s), -EMSGSIZE);
	assert_int_equal(rl_stream_save_commit(s), -EMSGSIZE);
	assert_int_equal(count_files(f->dir), 1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 3);

	/* Misuse is refused with a message. */
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_section_begin(s, RL_SECTION_CPU, "cpu/0"), -EINVAL);
	assert_non_null(strstr(f->err.msg, "before the configuration"));
	rl_stream_save_abort(s);
	assert_int_equal(rl_stream_save_begin(&s, f->path, NULL, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	assert_int_equal(rl_stream_save_section_begin(s, RL_SECTION_DEVICE, "bad name"), -EINVAL);
	rl_stream_save_abort(s);
	assert_int_equal(count_files(f->dir), 1);
	synth_vm_free(&vm);
}

static void test_missing_file(void **state)
{
	struct fix *f = *state;
	struct rl_stream_loader *l;

	assert_int_equal(rl_stream_load_open(&l, f->path, NULL, &f->err), -ENOENT);
	assert_non_null(strstr(f->err.msg, "vm.state"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_cpr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_cpr_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_normal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_refuses_what_load_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpr_reboot_ignore_shared_writes_memfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpr_reboot_writes_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_sections_small_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_and_large_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatch_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_and_failure_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
