// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * `relive-bench io`: bandwidth of the state writer on one file system,
 * against a plain 32 KiB pwrite loop (how a buffered migration file channel
 * writes) and against fio with io_uring and O_DIRECT (the device's ceiling).
 * Medians of several runs on stdout, every sample as JSON in --out.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "relive/io.h"
#include "relive/stream.h"

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)
#define SRC_MAX GiB		/* source region, reused cyclically beyond */
#define PWRITE_CHUNK (32 * 1024)

enum case_kind { K_POOL, K_IOV, K_PWRITE, K_FIO, K_STREAM };

struct io_case {
	const char *name;
	const char *what;
	enum case_kind kind;
	unsigned qd;
	unsigned bufs;
	bool direct;
	bool fallback;
};

static const struct io_case cases[] = {
	{ "writer-direct-qd1", "pool buffers, O_DIRECT, QD 1", K_POOL, 1, 8, true, false },
	{ "writer-direct-qd8", "pool buffers, O_DIRECT, QD 8", K_POOL, 8, 8, true, false },
	{ "writer-direct-qd32", "pool buffers, O_DIRECT, QD 32", K_POOL, 32, 32, true, false },
	{ "writer-iov-direct-qd32", "iovec from guest-RAM-like memory, O_DIRECT, QD 32", K_IOV, 32, 8, true, false },
	{ "writer-buffered-qd32", "pool buffers, page cache, QD 32", K_POOL, 32, 32, false, false },
	{ "writer-fallback", "pool buffers, pwritev fallback, O_DIRECT", K_POOL, 32, 8, true, true },
	{ "pwrite-32k", "plain pwrite loop, 32 KiB, page cache", K_PWRITE, 0, 0, false, false },
	{ "stream-save-ram", "state stream saver, normal mode, every RAM page touched", K_STREAM, 0, 0, true, false },
	{ "fio", "fio io_uring, O_DIRECT, bs 1M, iodepth 32", K_FIO, 32, 0, true, false },
};
#define NCASES G_N_ELEMENTS(cases)

struct sample_set {
	double *gbps;	/* one per run */
	double *open_ms; /* writer cases: rl_writer_open(), not in gbps */
	unsigned n;
	bool direct;	/* as the writer reported it */
	enum rl_io_backend backend;
	int fallback_reason;
	bool failed;
};

