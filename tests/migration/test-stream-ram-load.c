// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading large RAM blocks from a state file: a block whose pages span many
 * reads of the reader's queue comes back byte for byte, into a private
 * anonymous block and into a shared memfd; zero pages (short holes read
 * along with their neighbours, and long ones skipped) come back zero, and
 * in fresh memory they are never faulted in; a damaged byte in the middle
 * of the pages is refused with a message naming the block and its offset;
 * a file cut short is refused, before the load and during it; the save
 * finds the zero pages of a sparse block without faulting them in; where
 * seccomp refuses process_vm_writev the pages are still copied in.
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
#include <sys/uio.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "relive/stream.h"
#include "stream-format.h"

#define PAGE 4096u
/* Above the loader's deep-queue threshold (64 MiB): 80 reads of 1 MiB. */
#define BLOCK (80u << 20)

struct fix {
	char dir[64];
	char path[128];
	unsigned char *src;
	bool shared;		/* the block is a shared memfd */
	int memfd;
	unsigned char *dst;
	int dst_fd;
	struct rl_ram_registry reg;
	struct rl_error err;
};

/* Zero pages: 40 of every 100 (holes shorter than the loader's read gap), and 8 MiB at 24 MiB. */
static bool page_zero(uint64_t i, bool holes)
{
	if (!holes)
		return false;
	return i % 100 < 40 || (i >= (24u << 20) / PAGE && i < (32u << 20) / PAGE);
}

static uint64_t word(uint64_t off)
{
	return (off | 1) * 0x9e3779b97f4a7c15ull;
}

static void fill(unsigned char *p, bool holes)
{
	for (uint64_t i = 0; i < BLOCK / PAGE; i++) {
		uint64_t *w = (uint64_t *)(p + i * PAGE);

		if (page_zero(i, holes))
			continue;
		for (unsigned k = 0; k < PAGE / 8; k++)
			w[k] = word(i * PAGE + k * 8);
	}
}

