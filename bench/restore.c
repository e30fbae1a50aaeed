// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `relive-bench restore`: how fast librelive's restore reads a normal-mode
 * state file into fresh guest memory, against fio reading the same file
 * sequentially with O_DIRECT (the device's read ceiling). The state file is
 * written once with the stream saver (the path relive-vm's normal and
 * cpr-reboot saves take); the runs then alternate restore and fio, so a slow
 * phase of the device hits both alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "relive/io.h"
#include "relive/stream.h"

#define MiB (1024ull * 1024)
#define PAGE 4096ull

enum backing { B_ANON, B_MEMFD };

struct restore_bench {
	const char *dir;
	char *tmpdir;
	char *path;
	char *fio;
	uint64_t size;		/* guest RAM */
	unsigned zero_pct;	/* share of zero pages */
	enum backing backing;
	uint64_t file_size, data_bytes;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Guest memory as relive-vm maps it: an anonymous private mapping
 * (memory-backend-ram, -m) or a shared memfd (memory-backend-memfd).
 * Return: the mapping, or NULL with errno set; *@fd is the memfd or -1.
 */
static uint8_t *map_ram(const struct restore_bench *b, int *fd)
{
	void *p;

	*fd = -1;
	if (b->backing == B_ANON) {
		p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	*fd = memfd_create("relive-bench-ram", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	if (ftruncate(*fd, (off_t)b->size) < 0)
		goto fail;
	p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p != MAP_FAILED)
		return p;
fail:
	{
		int e = errno;

		close(*fd);
		*fd = -1;
		errno = e;
	}
	return NULL;
}

static void unmap_ram(const struct restore_bench *b, uint8_t *ram, int fd)
{
	munmap(ram, b->size);
	if (fd >= 0)
		close(fd);
}

/* @reg holds the one block "ram0" of @b at @ram (@fd for a memfd). Return: 0 or -errno. */
static int registry_for(const struct restore_bench *b, struct rl_ram_registry *reg,
			uint8_t *ram, int fd)
{
	struct rl_ram_block blk = { .name = "ram0" };

	blk.size = b->size;
	blk.backing = b->backing == B_ANON ? RL_RAM_ANON : RL_RAM_MEMFD;
	blk.shared = b->backing == B_MEMFD;
	blk.page_size = PAGE;
	blk.fd = fd;
	blk.host = ram;
	rl_ram_registry_init(reg);
	return rl_ram_add(reg, &blk);
}

/* Page @i is zero in the first --zero-pct pages of every hundred. */
static bool page_is_zero(const struct restore_bench *b, uint64_t i)
{
	return i % 100 < b->zero_pct;
}

/* The guest's content, the same in the saved RAM and in the check after a run. */
static uint64_t word_at(uint64_t off)
{
	return (off | 1) * 0x9e3779b97f4a7c15ull;
}

/* Write the state file of a guest whose RAM is --size with --zero-pct zero pages. */
static int write_state(struct restore_bench *b)
{
	struct rl_stream_save_opts so = { .mode = RL_MODE_NORMAL };
	struct rl_stream_config cfg = { .nr_vcpus = 0 };
	struct rl_error err = { { 0 } };
	struct rl_ram_registry reg;
	struct rl_stream_saver *s;
	uint8_t *ram;
	int fd, ret;

	ram = map_ram(b, &fd);
	if (!ram)
		return -errno;
	for (uint64_t i = 0; i < b->size / PAGE; i++) {
		uint64_t *w = (uint64_t *)(ram + i * PAGE);

		if (page_is_zero(b, i))
			continue;
		for (unsigned k = 0; k < PAGE / 8; k++)
			w[k] = word_at(i * PAGE + k * 8);
	}
	ret = registry_for(b, &reg, ram, fd);
	if (ret < 0)
		goto out;
	cfg.ram = &reg;
	/* On the disk before it is dropped from the page cache. */
	so.io.sync = true;
	/* the block's page bitmap (up to 256 KiB) must fit in one stream buffer */
	while (so.io.buf_size < (b->size / 32768 < 256 * 1024 ? b->size / 32768 : 256 * 1024) + 4224)
		so.io.buf_size = so.io.buf_size ? so.io.buf_size * 2 : RL_STREAM_BUF_SIZE;
	ret = rl_stream_save_begin(&s, b->path, &so, &err);
	if (ret == 0) {
		ret = rl_stream_save_config(s, &cfg);
		if (!ret)
			ret = rl_stream_save_ram(s, &reg);
		if (!ret) {
			b->file_size = rl_stream_save_size(s);
			b->data_bytes = rl_stream_save_data_bytes(s);
			ret = rl_stream_save_commit(s);
		} else {
			rl_stream_save_abort(s);
		}
	}
	if (ret < 0 && err.msg[0])
		fprintf(stderr, "relive-bench restore: %s\n", err.msg);
out:
	rl_ram_registry_free(&reg);
	unmap_ram(b, ram, fd);
	return ret;
}

/* Neither run may find the file in the page cache. */
static void drop_cache(const struct restore_bench *b)
{
	int fd = open(b->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* Spot-check that the restored RAM is the saved guest's: one word per MiB and the zero pages. */
static bool check_ram(const struct restore_bench *b, const uint8_t *ram)
{
	for (uint64_t off = 0; off < b->size; off += MiB + PAGE) {
		uint64_t i = off / PAGE, v;

		memcpy(&v, ram + off, 8);
		if (v != (page_is_zero(b, i) ? 0 : word_at(off)))
			return false;
	}
	return true;
}

/*
 * One restore as relive-vm's machine_load() does it, RAM-wise: open, check
 * the configuration, verify, load RAM into fresh memory. Timed from the open
 * to the last page; the mapping is made before and removed after.
 */
static int run_restore(const struct restore_bench *b, double *secs, double *ram_secs)
{
	struct rl_stream_config cfg = { .nr_vcpus = 0 };
	struct rl_error err = { { 0 } };
	struct rl_stream_loader *l = NULL;
	struct rl_ram_registry reg;
	uint8_t *ram;
	double t0, t1;
	int fd, ret;

	ram = map_ram(b, &fd);
	if (!ram)
		return -errno;
	ret = registry_for(b, &reg, ram, fd);
	if (ret < 0)
		goto out;
	cfg.ram = &reg;
	t0 = now_s();
	ret = rl_stream_load_open(&l, b->path, NULL, &err);
	if (!ret)
		ret = rl_stream_load_check_config(l, &cfg, &err);
	if (!ret)
		ret = rl_stream_load_verify(l, &err);
	t1 = now_s();
	if (!ret)
		ret = rl_stream_load_ram(l, &reg, &err);
	*secs = now_s() - t0;
	*ram_secs = now_s() - t1;
	rl_stream_load_close(l);
	if (ret < 0)
		fprintf(stderr, "relive-bench restore: %s\n", err.msg[0] ? err.msg : strerror(-ret));
	else if (!check_ram(b, ram)) {
		fprintf(stderr, "relive-bench restore: the restored RAM differs from the saved RAM\n");
		ret = -EIO;
	}
out:
	rl_ram_registry_free(&reg);
	unmap_ram(b, ram, fd);
	return ret;
}

/* Return: fio's read bandwidth of the state file in GB/s, or a negative value. */
static double run_fio(const struct restore_bench *b, unsigned qd)
{
	char *out = NULL, *errout = NULL;
	GError *error = NULL;
	double gbps = -1;
	int status = 0;
	/* whole blocks only: O_DIRECT reads stop at the last full 1 MiB */
	char *file = g_strdup_printf("--filename=%s", b->path);
	char *size = g_strdup_printf("--size=%llu", (unsigned long long)(b->file_size & ~(MiB - 1)));
	char *depth = g_strdup_printf("--iodepth=%u", qd);
	const char *argv[] = {
		b->fio, "--name=relive-bench-restore", file, size, "--ioengine=io_uring",
		"--direct=1", "--bs=1M", depth, "--rw=read", "--readonly",
		"--output-format=json", NULL,
	};
	JsonParser *p;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
			  &errout, &status, &error) ||
	    !g_spawn_check_wait_status(status, &error)) {
		fprintf(stderr, "relive-bench restore: fio failed: %s\n%s", error->message,
			errout ? errout : "");
		g_clear_error(&error);
		goto out;
	}
	p = json_parser_new();
	/* fio may print notes before the JSON. */
	if (json_parser_load_from_data(p, strchr(out, '{') ? strchr(out, '{') : out, -1, &error)) {
		JsonObject *o = json_node_get_object(json_parser_get_root(p));
		JsonArray *jobs = o && json_object_has_member(o, "jobs") ?
			json_object_get_array_member(o, "jobs") : NULL;

		if (jobs && json_array_get_length(jobs) > 0) {
			JsonObject *job = json_array_get_object_element(jobs, 0);
			JsonObject *rd = json_object_get_object_member(job, "read");

			if (rd)
				gbps = (double)json_object_get_int_member(rd, "bw_bytes") / 1e9;
		}
	} else {
		fprintf(stderr, "relive-bench restore: cannot parse fio's output: %s\n",
			error->message);
		g_clear_error(&error);
	}
	g_object_unref(p);
out:
	g_free(file);
	g_free(size);
	g_free(depth);
	g_free(out);
	g_free(errout);
	return gbps;
}

int bench_restore(int argc, char **argv)
{
	char *dir = NULL, *size_arg = NULL, *backing = NULL, sz[32];
	gint runs = 5, zero_pct = 0, qd = 32;
	gboolean no_fio = FALSE;
	GOptionEntry entries[] = {
		{ "dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir,
		  "Directory for the state file (default: /tmp); its file system is what is "
		  "measured", "D" },
		{ "size", 's', 0, G_OPTION_ARG_STRING, &size_arg,
		  "Guest RAM (default: 4G)", "S" },
		{ "zero-pct", 'z', 0, G_OPTION_ARG_INT, &zero_pct,
		  "Percentage of zero pages, 0..100 (default: 0): the first P pages of every "
		  "hundred, saved as holes", "P" },
		{ "backing", 'b', 0, G_OPTION_ARG_STRING, &backing,
		  "Guest memory restored into: ram (anonymous private, memory-backend-ram) or "
		  "memfd (shared, memory-backend-memfd) (default: ram)", "B" },
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &runs,
		  "Runs of each, alternated; medians are shown (default: 5)", "N" },
		{ "iodepth", 0, 0, G_OPTION_ARG_INT, &qd,
		  "fio's queue depth (default: 32)", "Q" },
		{ "no-fio", 0, 0, G_OPTION_ARG_NONE, &no_fio,
		  "Do not run fio even when it is installed", NULL },
		{ NULL },
	};
	struct restore_bench b = { 0 };
	double *rs, *rram, *fs;
	unsigned nr = 0, nf = 0;
	GOptionContext *ctx;
	GError *error = NULL;
	struct statvfs sv;
	int ret = 1, r;

	g_set_prgname("relive-bench restore");
	ctx = g_option_context_new("- restore bandwidth against fio");
	g_option_context_set_summary(ctx,
		"Writes the normal-mode state file of a guest of SIZE bytes of RAM (non-zero\n"
		"pages but for --zero-pct) with librelive's stream saver, fdatasyncs it, then\n"
		"alternates N runs of (a) librelive's restore (open, configuration check,\n"
		"verify, RAM load) into freshly mapped guest memory and (b) fio reading the\n"
		"same file sequentially (io_uring, O_DIRECT, 1 MiB blocks, iodepth Q). Before\n"
		"each run the file is dropped from the page cache with\n"
		"posix_fadvise(POSIX_FADV_DONTNEED) (not drop_caches, which would empty the\n"
		"whole host's cache). The restore's bandwidth is SIZE over its time (zero\n"
		"pages are holes in the file: they count as restored); fio's is its own\n"
		"figure over the file. A spot check of the restored RAM (not timed) fails\n"
		"the run if it differs. The file lives in a private 0700 directory under\n"
		"--dir, mode 0600, and is removed at the end. Needs SIZE bytes of free\n"
		"memory (one guest mapped at a time) and of disk space.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "relive-bench restore: %s (try --help)\n", error->message);
		g_clear_error(&error);
		goto out_ctx;
	}
	if (argc > 1) {
		fprintf(stderr, "relive-bench restore: unexpected argument '%s' (try --help)\n",
			argv[1]);
		goto out_ctx;
	}
	if (rl_size_parse(size_arg ? size_arg : "4G", 1, &b.size) < 0 || !b.size ||
	    b.size % PAGE) {
		fprintf(stderr, "relive-bench restore: bad --size '%s' (a multiple of 4 KiB, "
			"e.g. 1G, 4G)\n", size_arg);
		goto out_ctx;
	}
	if (zero_pct < 0 || zero_pct > 100 || runs < 1 || runs > 1000 || qd < 1 || qd > 4096) {
		fprintf(stderr, "relive-bench restore: --zero-pct must be 0..100, --runs 1..1000, "
			"--iodepth 1..4096\n");
		goto out_ctx;
	}
	if (!backing || !strcmp(backing, "ram")) {
		b.backing = B_ANON;
	} else if (!strcmp(backing, "memfd")) {
		b.backing = B_MEMFD;
	} else {
		fprintf(stderr, "relive-bench restore: unknown --backing '%s' (ram or memfd)\n",
			backing);
		goto out_ctx;
	}
	b.zero_pct = (unsigned)zero_pct;
	b.dir = dir ? dir : "/tmp";
	if (statvfs(b.dir, &sv) < 0) {
		bench_errno(b.dir, errno);
		goto out_ctx;
	}
	if ((uint64_t)sv.f_bavail * sv.f_frsize < b.size + b.size / 8) {
		fprintf(stderr, "relive-bench restore: %s: not enough free space for %s\n", b.dir,
			rl_size_format(b.size, RL_SIZE_SHORT, sz, sizeof(sz)));
		goto out_ctx;
	}
	if (!no_fio) {
		b.fio = g_find_program_in_path("fio");
		if (!b.fio)
			fprintf(stderr, "relive-bench restore: fio is not installed: no device "
				"ceiling to compare with (apt-get install fio)\n");
	}
	b.tmpdir = g_build_filename(b.dir, "relive-bench-restore.XXXXXX", NULL);
	if (!g_mkdtemp_full(b.tmpdir, 0700)) {
		bench_errno(b.tmpdir, errno);
		goto out_ctx;
	}
	b.path = g_build_filename(b.tmpdir, "vm.state", NULL);

	rl_size_format(b.size, RL_SIZE_SHORT, sz, sizeof(sz));
	fprintf(stderr, "relive-bench restore: writing the state of a %s guest (%u%% zero pages)\n",
		sz, b.zero_pct);
	r = write_state(&b);
	if (r < 0) {
		bench_errno(b.path, -r);
		goto out_file;
	}
	rs = g_new0(double, runs);
	rram = g_new0(double, runs);
	fs = g_new0(double, runs);
	for (int run = 0; run < runs; run++) {
		double secs = 0, ram_secs = 0, gbps;

		drop_cache(&b);
		r = run_restore(&b, &secs, &ram_secs);
		if (r < 0)
			goto out_runs;
		rs[nr] = (double)b.size / secs / 1e9;
		rram[nr++] = ram_secs * 1e3;
		printf("run %d: restore %.2f GB/s (%.0f ms, RAM load %.0f ms)", run + 1, rs[nr - 1],
		       secs * 1e3, ram_secs * 1e3);
		if (b.fio) {
			drop_cache(&b);
			gbps = run_fio(&b, (unsigned)qd);
			if (gbps <= 0)
				goto out_runs;
			fs[nf++] = gbps;
			printf(", fio %.2f GB/s", gbps);
		}
		printf("\n");
		fflush(stdout);
	}
	printf("\nstate file: %s in %s (%s; %llu bytes, %llu of data), page cache dropped with "
	       "posix_fadvise(DONTNEED) before each run\n",
	       b.path, b.dir, b.backing == B_ANON ? "restored into anonymous private memory" :
	       "restored into a shared memfd", (unsigned long long)b.file_size,
	       (unsigned long long)b.data_bytes);
	{
		double mr = bench_median(rs, nr), mram = bench_median(rram, nr);

		printf("restore (librelive, %s guest, %u%% zero pages)  median %.2f GB/s "
		       "(RAM load %.0f ms)\n", sz, b.zero_pct, mr, mram);
		if (nf) {
			double mf = bench_median(fs, nf);

			printf("fio (io_uring, O_DIRECT, bs 1M, iodepth %d, read)  median %.2f GB/s\n",
			       qd, mf);
			printf("restore / fio: %.2f (goal >= 0.80)\n", mr / mf);
		}
	}
	ret = 0;
out_runs:
	g_free(rs);
	g_free(rram);
	g_free(fs);
out_file:
	unlink(b.path);
	rmdir(b.tmpdir);
out_ctx:
	g_option_context_free(ctx);
	g_free(b.path);
	g_free(b.tmpdir);
	g_free(b.fio);
	g_free(dir);
	g_free(size_arg);
	g_free(backing);
	return ret;
}