struct io_bench {
	const char *dir;
	GArray *sizes;		/* uint64_t */
	unsigned runs;
	gboolean sync;
	gboolean no_fio;
	gboolean no_hint;
	bool skip[16];		/* cases left out with --case */
	char *fio;		/* path, NULL when not installed or not wanted */
	uint8_t *src;
	size_t src_len;
	uint8_t *ram;		/* stream-save-ram: private RAM, every page non-zero */
	uint64_t ram_len;
	char *path;
	struct sample_set *sets; /* [size][case] */
	double load[2];		/* 1-minute load average before and after */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Return: 0 or -errno. *@secs covers the first write to the committed
 * rename; the open (ring, pool, temporary file) is timed apart, because a
 * VMM opens the writer before it stops the guest.
 */
static int run_writer(struct io_bench *b, const struct io_case *c, uint64_t size,
		      double *secs, struct sample_set *s)
{
	struct rl_io_opts o = {
		.queue_depth = c->qd, .buf_count = c->bufs, .no_direct = !c->direct,
		.force_fallback = c->fallback, .sync = b->sync,
		.size_hint = b->no_hint ? 0 : size,
	};
	struct rl_writer *w;
	uint64_t off;
	double t0 = now_s();
	size_t n, bs;
	void *buf;
	int ret;

	ret = rl_writer_open(&w, b->path, &o);
	if (ret < 0)
		return ret;
	s->open_ms[s->n] = (now_s() - t0) * 1e3;
	t0 = now_s();
	s->direct = rl_writer_is_direct(w);
	s->backend = rl_writer_backend(w);
	s->fallback_reason = rl_writer_fallback_reason(w);
	bs = rl_writer_buf_size(w);
	for (off = 0; off < size; off += n) {
		if (c->kind == K_IOV) {
			struct iovec iov;

			n = size - off < b->src_len ? (size_t)(size - off) : b->src_len;
			iov.iov_base = b->src;
			iov.iov_len = n;
			ret = rl_writer_write_iov(w, &iov, 1, off);
		} else {
			n = size - off < bs ? (size_t)(size - off) : bs;
			ret = rl_writer_buf_get(w, &buf);
			if (ret < 0)
				break;
			memcpy(buf, b->src + off % b->src_len, n);
			ret = rl_writer_buf_submit(w, buf, n, off);
		}
		if (ret < 0)
			break;
	}
	if (ret < 0) {
		rl_writer_abort(w);
		return ret;
	}
	ret = rl_writer_commit(w, size, NULL);
	*secs = now_s() - t0;
	return ret;
}

static int run_pwrite(struct io_bench *b, uint64_t size, double *secs)
{
	double t0 = now_s();
	uint64_t off;
	ssize_t n;
	int fd, ret = 0;

	fd = open(b->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (off = 0; off < size; off += (uint64_t)n) {
		size_t len = size - off < PWRITE_CHUNK ? (size_t)(size - off) : PWRITE_CHUNK;

		n = pwrite(fd, b->src + off % b->src_len, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				n = 0;
			else {
				ret = -errno;
				break;
			}
		}
	}
	if (!ret && b->sync && fdatasync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	*secs = now_s() - t0;
	return ret;
}

/* Return: fio's write bandwidth in GB/s, or a negative value on failure. */
static double run_fio(struct io_bench *b, uint64_t size)
{
	char sz[32], *out = NULL, *err = NULL, *dirarg, *namearg;
	GError *error = NULL;
	JsonParser *p;
	JsonNode *root;
	double gbps = -1;
	int status = 0;

	snprintf(sz, sizeof(sz), "--size=%llu", (unsigned long long)size);
	dirarg = g_strdup_printf("--directory=%s", b->dir);
	/* fio names its file after the job: one name per run of the bench. */
	namearg = g_strdup_printf("--name=relive-bench-io.%d", (int)getpid());
	{
		const char *argv[] = {
			b->fio, namearg, "--ioengine=io_uring",
			"--direct=1", "--bs=1M", "--iodepth=32", "--rw=write", sz,
			dirarg, "--output-format=json", "--unlink=1",
			b->sync ? "--end_fsync=1" : "--end_fsync=0", NULL,
		};

		if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
				  NULL, &out, &err, &status, &error) ||
		    !g_spawn_check_wait_status(status, &error)) {
			fprintf(stderr, "\nrelive-bench: fio failed: %s\n%s",
				error->message, err ? err : "");
			g_clear_error(&error);
			goto out;
		}
	}
	p = json_parser_new();
	/* fio may print notes before the JSON. */
	if (json_parser_load_from_data(p, strchr(out, '{') ? strchr(out, '{') : out, -1, &error)) {
		JsonObject *o;
		JsonArray *jobs;

		root = json_parser_get_root(p);
		o = json_node_get_object(root);
		jobs = o && json_object_has_member(o, "jobs") ?
			json_object_get_array_member(o, "jobs") : NULL;
		if (jobs && json_array_get_length(jobs) > 0) {
			JsonObject *job = json_array_get_object_element(jobs, 0);
			JsonObject *wr = json_object_get_object_member(job, "write");

			if (wr)
				gbps = (double)json_object_get_int_member(wr, "bw_bytes") / 1e9;
		}
	} else {
		fprintf(stderr, "\nrelive-bench: cannot parse fio's output: %s\n", error->message);
		g_clear_error(&error);
	}
	g_object_unref(p);
out:
	g_free(dirarg);
	g_free(namearg);
	g_free(out);
	g_free(err);
	return gbps;
}

static const char *fs_name(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) < 0)
		return "?";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53: return "ext4";
	case 0x01021994: return "tmpfs";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x2FC12FC1: return "zfs";
	case 0x794c7630: return "overlayfs";
	case 0x6969: return "nfs";
	default: return "other";
	}
}