static unsigned char *map_block(bool shared, int *fd)
{
	void *p;

	*fd = -1;
	if (shared) {
		*fd = memfd_create("ram0", MFD_CLOEXEC);
		assert_true(*fd >= 0);
		assert_int_equal(ftruncate(*fd, BLOCK), 0);
		p = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	} else {
		p = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	assert_true(p != MAP_FAILED);
	/* 4 KiB pages, so residency is per page whatever the THP setting */
	madvise(p, BLOCK, MADV_NOHUGEPAGE);
	return p;
}

static void add_block(struct rl_ram_registry *reg, bool shared, void *host, int fd)
{
	struct rl_ram_block b = {
		.name = "ram0", .size = BLOCK, .backing = shared ? RL_RAM_MEMFD : RL_RAM_ANON,
		.shared = shared, .page_size = PAGE, .fd = fd, .host = host,
	};

	rl_ram_registry_init(reg);
	assert_int_equal(rl_ram_add(reg, &b), 0);
}

/* Save a block of BLOCK bytes (with zero pages when @holes) to f->path. */
static void save(struct fix *f, bool holes)
{
	struct rl_stream_save_opts so = { .mode = RL_MODE_NORMAL };
	struct rl_ram_registry reg;
	struct rl_stream_config cfg = { .nr_vcpus = 0 };
	struct rl_stream_saver *s;

	f->src = map_block(f->shared, &f->memfd);
	fill(f->src, holes);
	add_block(&reg, f->shared, f->src, f->memfd);
	cfg.ram = &reg;
	assert_int_equal(rl_stream_save_begin(&s, f->path, &so, &f->err), 0);
	assert_int_equal(rl_stream_save_config(s, &cfg), 0);
	assert_int_equal(rl_stream_save_ram(s, &reg), 0);
	assert_int_equal(rl_stream_save_commit(s), 0);
	rl_ram_registry_free(&reg);
}

/* The new process's side: fresh memory, or memory holding 0xAA everywhere. */
static void prepare_dst(struct fix *f, bool dirty)
{
	f->dst = map_block(f->shared, &f->dst_fd);
	if (dirty)
		memset(f->dst, 0xAA, BLOCK);
	add_block(&f->reg, f->shared, f->dst, f->dst_fd);
}

static int open_verify(struct fix *f, struct rl_stream_loader **l)
{
	struct rl_stream_config cfg = { .nr_vcpus = 0, .ram = &f->reg };
	int ret = rl_stream_load_open(l, f->path, NULL, &f->err);

	if (!ret)
		ret = rl_stream_load_check_config(*l, &cfg, &f->err);
	if (!ret)
		ret = rl_stream_load_verify(*l, &f->err);
	return ret;
}

static int load(struct fix *f)
{
	struct rl_stream_loader *l = NULL;
	int ret = open_verify(f, &l);

	if (!ret)
		ret = rl_stream_load_ram(l, &f->reg, &f->err);
	rl_stream_load_close(l);
	return ret;
}

/* The file offset of ram0's pages. */
static uint64_t ram_extent(const struct fix *f)
{
	unsigned char hdr[RL_SEC_HDR_LEN];
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	uint64_t off = RL_STREAM_HDR_LEN, ext, next;

	assert_true(fd >= 0);
	for (;;) {
		struct rl_sec_hdr h;

		assert_int_equal(pread(fd, hdr, sizeof(hdr), (off_t)off), (ssize_t)sizeof(hdr));
		assert_int_equal(rl_sec_hdr_decode(hdr, &h), RL_FMT_OK);
		assert_true(rl_sec_layout(off, &h, &ext, &next));
		if (h.type == RL_SECTION_RAM && !strcmp(h.name, "ram0")) {
			close(fd);
			return ext;
		}
		off = next;
	}
}

static void setup_common(struct fix *f)
{
	strcpy(f->dir, "/tmp/relive-ram-load-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.state", f->dir);
	f->memfd = f->dst_fd = -1;
}

static int setup_anon(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	setup_common(f);
	*state = f;
	return 0;
}

static int setup_memfd(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	setup_common(f);
	f->shared = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (f->src)
		munmap(f->src, BLOCK);
	if (f->dst)
		munmap(f->dst, BLOCK);
	if (f->memfd >= 0)
		close(f->memfd);
	if (f->dst_fd >= 0)
		close(f->dst_fd);
	rl_ram_registry_free(&f->reg);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void assert_same(const struct fix *f)
{
	for (uint64_t off = 0; off < BLOCK; off += PAGE)
		if (memcmp(f->src + off, f->dst + off, PAGE))
			fail_msg("page at block offset %llu differs", (unsigned long long)off);
}

/* Every page resident at @p is a non-zero page of the source, and every one of those is. */
static void assert_zero_pages_untouched(const unsigned char *p)
{
	unsigned char *vec = malloc(BLOCK / PAGE);

	assert_non_null(vec);
	assert_int_equal(mincore((void *)p, BLOCK, vec), 0);
	for (uint64_t i = 0; i < BLOCK / PAGE; i++)
		if (!!(vec[i] & 1) == page_zero(i, true))
			fail_msg("page %llu: %s, but it is %s", (unsigned long long)i,
				 vec[i] & 1 ? "resident" : "not resident",
				 page_zero(i, true) ? "a zero page" : "loaded");
	free(vec);
}

static void many_reads(void **state)
{
	struct fix *f = *state;

	save(f, false);
	prepare_dst(f, false);
	assert_int_equal(load(f), 0);
	assert_same(f);
}

static void holes_fresh(void **state)
{
	struct fix *f = *state;

	save(f, true);
	prepare_dst(f, false);
	assert_int_equal(load(f), 0);
	/* before anything here reads the destination */
	assert_zero_pages_untouched(f->dst);
	assert_same(f);
}

/*
 * The save finds the source's zero pages without reading them: a page never
 * written is neither faulted in nor, in a memfd, allocated by the save.
 */
static void save_skips_holes(void **state)
{
	struct fix *f = *state;

	save(f, true);
	assert_zero_pages_untouched(f->src);
	prepare_dst(f, false);
	assert_int_equal(load(f), 0);
	assert_same(f);
}

static void holes_dirty(void **state)
{
	struct fix *f = *state;

	save(f, true);
	prepare_dst(f, true);
	assert_int_equal(load(f), 0);
	assert_same(f);
}

/* A block the VMM populated (prealloc) stays populated: its zero pages are cleared, not dropped. */
static void holes_populated(void **state)
{
	struct fix *f = *state;
	unsigned char *vec = malloc(BLOCK / PAGE);

	assert_non_null(vec);
	save(f, true);
	prepare_dst(f, true);
	f->reg.blocks[0].populated = true;
	assert_int_equal(load(f), 0);
	assert_int_equal(mincore(f->dst, BLOCK, vec), 0);
	for (uint64_t i = 0; i < BLOCK / PAGE; i++)
		if (!(vec[i] & 1))
			fail_msg("page %llu of a populated block was dropped", (unsigned long long)i);
	free(vec);
	assert_same(f);
}

static void corrupt_middle(void **state)
{
	struct fix *f = *state;
	uint64_t ext, bad;
	unsigned char c;
	char want[160];
	int fd;

	save(f, false);
	ext = ram_extent(f);
	bad = ext + (40u << 20) + 123;
	fd = open(f->path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)bad), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)bad), 1);
	close(fd);
	prepare_dst(f, false);
	assert_int_equal(load(f), -EINVAL);
	snprintf(want, sizeof(want), "RAM pages at offset %llu: CRC mismatch",
		 (unsigned long long)ext);
	if (!strstr(f->err.msg, "section 'ram0'") || !strstr(f->err.msg, want))
		fail_msg("message '%s' does not name ram0 and '%s'", f->err.msg, want);
}