/* Flush what a sample left behind so it does not slow the next one. */
static void settle(struct io_bench *b)
{
	int fd;

	unlink(b->path);
	fd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

/*
 * The whole save of a stopped VM's RAM in normal mode, as `migrate file:`
 * does it: begin (file and ring), configuration, one private RAM block of
 * @size with every page touched (zero-page scan, CRC, iovecs straight from
 * guest memory), commit (footer, fdatasync with --sync, rename).
 */
static int run_stream(struct io_bench *b, uint64_t size, double *secs)
{
	struct rl_stream_save_opts so = { .mode = RL_MODE_NORMAL };
	struct rl_ram_registry reg;
	struct rl_ram_block blk = { .name = "ram0", .size = size, .backing = RL_RAM_ANON,
				    .page_size = 4096, .fd = -1 };
	struct rl_stream_config cfg = { .nr_vcpus = 0 };
	struct rl_stream_saver *s;
	struct rl_error err = { { 0 } };
	double t0;
	int ret;

	if (b->ram_len != size) {
		if (b->ram)
			munmap(b->ram, b->ram_len);
		b->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0);
		if (b->ram == MAP_FAILED) {
			b->ram = NULL;
			b->ram_len = 0;
			return -ENOMEM;
		}
		b->ram_len = size;
		for (uint64_t off = 0; off < size; off += b->src_len)
			memcpy(b->ram + off, b->src, size - off < b->src_len ? size - off : b->src_len);
	}
	blk.host = b->ram;
	rl_ram_registry_init(&reg);
	ret = rl_ram_add(&reg, &blk);
	if (ret < 0)
		return ret;
	cfg.ram = &reg;
	so.io.sync = b->sync;
	/* the block's page bitmap (up to 256 KiB) must fit in one stream buffer */
	while (so.io.buf_size < (size / 32768 < 256 * 1024 ? size / 32768 : 256 * 1024) + 4224)
		so.io.buf_size = so.io.buf_size ? so.io.buf_size * 2 : RL_STREAM_BUF_SIZE;
	t0 = now_s();
	ret = rl_stream_save_begin(&s, b->path, &so, &err);
	if (ret == 0) {
		ret = rl_stream_save_config(s, &cfg);
		if (!ret)
			ret = rl_stream_save_ram(s, &reg);
		if (!ret)
			ret = rl_stream_save_commit(s);
		else
			rl_stream_save_abort(s);
	}
	*secs = now_s() - t0;
	rl_ram_registry_free(&reg);
	if (ret < 0 && err.msg[0])
		fprintf(stderr, "relive-bench io: %s\n", err.msg);
	unlink(b->path);
	return ret;
}

static bool run_one(struct io_bench *b, const struct io_case *c, uint64_t size,
		    struct sample_set *s)
{
	double secs = 0, gbps;
	int ret;

	switch (c->kind) {
	case K_FIO:
		gbps = run_fio(b, size);
		if (gbps < 0)
			return false;
		break;
	case K_PWRITE:
		ret = run_pwrite(b, size, &secs);
		goto timed;
	case K_STREAM:
		ret = run_stream(b, size, &secs);
		goto timed;
	default:
		ret = run_writer(b, c, size, &secs, s);
timed:
		if (ret < 0) {
			fputc('\n', stderr);
			bench_errno(b->path, ret);
			return false;
		}
		gbps = (double)size / secs / 1e9;
		break;
	}
	s->gbps[s->n++] = gbps;
	return true;
}

static double median_of(const struct sample_set *s)
{
	double *tmp = g_memdup2(s->gbps, s->n * sizeof(double));
	double m = bench_median(tmp, s->n);

	g_free(tmp);
	return m;
}