static void truncated_before(void **state)
{
	struct fix *f = *state;
	struct rl_stream_loader *l = NULL;

	save(f, false);
	assert_int_equal(truncate(f->path, (off_t)(ram_extent(f) + (40u << 20))), 0);
	prepare_dst(f, true);
	assert_true(open_verify(f, &l) < 0);
	rl_stream_load_close(l);
	if (!strstr(f->err.msg, "vm.state"))
		fail_msg("message '%s' does not name the file", f->err.msg);
	/* refused before any page: the destination is as it was */
	for (uint64_t off = 0; off < BLOCK; off += PAGE)
		assert_int_equal(f->dst[off], 0xAA);
}

static void truncated_during(void **state)
{
	struct fix *f = *state;
	struct rl_stream_loader *l = NULL;
	int ret;

	save(f, false);
	prepare_dst(f, false);
	assert_int_equal(open_verify(f, &l), 0);
	/* cut after the verify: the load finds the end of the file first */
	assert_int_equal(truncate(f->path, (off_t)(ram_extent(f) + (40u << 20))), 0);
	ret = rl_stream_load_ram(l, &f->reg, &f->err);
	rl_stream_load_close(l);
	assert_true(ret < 0);
	if (!strstr(f->err.msg, "section 'ram0'"))
		fail_msg("message '%s' does not name ram0", f->err.msg);
}

/* In the child: process_vm_writev fails with EPERM from now on. Return: 0 or -errno. */
static int refuse_vm_writev(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_writev, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
}

static void vm_writev_refused(void **state)
{
	struct fix *f = *state;
	struct iovec l = { &(char){ 0 }, 1 }, r = { &(char){ 0 }, 1 };
	int status;
	pid_t pid;

	save(f, true);
	prepare_dst(f, false);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (refuse_vm_writev() < 0)
			_exit(77);
		if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) >= 0 || errno != EPERM)
			_exit(2);
		if (load(f))
			_exit(3);
		for (uint64_t off = 0; off < BLOCK; off += PAGE)
			if (memcmp(f->src + off, f->dst + off, PAGE))
				_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		fprintf(stderr, "SKIP: seccomp filters are not available here\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(many_reads, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(many_reads, setup_memfd, teardown),
		cmocka_unit_test_setup_teardown(holes_fresh, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(holes_fresh, setup_memfd, teardown),
		cmocka_unit_test_setup_teardown(save_skips_holes, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(save_skips_holes, setup_memfd, teardown),
		cmocka_unit_test_setup_teardown(holes_dirty, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(holes_dirty, setup_memfd, teardown),
		cmocka_unit_test_setup_teardown(holes_populated, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(corrupt_middle, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(truncated_before, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(truncated_during, setup_anon, teardown),
		cmocka_unit_test_setup_teardown(vm_writev_refused, setup_anon, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