static void print_table(struct io_bench *b)
{
	char sz[32];
	unsigned si, ci;
	bool star = false;

	printf("\nrelive-bench io: %s (%s), median GB/s of %u runs, commit included, %s\n"
	       "(writer: from the first write to the renamed file; open timed apart, see 'open ms'%s)\n"
	       "(load average %.2f before, %.2f after, on %ld CPUs)\n",
	       b->dir, fs_name(b->dir), b->runs,
	       b->sync ? "fdatasync before commit" : "no fdatasync",
	       b->no_hint ? "" : ", with the blocks reserved there from the size hint",
	       b->load[0], b->load[1], sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-24s %-52s", "case", "what");
	for (si = 0; si < b->sizes->len; si++) {
		rl_size_format(g_array_index(b->sizes, uint64_t, si), RL_SIZE_SHORT, sz, sizeof(sz));
		printf(" %9s", sz);
	}
	printf(" %8s\n", "open ms");
	for (ci = 0; ci < NCASES; ci++) {
		if (b->skip[ci])
			continue;
		printf("%-24s %-52s", cases[ci].name, cases[ci].what);
		for (si = 0; si < b->sizes->len; si++) {
			struct sample_set *s = &b->sets[si * NCASES + ci];

			if (s->failed || !s->n)
				printf(" %9s", "failed");
			else {
				bool odd = (cases[ci].kind == K_POOL || cases[ci].kind == K_IOV) &&
					   s->direct != cases[ci].direct;

				star |= odd;
				printf(" %8.2f%s", median_of(s), odd ? "*" : " ");
			}
		}
		if (cases[ci].kind == K_POOL || cases[ci].kind == K_IOV) {
			struct sample_set *s = &b->sets[(b->sizes->len - 1) * NCASES + ci];
			double *tmp = g_memdup2(s->open_ms, s->n * sizeof(double));

			printf(" %8.1f", bench_median(tmp, s->n));
			g_free(tmp);
		}
		printf("\n");
	}
	if (star)
		printf("(* the file system refused O_DIRECT: that writer ran through the page cache)\n");
	for (si = 0; si < b->sizes->len; si++) {
		struct sample_set *wr = &b->sets[si * NCASES + 2];
		struct sample_set *pw = &b->sets[si * NCASES + 6];
		struct sample_set *fio = &b->sets[si * NCASES + 7];
		double mw;

		if (!wr->n)
			continue;
		mw = median_of(wr);
		rl_size_format(g_array_index(b->sizes, uint64_t, si), RL_SIZE_SHORT, sz, sizeof(sz));
		printf("%s: writer-direct-qd32", sz);
		if (pw->n)
			printf(" = %.2fx pwrite-32k (goal >= 2x)", mw / median_of(pw));
		if (fio->n)
			printf(", %.2fx fio (goal >= 0.9x)", mw / median_of(fio));
		printf("\n");
	}
}

static int write_json(struct io_bench *b, const char *outdir, const char *cmd)
{
	JsonBuilder *jb = json_builder_new();
	JsonGenerator *gen;
	JsonNode *root;
	GDateTime *dt = g_date_time_new_now_local();
	char *stamp = g_date_time_format(dt, "%Y%m%d-%H%M%S");
	char *file;
	struct utsname un;
	GError *error = NULL;
	unsigned si, ci, k;
	int ret = 0;

	uname(&un);
	json_builder_begin_object(jb);
	json_builder_set_member_name(jb, "command");
	json_builder_add_string_value(jb, cmd);
	json_builder_set_member_name(jb, "dir");
	json_builder_add_string_value(jb, b->dir);
	json_builder_set_member_name(jb, "fs");
	json_builder_add_string_value(jb, fs_name(b->dir));
	json_builder_set_member_name(jb, "kernel");
	json_builder_add_string_value(jb, un.release);
	json_builder_set_member_name(jb, "load_before");
	json_builder_add_double_value(jb, b->load[0]);
	json_builder_set_member_name(jb, "load_after");
	json_builder_add_double_value(jb, b->load[1]);
	json_builder_set_member_name(jb, "size_hint");
	json_builder_add_boolean_value(jb, !b->no_hint);
	json_builder_set_member_name(jb, "runs");
	json_builder_add_int_value(jb, b->runs);
	json_builder_set_member_name(jb, "sync");
	json_builder_add_boolean_value(jb, b->sync);
	json_builder_set_member_name(jb, "unit");
	json_builder_add_string_value(jb, "GB/s (1e9 bytes per second)");
	json_builder_set_member_name(jb, "results");
	json_builder_begin_array(jb);
	for (si = 0; si < b->sizes->len; si++) {
		for (ci = 0; ci < NCASES; ci++) {
			struct sample_set *s = &b->sets[si * NCASES + ci];

			if (!s->n)
				continue;
			json_builder_begin_object(jb);
			json_builder_set_member_name(jb, "case");
			json_builder_add_string_value(jb, cases[ci].name);
			json_builder_set_member_name(jb, "what");
			json_builder_add_string_value(jb, cases[ci].what);
			json_builder_set_member_name(jb, "bytes");
			json_builder_add_int_value(jb, (gint64)g_array_index(b->sizes, uint64_t, si));
			if (cases[ci].kind == K_POOL || cases[ci].kind == K_IOV) {
				json_builder_set_member_name(jb, "backend");
				json_builder_add_string_value(jb, rl_io_backend_name(s->backend));
				json_builder_set_member_name(jb, "direct");
				json_builder_add_boolean_value(jb, s->direct);
				json_builder_set_member_name(jb, "queue_depth");
				json_builder_add_int_value(jb, cases[ci].qd);
				json_builder_set_member_name(jb, "buffers");
				json_builder_add_int_value(jb, cases[ci].bufs);
			}
			json_builder_set_member_name(jb, "gbps");
			json_builder_begin_array(jb);
			for (k = 0; k < s->n; k++)
				json_builder_add_double_value(jb, s->gbps[k]);
			json_builder_end_array(jb);
			if (cases[ci].kind == K_POOL || cases[ci].kind == K_IOV) {
				json_builder_set_member_name(jb, "open_ms");
				json_builder_begin_array(jb);
				for (k = 0; k < s->n; k++)
					json_builder_add_double_value(jb, s->open_ms[k]);
				json_builder_end_array(jb);
			}
			json_builder_end_object(jb);
		}
	}
	json_builder_end_array(jb);
	json_builder_end_object(jb);

	root = json_builder_get_root(jb);
	gen = json_generator_new();
	json_generator_set_pretty(gen, TRUE);
	json_generator_set_root(gen, root);
	file = g_strdup_printf("%s/io-%s.json", outdir, stamp);
	if (g_mkdir_with_parents(outdir, 0755) < 0) {
		bench_errno(outdir, errno);
		ret = -1;
	} else if (!json_generator_to_file(gen, file, &error)) {
		fprintf(stderr, "relive-bench: %s: %s\n", file, error->message);
		g_clear_error(&error);
		ret = -1;
	} else {
		printf("samples: %s\n", file);
	}
	json_node_unref(root);
	g_object_unref(gen);
	g_object_unref(jb);
	g_free(file);
	g_free(stamp);
	g_date_time_unref(dt);
	return ret;
}

int bench_io(int argc, char **argv)
{
	char *dir = NULL, *size_list = NULL, *outdir = NULL, *case_list = NULL;
	gint runs = 0;
	gboolean quick = FALSE, sync = FALSE, no_fio = FALSE;
	struct io_bench b = { 0 };
	GOptionEntry entries[] = {
		{ "dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir,
		  "Directory to write in (default: /tmp); its file system is what is measured", "D" },
		{ "size", 's', 0, G_OPTION_ARG_STRING, &size_list,
		  "Comma-separated sizes (default: 256M,4G)", "S[,S...]" },
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &runs,
		  "Runs per case and size; the table shows medians (default: 5)", "N" },
		{ "quick", 'q', 0, G_OPTION_ARG_NONE, &quick,
		  "256M only, 3 runs (unless --size/--runs say otherwise)", NULL },
		{ "sync", 0, 0, G_OPTION_ARG_NONE, &sync,
		  "fdatasync before commit in every case (fio: --end_fsync=1)", NULL },
		{ "case", 'c', 0, G_OPTION_ARG_STRING, &case_list,
		  "Run only these cases (comma-separated names from the table)", "C[,C...]" },
		{ "no-hint", 0, 0, G_OPTION_ARG_NONE, &b.no_hint,
		  "Do not tell the writer the size in advance (rl_io_opts.size_hint), so "
		  "it allocates blocks while it writes", NULL },
		{ "no-fio", 0, 0, G_OPTION_ARG_NONE, &no_fio,
		  "Do not run fio even when it is installed", NULL },
		{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &outdir,
		  "Directory for the JSON file with every sample (default: bench-results)", "DIR" },
		{ NULL },
	};
	GOptionContext *ctx;
	GError *error = NULL;
	struct statvfs sv;
	uint64_t maxsize = 0, total_steps, step = 0;
	unsigned si, ci, run;
	char **parts, sz[32];
	char *args = g_strjoinv(" ", argv);
	char *cmd = g_strconcat("relive-bench ", args, NULL);
	int ret = 1, probe;
	bool tty = isatty(STDERR_FILENO);

	g_set_prgname("relive-bench io");
	ctx = g_option_context_new("- state writer bandwidth");
	g_option_context_set_summary(ctx,
		"Writes SIZE bytes with the state writer (O_DIRECT at queue depth 1, 8, 32;\n"
		"from guest-RAM-like memory; through the page cache; over the pwritev\n"
		"fallback), with a plain 32 KiB pwrite loop, and with fio (io_uring,\n"
		"O_DIRECT, 1 MiB blocks, iodepth 32) when fio is installed, all in the same\n"
		"directory. Each writer case copies from a source buffer into the registered\n"
		"pool, or hands the source over as an iovec, and commits (rename included);\n"
		"it is told the size at open (size_hint, timed with the open; --no-hint: not).\n"
		"Each file is deleted after its run. Progress goes to stderr, the table of\n"
		"medians to stdout, every sample to DIR/io-DATE.json.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "relive-bench io: %s (try --help)\n", error->message);
		g_clear_error(&error);
		goto out_ctx;
	}
	if (argc > 1) {
		fprintf(stderr, "relive-bench io: unexpected argument '%s' (try --help)\n", argv[1]);
		goto out_ctx;
	}
	if (case_list) {
		char **names = g_strsplit(case_list, ",", -1);

		for (ci = 0; ci < NCASES; ci++)
			b.skip[ci] = !g_strv_contains((const char *const *)names, cases[ci].name);
		for (si = 0; names[si]; si++) {
			for (ci = 0; ci < NCASES && strcmp(names[si], cases[ci].name); ci++)
				;
			if (ci == NCASES) {
				fprintf(stderr, "relive-bench io: unknown case '%s'\n", names[si]);
				g_strfreev(names);
				goto out_ctx;
			}
		}
		g_strfreev(names);
	}
	b.dir = dir ? dir : "/tmp";
	b.runs = runs > 0 ? (unsigned)runs : quick ? 3 : 5;
	b.sync = sync;
	if (runs < 0 || runs > 1000) {
		fprintf(stderr, "relive-bench io: --runs must be 1..1000\n");
		goto out_ctx;
	}
	b.sizes = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	parts = g_strsplit(size_list ? size_list : quick ? "256M" : "256M,4G", ",", -1);
	for (si = 0; parts[si]; si++) {
		uint64_t v;

		if (rl_size_parse(parts[si], 1, &v) < 0 || !v) {
			fprintf(stderr, "relive-bench io: bad size '%s' (e.g. 256M, 4G)\n", parts[si]);
			g_strfreev(parts);
			goto out_sizes;
		}
		g_array_append_val(b.sizes, v);
		if (v > maxsize)
			maxsize = v;
	}
	g_strfreev(parts);

	if (statvfs(b.dir, &sv) < 0) {
		bench_errno(b.dir, errno);
		goto out_sizes;
	}
	if ((uint64_t)sv.f_bavail * sv.f_frsize < maxsize + maxsize / 8) {
		fprintf(stderr, "relive-bench io: %s: not enough free space for %s (%llu MiB free)\n",
			b.dir, rl_size_format(maxsize, RL_SIZE_SHORT, sz, sizeof(sz)),
			(unsigned long long)((uint64_t)sv.f_bavail * sv.f_frsize / MiB));
		goto out_sizes;
	}

	probe = rl_io_probe();
	if (probe < 0)
		fprintf(stderr, "relive-bench: io_uring unavailable (%s): the writer falls back "
			"to pwritev in every case\n", g_strerror(-probe));
	if (!no_fio) {
		b.fio = g_find_program_in_path("fio");
		if (!b.fio)
			fprintf(stderr, "relive-bench: fio is not installed: no device ceiling "
				"to compare with (apt-get install fio)\n");
	}

	b.src_len = maxsize < SRC_MAX ? (size_t)maxsize : SRC_MAX;
	b.src_len = (b.src_len + MiB - 1) & ~(size_t)(MiB - 1);
	b.src = mmap(NULL, b.src_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b.src == MAP_FAILED) {
		bench_errno("source buffer", errno);
		goto out_sizes;
	}
	/* Pre-touched, not zero: the pages exist before the clock starts. */
	for (size_t i = 0; i < b.src_len; i += 8) {
		uint64_t v = i * 0x9e3779b97f4a7c15ull;

		memcpy(b.src + i, &v, 8);
	}
	b.path = g_strdup_printf("%s/relive-bench-io.%d.state", b.dir, (int)getpid());
	b.sets = g_new0(struct sample_set, b.sizes->len * NCASES);
	for (si = 0; si < b.sizes->len * NCASES; si++) {
		b.sets[si].gbps = g_new0(double, b.runs);
		b.sets[si].open_ms = g_new0(double, b.runs);
	}

	for (ci = 0; ci < NCASES; ci++)
		if (cases[ci].kind == K_FIO && !b.fio)
			b.skip[ci] = true;
	for (ci = 0, total_steps = 0; ci < NCASES; ci++)
		total_steps += !b.skip[ci];
	total_steps *= (uint64_t)b.sizes->len * b.runs;
	getloadavg(&b.load[0], 1);
	/* Runs interleave the cases, so a slow phase of the device hits them all. */
	for (si = 0; si < b.sizes->len; si++) {
		uint64_t size = g_array_index(b.sizes, uint64_t, si);

		rl_size_format(size, RL_SIZE_SHORT, sz, sizeof(sz));
		for (run = 0; run < b.runs; run++) {
			if (!tty)
				fprintf(stderr, "relive-bench io: %s run %u/%u\n", sz,
					run + 1, b.runs);
			for (ci = 0; ci < NCASES; ci++) {
				struct sample_set *s = &b.sets[si * NCASES + ci];

				if (b.skip[ci])
					continue;
				++step;
				if (tty)
					fprintf(stderr, "\r[%3llu/%llu] %5s run %u/%u %-24s",
						(unsigned long long)step,
						(unsigned long long)total_steps, sz,
						run + 1, b.runs, cases[ci].name);
				if (!s->failed && !run_one(&b, &cases[ci], size, s))
					s->failed = true;
				settle(&b);
			}
		}
	}
	getloadavg(&b.load[1], 1);
	if (tty)
		fprintf(stderr, "\r%70s\r", "");
	for (ci = 0; ci < NCASES; ci++) {
		struct sample_set *s = &b.sets[ci];

		if ((cases[ci].kind == K_POOL || cases[ci].kind == K_IOV) && s->n &&
		    s->backend == RL_IO_FALLBACK && !cases[ci].fallback) {
			fprintf(stderr, "relive-bench: the writer used the pwritev fallback: "
				"%s\n", g_strerror(-s->fallback_reason));
			break;
		}
	}
	print_table(&b);
	ret = write_json(&b, outdir ? outdir : "bench-results", cmd) < 0;
	for (si = 0; si < b.sizes->len * NCASES; si++) {
		g_free(b.sets[si].gbps);
		g_free(b.sets[si].open_ms);
		if (b.sets[si].failed)
			ret = 1;
	}
	g_free(b.sets);
	g_free(b.path);
	g_free(b.fio);
	munmap(b.src, b.src_len);
out_sizes:
	g_array_free(b.sizes, TRUE);
out_ctx:
	g_option_context_free(ctx);
	g_free(dir);
	g_free(size_list);
	g_free(outdir);
	g_free(case_list);
	g_free(args);
	g_free(cmd);
	return ret;
}
