// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading the state stream. Opening reads the header and the configuration;
 * verifying reads every section and checks every CRC, the order, duplicates
 * and the footer, keeping the small payloads in memory. Only then does
 * anything reach the VM: vCPU and device payloads are handed out, RAM pages
 * are read into place. A file that fails any check leaves guest RAM alone.
 * Device extents are the one part read once, into the device, with their
 * CRC checked on the way: large device state is read inside the pause.
 * A small file is read whole at open and loaded from memory, as a stream
 * handed in by the caller is: an io ring costs more to set up than it saves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/error-internal.h"
#include "relive/crc32c.h"
#include "relive/size.h"
#include "ram-put.h"
#include "stream-format.h"

/*
 * From this file size on, the reader gets RL_STREAM_LOAD_DEEP_BUF_COUNT
 * buffers of RL_STREAM_LOAD_DEEP_BUF_SIZE, all kept in flight while RAM
 * streams in (docs/migration.md has the measurements). Below, the small
 * pool of the save side: setting up a large one costs more than it saves.
 */
#define RL_STREAM_LOAD_DEEP_MIN (64ull << 20)
#define RL_STREAM_LOAD_DEEP_BUF_SIZE (1u << 20)
#define RL_STREAM_LOAD_DEEP_BUF_COUNT 16u

struct sec {
	struct rl_sec_hdr h;
	uint64_t off;
	uint64_t ext_off;
	unsigned char *payload;
	struct rl_ram_desc ram;	/* RAM sections */
};

struct rl_stream_loader {
	char name[256];		/* for messages */
	struct rl_reader *r;	/* a file, or */
	const unsigned char *mem; /* memory: the caller's, or */
	unsigned char *own;	  /* a small file read whole */
	uint64_t size;
	struct rl_stream_hdr hdr;

	unsigned nr_vcpus, nr_devices, nr_ram;
	struct rl_ram_desc *cfg_ram;
	char (*cfg_dev)[RL_CFG_DEV_LEN];
	uint64_t cfg_next;	/* the section after the configuration */

	struct sec *secs;
	unsigned nsecs, cap;
	bool verified;
};

__attribute__((format(printf, 4, 5)))
static int lerr(const struct rl_stream_loader *l, struct rl_error *err,
		int ret, const char *fmt, ...)
{
	char msg[RL_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rl_err_set(err, "%s: %s", l->name, msg);
	return ret;
}

#define SEC_ERR(l, err, ret, s, fmt, ...)                                     \
	lerr(l, err, ret, "section '%s' at offset %llu: " fmt, (s)->h.name,   \
	     (unsigned long long)(s)->off, ##__VA_ARGS__)

static int src_read_iov(struct rl_stream_loader *l, const struct iovec *iov,
			int iovcnt, uint64_t off)
{
	uint64_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (off > l->size || total > l->size - off)
		return -ENODATA;
	if (l->r)
		return rl_reader_read_iov(l->r, iov, iovcnt, off);
	for (int i = 0; i < iovcnt; i++) {
		memcpy(iov[i].iov_base, l->mem + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static int src_read(struct rl_stream_loader *l, void *dst, size_t len,
		    uint64_t off)
{
	struct iovec iov = { .iov_base = dst, .iov_len = len };

	return src_read_iov(l, &iov, 1, off);
}

static const char *fmt_reason(enum rl_fmt_err e)
{
	switch (e) {
	case RL_FMT_BAD_MAGIC:
		return "bad magic";
	case RL_FMT_BAD_VERSION:
		return "unknown version";
	case RL_FMT_BAD_LENGTH:
		return "bad length";
	case RL_FMT_BAD_CRC:
		return "CRC mismatch";
	case RL_FMT_BAD_NAME:
		return "bad name";
	case RL_FMT_BAD_TYPE:
		return "unknown section type";
	case RL_FMT_BAD_FLAGS:
		return "unknown flags";
	default:
		return "bad field";
	}
}

static int check_zero(struct rl_stream_loader *l, uint64_t off, uint64_t len,
		      const struct sec *s, struct rl_error *err)
{
	unsigned char buf[RL_IO_ALIGN];
	int ret;

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);

		ret = src_read(l, buf, n, off);
		if (ret < 0)
			return SEC_ERR(l, err, ret, s, "read: %s", strerror(-ret));
		for (size_t i = 0; i < n; i++)
			if (buf[i])
				return SEC_ERR(l, err, -EINVAL, s, "non-zero padding at offset %llu",
					       (unsigned long long)(off + i));
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * Read the section at @off: header checks, bounds of payload and extent,
 * payload read and CRC-checked into s->payload (caller frees).
 * Return: 0 and *@next, or -errno with @err.
 */
static int read_section(struct rl_stream_loader *l, uint64_t off,
			struct sec *s, uint64_t *next, struct rl_error *err)
{
	unsigned char raw[RL_SEC_HDR_LEN];
	enum rl_fmt_err fe;
	uint64_t pend;
	int ret;

	memset(s, 0, sizeof(*s));
	s->off = off;
	if (off > l->size || l->size - off < RL_SEC_HDR_LEN)
		return lerr(l, err, -EINVAL, "truncated at offset %llu: the file ends at %llu before the footer",
			    (unsigned long long)off, (unsigned long long)l->size);
	ret = src_read(l, raw, sizeof(raw), off);
	if (ret < 0)
		return lerr(l, err, ret, "read at offset %llu: %s",
			    (unsigned long long)off, strerror(-ret));
	fe = rl_sec_hdr_decode(raw, &s->h);
	if (fe == RL_FMT_BAD_MAGIC)
		return lerr(l, err, -EINVAL, "no section header at offset %llu (bad magic): the file is corrupt",
			    (unsigned long long)off);
	if (fe != RL_FMT_OK)
		return lerr(l, err, -EINVAL, "section header at offset %llu: %s",
			    (unsigned long long)off, fmt_reason(fe));
	pend = off + RL_SEC_HDR_LEN + s->h.payload_len;
	if (!rl_sec_layout(off, &s->h, &s->ext_off, next) || pend > l->size ||
	    *next > l->size)
		return SEC_ERR(l, err, -EINVAL, s, "length %llu runs past the end of the file (%llu bytes)",
			       (unsigned long long)(s->h.payload_len + s->h.ext_len),
			       (unsigned long long)l->size);
	s->payload = malloc(s->h.payload_len ? s->h.payload_len : 1);
	if (!s->payload)
		return SEC_ERR(l, err, -ENOMEM, s, "no memory for %u bytes",
			       s->h.payload_len);
	ret = src_read(l, s->payload, s->h.payload_len, off + RL_SEC_HDR_LEN);
	if (ret < 0) {
		free(s->payload);
		s->payload = NULL;
		return SEC_ERR(l, err, ret, s, "read: %s", strerror(-ret));
	}
	if (rl_crc32c(0, s->payload, s->h.payload_len) != s->h.payload_crc) {
		free(s->payload);
		s->payload = NULL;
		return SEC_ERR(l, err, -EINVAL, s, "CRC mismatch");
	}
	/* Padding carries no CRC: it must be zero, so that no byte goes unchecked. */
	if (s->h.flags & RL_SEC_F_EXTENT)
		ret = check_zero(l, pend, s->ext_off - pend, s, err) ?:
		      check_zero(l, s->ext_off + s->h.ext_len,
				 *next - s->ext_off - s->h.ext_len, s, err);
	else
		ret = check_zero(l, pend, *next - pend, s, err);
	if (ret < 0) {
		free(s->payload);
		s->payload = NULL;
	}
	return ret;
}

/* The stream's device list through the check the saver made. */
static int check_stream_devices(struct rl_stream_loader *l, const struct sec *s,
				struct rl_error *err)
{
	const char **names = calloc(l->nr_devices + 1, sizeof(*names));
	struct rl_stream_config cfg = { .nr_vcpus = l->nr_vcpus };
	struct rl_error cerr = { { 0 } };
	int ret;

	if (!names)
		return SEC_ERR(l, err, -ENOMEM, s, "no memory");
	for (unsigned i = 0; i < l->nr_devices; i++)
		names[i] = l->cfg_dev[i];
	cfg.devices = names;
	cfg.nr_devices = l->nr_devices;
	ret = rl_stream_config_check(&cfg, &cerr);
	free(names);
	if (ret)
		return SEC_ERR(l, err, ret, s, "%s", cerr.msg);
	return 0;
}

static int parse_config(struct rl_stream_loader *l, const struct sec *s,
			struct rl_error *err)
{
	const unsigned char *p = s->payload;
	uint64_t want;

	if (s->h.type != RL_SECTION_CONFIG || strcmp(s->h.name, "config") ||
	    (s->h.flags & RL_SEC_F_EXTENT))
		return SEC_ERR(l, err, -EINVAL, s, "expected the configuration section first");
	if (s->h.payload_len < RL_CFG_FIXED_LEN)
		return SEC_ERR(l, err, -EINVAL, s, "configuration too short (%u bytes)",
			       s->h.payload_len);
	l->nr_vcpus = rl_get32(p);
	l->nr_devices = rl_get32(p + 4);
	l->nr_ram = rl_get32(p + 8);
	if (rl_get32(p + 12) || l->nr_vcpus > RL_STREAM_MAX_VCPUS ||
	    l->nr_devices > RL_STREAM_MAX_DEVICES || l->nr_ram > RL_STREAM_MAX_RAM)
		return SEC_ERR(l, err, -EINVAL, s, "bad counts (%u vCPUs, %u devices, %u RAM blocks)",
			       l->nr_vcpus, l->nr_devices, l->nr_ram);
	want = RL_CFG_FIXED_LEN + (uint64_t)l->nr_ram * RL_CFG_RAM_LEN +
	       (uint64_t)l->nr_devices * RL_CFG_DEV_LEN;
	if (want != s->h.payload_len)
		return SEC_ERR(l, err, -EINVAL, s, "configuration of %u bytes, its counts need %llu",
			       s->h.payload_len, (unsigned long long)want);
	l->cfg_ram = calloc(l->nr_ram + 1, sizeof(*l->cfg_ram));
	l->cfg_dev = calloc(l->nr_devices + 1, sizeof(*l->cfg_dev));
	if (!l->cfg_ram || !l->cfg_dev)
		return SEC_ERR(l, err, -ENOMEM, s, "no memory");
	p += RL_CFG_FIXED_LEN;
	for (unsigned i = 0; i < l->nr_ram; i++, p += RL_CFG_RAM_LEN) {
		if (rl_ram_desc_decode(p, &l->cfg_ram[i], false) != RL_FMT_OK)
			return SEC_ERR(l, err, -EINVAL, s, "RAM block %u: bad descriptor", i);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(l->cfg_ram[j].name, l->cfg_ram[i].name))
				return SEC_ERR(l, err, -EINVAL, s, "RAM block '%s' listed twice",
					       l->cfg_ram[i].name);
	}
	for (unsigned i = 0; i < l->nr_devices; i++, p += RL_CFG_DEV_LEN) {
		memcpy(l->cfg_dev[i], p, RL_CFG_DEV_LEN);
		if (!rl_name_valid(l->cfg_dev[i], RL_CFG_DEV_LEN, false))
			return SEC_ERR(l, err, -EINVAL, s, "device %u: bad name", i);
	}
	return check_stream_devices(l, s, err);
}

static int load_start(struct rl_stream_loader *l, struct rl_error *err)
{
	unsigned char raw[RL_STREAM_HDR_LEN];
	enum rl_fmt_err fe;
	struct sec s;
	int ret;

	if (l->size < RL_STREAM_HDR_LEN)
		return lerr(l, err, -EINVAL, "truncated header (%llu bytes; a state stream starts with a %u-byte header)",
			    (unsigned long long)l->size, RL_STREAM_HDR_LEN);
	ret = src_read(l, raw, sizeof(raw), 0);
	if (ret < 0)
		return lerr(l, err, ret, "read of the header: %s", strerror(-ret));
	fe = rl_stream_hdr_decode(raw, &l->hdr);
	if (fe == RL_FMT_BAD_MAGIC)
		return lerr(l, err, -EINVAL, "not a relive state stream (bad magic at offset 0)");
	if (fe == RL_FMT_BAD_VERSION)
		return lerr(l, err, -ENOTSUP, "unknown state stream version %u (this build reads version %u)",
			    l->hdr.version, RL_STREAM_VERSION);
	if (fe != RL_FMT_OK)
		return lerr(l, err, -EINVAL, "header at offset 0: %s", fmt_reason(fe));
	ret = read_section(l, RL_STREAM_HDR_LEN, &s, &l->cfg_next, err);
	if (ret < 0)
		return ret;
	ret = parse_config(l, &s, err);
	free(s.payload);
	return ret;
}

static bool read_through_cache(const unsigned char *raw)
{
	struct rl_stream_hdr h;

	/*
	 * The saver writes cpr-exec and cpr-transfer streams through the page
	 * cache and the next process reads them at once: a direct read would
	 * first wait for the dirty pages to reach the disk, inside the pause.
	 * A header that does not decode is left to load_start() to report.
	 */
	if (rl_stream_hdr_decode(raw, &h) != RL_FMT_OK)
		return false;
	return h.mode == RL_MODE_CPR_EXEC || h.mode == RL_MODE_CPR_TRANSFER;
}

/* Return: 0 and the bytes read in *@got (fewer at end of file), or -errno. */
static int pread_full(int fd, unsigned char *buf, size_t len, size_t *got)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = RL_FAILPOINT("stream.load.read") ? -1 : pread(fd, buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

/*
 * Open @path as rl_reader_open() does (the last component not a symlink, a
 * regular file). Up to RL_STREAM_LOAD_WHOLE_MAX bytes, read it whole into
 * l->own: one pread costs less than a ring and its registered buffers.
 * Return: 1 when it was read, 0 for a larger file with *@cached saying
 * whether the reader should stay in the page cache and *@size its size, or
 * -errno.
 */
static int read_small(struct rl_stream_loader *l, const char *path, bool *cached,
		      uint64_t *size)
{
	unsigned char raw[RL_STREAM_HDR_LEN];
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = RL_FAILPOINT("stream.load.open") ? -1 : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	*size = (uint64_t)st.st_size;
	if ((uint64_t)st.st_size > RL_STREAM_LOAD_WHOLE_MAX) {
		ret = pread_full(fd, raw, sizeof(raw), &got);
		*cached = !ret && got == sizeof(raw) && read_through_cache(raw);
		ret = 0;
		goto out;
	}
	l->own = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!l->own) {
		ret = -ENOMEM;
		goto out;
	}
	/* A file that shrank since the fstat is loaded as it is now: truncated. */
	ret = pread_full(fd, l->own, (size_t)st.st_size, &got);
	if (!ret) {
		l->mem = l->own;
		l->size = got;
		ret = 1;
	}
out:
	close(fd);
	return ret;
}

static struct rl_stream_loader *loader_new(const char *name)
{
	struct rl_stream_loader *l = calloc(1, sizeof(*l));

	if (l)
		snprintf(l->name, sizeof(l->name), "%s", name ? name : "(stream)");
	return l;
}

int rl_stream_load_open(struct rl_stream_loader **out, const char *path,
			const struct rl_io_opts *opts, struct rl_error *err)
{
	struct rl_stream_loader *l = loader_new(path);
	struct rl_io_opts io = { 0 };
	uint64_t fsize = 0;
	bool cached = false;
	int ret;

	if (!l)
		return -ENOMEM;
	ret = read_small(l, path, &cached, &fsize);
	if (ret < 0)
		goto fail;
	if (!ret) {
		/* A small pool, as for saving: it is set up inside the new process's pause. */
		if (opts)
			io = *opts;
		/*
		 * A large file is mostly RAM: a deep queue of large reads keeps
		 * the device busy while each piece is checked and put in place,
		 * and reading that RAM dwarfs the larger pool's setup.
		 */
		if (fsize >= RL_STREAM_LOAD_DEEP_MIN && !io.buf_size && !io.buf_count) {
			io.buf_size = RL_STREAM_LOAD_DEEP_BUF_SIZE;
			io.buf_count = RL_STREAM_LOAD_DEEP_BUF_COUNT;
		}
		if (!io.buf_size)
			io.buf_size = RL_STREAM_BUF_SIZE;
		if (!io.buf_count)
			io.buf_count = RL_STREAM_BUF_COUNT;
		if (cached)
			io.no_direct = true;
		ret = rl_reader_open(&l->r, path, &io);
		if (ret < 0)
			goto fail;
		l->size = rl_reader_size(l->r);
	}
	ret = load_start(l, err);
	if (ret < 0) {
		rl_stream_load_close(l);
		return ret;
	}
	*out = l;
	return 0;
fail:
	lerr(l, err, ret, "%s", strerror(-ret));
	rl_stream_load_close(l);
	return ret;
}

int rl_stream_load_open_mem(struct rl_stream_loader **out, const void *data,
			    size_t size, const char *name, struct rl_error *err)
{
	struct rl_stream_loader *l = loader_new(name);
	int ret;

	if (!l)
		return -ENOMEM;
	l->mem = data;
	l->size = size;
	ret = load_start(l, err);
	if (ret < 0) {
		rl_stream_load_close(l);
		return ret;
	}
	*out = l;
	return 0;
}

static const struct rl_ram_desc *cfg_ram_find(const struct rl_stream_loader *l,
					      const char *name)
{
	for (unsigned i = 0; i < l->nr_ram; i++)
		if (!strcmp(l->cfg_ram[i].name, name))
			return &l->cfg_ram[i];
	return NULL;
}

static bool cfg_dev_has(const struct rl_stream_loader *l, const char *name)
{
	for (unsigned i = 0; i < l->nr_devices; i++)
		if (!strcmp(l->cfg_dev[i], name))
			return true;
	return false;
}

/* The name the file is known by in "... in vm.state, ... here". */
static const char *base_name(const struct rl_stream_loader *l)
{
	const char *b = strrchr(l->name, '/');

	return b ? b + 1 : l->name;
}

int rl_stream_load_update_id(const struct rl_stream_loader *l,
			     struct rl_update_id *id)
{
	if (!(l->hdr.flags & RL_STREAM_F_UPDATE_ID))
		return -ENOENT;
	*id = l->hdr.update_id;
	return 0;
}

int rl_stream_load_check_update(struct rl_stream_loader *l,
				const struct rl_update_id *want,
				struct rl_error *err)
{
	char w[2 * RL_UPDATE_ID_LEN + 1], h[2 * RL_UPDATE_ID_LEN + 1];
	struct rl_update_id have;

	if (!want)
		return 0;
	rl_update_id_format(want, w);
	if (rl_stream_load_update_id(l, &have) < 0)
		return lerr(l, err, -ESTALE, "this process was started by update %s, but the stream belongs to no update: load the state file that update wrote",
			    w);
	if (memcmp(have.b, want->b, RL_UPDATE_ID_LEN)) {
		rl_update_id_format(&have, h);
		return lerr(l, err, -ESTALE, "written by update %s, but this process was started by update %s: load the state file of its own update",
			    h, w);
	}
	return 0;
}

int rl_stream_load_check_config(struct rl_stream_loader *l,
				const struct rl_stream_config *here,
				struct rl_error *err)
{
	const struct rl_ram_registry *ram = here->ram;
	unsigned nram = ram ? ram->count : 0;
	const char *f = base_name(l);
	struct rl_error cerr = { { 0 } };
	char a[32], b[32];

	if (RL_FAILPOINT("stream.load.check-config"))
		return lerr(l, err, -errno, "configuration check: %s", strerror(errno));
	if (rl_stream_config_check(here, &cerr))
		return lerr(l, err, -EINVAL, "this VM's configuration cannot be loaded into: %s",
			    cerr.msg);
	if (l->nr_vcpus != here->nr_vcpus)
		return lerr(l, err, -EINVAL, "vCPU count: %u in %s, %u here",
			    l->nr_vcpus, f, here->nr_vcpus);
	for (unsigned i = 0; i < l->nr_ram; i++) {
		const struct rl_ram_desc *d = &l->cfg_ram[i];
		const struct rl_ram_block *blk = ram ? rl_ram_find(ram, d->name) : NULL;

		if (!blk)
			return lerr(l, err, -EINVAL, "RAM block %s: in %s (%s), not here",
				    d->name, f, rl_size_format(d->size, RL_SIZE_LONG, a, sizeof(a)));
		if (blk->size != d->size)
			return lerr(l, err, -EINVAL, "RAM block %s: size %s in %s, %s here",
				    d->name, rl_size_format(d->size, RL_SIZE_LONG, a, sizeof(a)), f,
				    rl_size_format(blk->size, RL_SIZE_LONG, b, sizeof(b)));
		if (blk->gpa != d->gpa)
			return lerr(l, err, -EINVAL, "RAM block %s: guest-physical address 0x%llx in %s, 0x%llx here",
				    d->name, (unsigned long long)d->gpa, f,
				    (unsigned long long)blk->gpa);
	}
	for (unsigned i = 0; i < nram; i++)
		if (!cfg_ram_find(l, ram->blocks[i].name))
			return lerr(l, err, -EINVAL, "RAM block %s: here (%s), not in %s",
				    ram->blocks[i].name,
				    rl_size_format(ram->blocks[i].size, RL_SIZE_LONG, a, sizeof(a)), f);
	if (l->nr_devices != here->nr_devices)
		return lerr(l, err, -EINVAL, "device count: %u in %s, %u here",
			    l->nr_devices, f, here->nr_devices);
	for (unsigned i = 0; i < l->nr_devices; i++)
		if (!here->devices[i] || strcmp(l->cfg_dev[i], here->devices[i]))
			return lerr(l, err, -EINVAL, "device %u: '%s' in %s, '%s' here",
				    i, l->cfg_dev[i], f,
				    here->devices[i] ? here->devices[i] : "(null)");
	return 0;
}

static void free_secs(struct rl_stream_loader *l)
{
	for (unsigned i = 0; i < l->nsecs; i++)
		free(l->secs[i].payload);
	free(l->secs);
	l->secs = NULL;
	l->nsecs = l->cap = 0;
	l->verified = false;
}

static bool bit(const unsigned char *bm, uint64_t i)
{
	return bm[i / 8] & (1u << (i % 8));
}

/*
 * Present chunks close together are read as one range, holes included:
 * one large read instead of many small ones. Holes read back as zeros,
 * and the loader zeroes any absent chunk that is not.
 */
#define RANGE_GAP (256u * 1024)

struct ram_walk {
	const unsigned char *bm;
	uint64_t nchunks, size;
	uint32_t shift;
};

static void ram_walk_init(struct ram_walk *w, const struct sec *s)
{
	w->bm = s->payload + RL_RAM_FIXED_LEN;
	w->shift = s->ram.chunk_shift;
	w->size = s->ram.size;
	w->nchunks = (w->size + (1ull << w->shift) - 1) >> w->shift;
}

/* The next range from chunk *@i on: false when no present chunk is left. */
static bool next_range(const struct ram_walk *w, uint64_t *i, uint64_t *off,
		       uint64_t *len)
{
	uint64_t j = *i, end;

	while (j < w->nchunks && !bit(w->bm, j))
		j++;
	if (j == w->nchunks)
		return false;
	*off = j << w->shift;
	end = *off;
	for (; j < w->nchunks; j++) {
		uint64_t start = j << w->shift;

		if (!bit(w->bm, j))
			continue;
		if (start > end && start - end > RANGE_GAP)
			break;
		end = start + (1ull << w->shift);
	}
	if (end > w->size)
		end = w->size;
	*i = j;
	*len = end - *off;
	return true;
}

/* Extend *@crc over the present chunks' bytes in @data, block offset @pos. */
static void crc_present(const struct ram_walk *w, const unsigned char *data,
			size_t n, uint64_t pos, uint32_t *crc)
{
	while (n) {
		uint64_t idx = pos >> w->shift;
		uint64_t cend = (idx + 1) << w->shift;
		size_t take;

		if (cend > w->size)
			cend = w->size;
		take = cend - pos < n ? cend - pos : n;
		if (bit(w->bm, idx))
			*crc = rl_crc32c(*crc, data, take);
		data += take;
		pos += take;
		n -= take;
	}
}

static int check_ram_section(struct rl_stream_loader *l, struct sec *s,
			     struct rl_error *err)
{
	const struct rl_ram_desc *c = cfg_ram_find(l, s->h.name);
	uint64_t nchunks, chunk, bmlen, i;
	const unsigned char *bm;

	if (!c)
		return SEC_ERR(l, err, -EINVAL, s, "RAM block not in the configuration");
	if (s->h.payload_len < RL_RAM_FIXED_LEN ||
	    rl_ram_desc_decode(s->payload, &s->ram, true) != RL_FMT_OK)
		return SEC_ERR(l, err, -EINVAL, s, "bad RAM block descriptor");
	if (s->ram.size != c->size || s->ram.gpa != c->gpa)
		return SEC_ERR(l, err, -EINVAL, s, "size or address differs from the configuration");
	memcpy(s->ram.name, s->h.name, sizeof(s->ram.name));
	if (!(s->ram.flags & RL_RAM_F_PAGES)) {
		if (s->h.payload_len != RL_RAM_FIXED_LEN || (s->h.flags & RL_SEC_F_EXTENT))
			return SEC_ERR(l, err, -EINVAL, s, "bad length for a block kept in place");
		return 0;
	}
	chunk = 1ull << s->ram.chunk_shift;
	nchunks = (s->ram.size + chunk - 1) >> s->ram.chunk_shift;
	bmlen = (nchunks + 7) / 8;
	if (s->h.payload_len != RL_RAM_FIXED_LEN + bmlen ||
	    !(s->h.flags & RL_SEC_F_EXTENT) || s->h.ext_len != s->ram.size)
		return SEC_ERR(l, err, -EINVAL, s, "bad length for a block with pages");
	bm = s->payload + RL_RAM_FIXED_LEN;
	for (i = nchunks; i < bmlen * 8; i++)
		if (bit(bm, i))
			return SEC_ERR(l, err, -EINVAL, s, "page bitmap has bits past the block's end");
	/*
	 * The pages' CRC is checked by rl_stream_load_ram() as they land in
	 * guest memory: RAM crosses the file once, and what is checked is
	 * what the guest gets.
	 */
	return 0;
}

/* "cpu/N", N in decimal without leading zeros. */
static bool parse_cpu_name(const char *name, unsigned *idx)
{
	const char *p = name + 4;
	unsigned long v = 0;

	if (strncmp(name, "cpu/", 4) || !*p || (*p == '0' && p[1]))
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > RL_STREAM_MAX_VCPUS)
			return false;
	}
	*idx = v;
	return true;
}

static int check_section(struct rl_stream_loader *l, struct sec *s,
			 struct rl_error *err)
{
	unsigned idx;

	for (unsigned i = 0; i < l->nsecs; i++)
		if (l->secs[i].h.type == s->h.type &&
		    !strcmp(l->secs[i].h.name, s->h.name))
			return SEC_ERR(l, err, -EINVAL, s, "duplicate section (first at offset %llu)",
				       (unsigned long long)l->secs[i].off);
	switch (s->h.type) {
	case RL_SECTION_CONFIG:
		return SEC_ERR(l, err, -EINVAL, s, "duplicate configuration section");
	case RL_SECTION_CPU:
		if (!parse_cpu_name(s->h.name, &idx) || idx >= l->nr_vcpus)
			return SEC_ERR(l, err, -EINVAL, s, "not a vCPU of this configuration (%u vCPUs)",
				       l->nr_vcpus);
		if (s->h.flags & RL_SEC_F_EXTENT)
			return SEC_ERR(l, err, -EINVAL, s, "vCPU state with an extent");
		return 0;
	case RL_SECTION_DEVICE:
		if (!cfg_dev_has(l, s->h.name))
			return SEC_ERR(l, err, -EINVAL, s, "device not in the configuration");
		if (!(s->h.flags & RL_SEC_F_EXTENT))
			return 0;
		if (s->h.payload_len)
			return SEC_ERR(l, err, -EINVAL, s, "device state both inline and in an extent");
		/*
		 * Its bounds and padding are checked; its CRC is checked by
		 * rl_stream_load_device_iov() as it reads the extent into the
		 * device: large state crosses the file once, not twice.
		 */
		return 0;
	case RL_SECTION_RAM:
		return check_ram_section(l, s, err);
	default:
		return 0;
	}
}

static int add_sec(struct rl_stream_loader *l, struct sec *s)
{
	if (l->nsecs == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		struct sec *n = realloc(l->secs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->secs = n;
		l->cap = cap;
	}
	l->secs[l->nsecs++] = *s;
	return 0;
}

static const struct sec *find_sec(const struct rl_stream_loader *l,
				  unsigned type, const char *name)
{
	for (unsigned i = 0; i < l->nsecs; i++)
		if (l->secs[i].h.type == type && !strcmp(l->secs[i].h.name, name))
			return &l->secs[i];
	return NULL;
}

static int check_footer(struct rl_stream_loader *l, struct sec *s,
			uint64_t next, struct rl_error *err)
{
	char name[RL_SECTION_NAME_MAX];

	if (strcmp(s->h.name, "footer") || s->h.payload_len != RL_FOOTER_LEN ||
	    (s->h.flags & RL_SEC_F_EXTENT))
		return SEC_ERR(l, err, -EINVAL, s, "bad footer");
	/* the configuration was not kept in secs */
	if (rl_get32(s->payload) != l->nsecs + 1 || rl_get32(s->payload + 4))
		return SEC_ERR(l, err, -EINVAL, s, "the footer counts %u sections, the file has %u",
			       rl_get32(s->payload), l->nsecs + 1);
	if (rl_get64(s->payload + 8) != next || next != l->size)
		return SEC_ERR(l, err, -EINVAL, s, "the stream ends at %llu, the file at %llu",
			       (unsigned long long)next, (unsigned long long)l->size);
	for (unsigned i = 0; i < l->nr_vcpus; i++) {
		snprintf(name, sizeof(name), "cpu/%u", i);
		if (!find_sec(l, RL_SECTION_CPU, name))
			return lerr(l, err, -EINVAL, "section '%s' is missing", name);
	}
	for (unsigned i = 0; i < l->nr_devices; i++)
		if (!find_sec(l, RL_SECTION_DEVICE, l->cfg_dev[i]))
			return lerr(l, err, -EINVAL, "section '%s' (device) is missing",
				    l->cfg_dev[i]);
	for (unsigned i = 0; i < l->nr_ram; i++)
		if (!find_sec(l, RL_SECTION_RAM, l->cfg_ram[i].name))
			return lerr(l, err, -EINVAL, "section '%s' (RAM block) is missing",
				    l->cfg_ram[i].name);
	return 0;
}

int rl_stream_load_verify(struct rl_stream_loader *l, struct rl_error *err)
{
	uint64_t off = l->cfg_next, next;
	struct sec s;
	int ret;

	if (RL_FAILPOINT("stream.load.verify"))
		return lerr(l, err, -errno, "verify: %s", strerror(errno));
	free_secs(l);
	for (;;) {
		ret = read_section(l, off, &s, &next, err);
		if (ret < 0)
			break;
		if (s.h.type == RL_SECTION_FOOTER) {
			ret = check_footer(l, &s, next, err);
			free(s.payload);
			break;
		}
		ret = check_section(l, &s, err);
		if (!ret && s.h.type == RL_SECTION_PAD) {
			free(s.payload);
			off = next;
			continue;
		}
		if (!ret)
			ret = add_sec(l, &s);
		if (ret < 0) {
			free(s.payload);
			break;
		}
		off = next;
	}
	if (ret < 0) {
		free_secs(l);
		return ret;
	}
	l->verified = true;
	return 0;
}

unsigned rl_stream_load_nr_vcpus(const struct rl_stream_loader *l)
{
	return l->nr_vcpus;
}

unsigned rl_stream_load_nr_devices(const struct rl_stream_loader *l)
{
	return l->nr_devices;
}

const char *rl_stream_load_device_name(const struct rl_stream_loader *l,
				       unsigned i)
{
	return i < l->nr_devices ? l->cfg_dev[i] : NULL;
}

unsigned rl_stream_load_nr_ram(const struct rl_stream_loader *l)
{
	return l->nr_ram;
}

int rl_stream_load_ram_block(const struct rl_stream_loader *l, unsigned i,
			     struct rl_ram_block *out)
{
	const struct rl_ram_desc *d;

	if (i >= l->nr_ram)
		return -ENOENT;
	d = &l->cfg_ram[i];
	memset(out, 0, sizeof(*out));
	memcpy(out->name, d->name, sizeof(out->name));
	out->size = d->size;
	out->gpa = d->gpa;
	out->backing = d->backing;
	out->shared = d->flags & RL_RAM_F_SHARED;
	out->implicit = d->flags & RL_RAM_F_IMPLICIT;
	out->page_size = d->page_size;
	out->fd = -1;
	return 0;
}

enum rl_mig_mode rl_stream_load_mode(const struct rl_stream_loader *l)
{
	return l->hdr.mode;
}

int rl_stream_load_cpu(struct rl_stream_loader *l, unsigned index,
		       const void **data, size_t *len)
{
	char name[RL_SECTION_NAME_MAX];
	const struct sec *s;

	if (!l->verified || RL_FAILPOINT("stream.load.cpu"))
		return l->verified ? -errno : -EINVAL;
	snprintf(name, sizeof(name), "cpu/%u", index);
	s = find_sec(l, RL_SECTION_CPU, name);
	if (!s)
		return -ENOENT;
	*data = s->payload;
	*len = s->h.payload_len;
	return 0;
}

int rl_stream_load_device(struct rl_stream_loader *l, const char *name,
			  const void **data, size_t *len)
{
	const struct sec *s;

	if (!l->verified || RL_FAILPOINT("stream.load.device"))
		return l->verified ? -errno : -EINVAL;
	s = find_sec(l, RL_SECTION_DEVICE, name);
	if (!s)
		return -ENOENT;
	if (s->h.flags & RL_SEC_F_EXTENT)
		return -EMSGSIZE;
	*data = s->payload;
	*len = s->h.payload_len;
	return 0;
}

int rl_stream_load_device_size(struct rl_stream_loader *l, const char *name,
			       size_t *len)
{
	const struct sec *s;

	if (!l->verified)
		return -EINVAL;
	s = find_sec(l, RL_SECTION_DEVICE, name);
	if (!s)
		return -ENOENT;
	*len = (s->h.flags & RL_SEC_F_EXTENT) ? s->h.ext_len : s->h.payload_len;
	return 0;
}

int rl_stream_load_device_iov(struct rl_stream_loader *l, const char *name,
			      const struct iovec *iov, int iovcnt,
			      struct rl_error *err)
{
	const struct sec *s;
	uint64_t total = 0, want;
	const unsigned char *p;
	uint32_t crc = 0;
	int ret;

	if (!l->verified)
		return lerr(l, err, -EINVAL, "device '%s': the stream is not verified", name);
	s = find_sec(l, RL_SECTION_DEVICE, name);
	if (!s)
		return lerr(l, err, -ENOENT, "no section for device '%s'", name);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	want = (s->h.flags & RL_SEC_F_EXTENT) ? s->h.ext_len : s->h.payload_len;
	if (total != want)
		return SEC_ERR(l, err, -EINVAL, s, "%llu bytes of device state, %llu bytes here",
			       (unsigned long long)want, (unsigned long long)total);
	if (!(s->h.flags & RL_SEC_F_EXTENT)) {
		p = s->payload;
		for (int i = 0; i < iovcnt; i++) {
			memcpy(iov[i].iov_base, p, iov[i].iov_len);
			p += iov[i].iov_len;
		}
		return 0;
	}
	ret = src_read_iov(l, iov, iovcnt, s->ext_off);
	if (ret < 0)
		return SEC_ERR(l, err, ret, s, "read: %s", strerror(-ret));
	for (int i = 0; i < iovcnt; i++)
		crc = rl_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	if (crc != s->h.ext_crc)
		return SEC_ERR(l, err, -EINVAL, s, "device state: CRC mismatch");
	return 0;
}


/*
 * Where the checked bytes of a RAM block go: written through the block's fd
 * (a shared memfd or file, mapped from offset 0), or copied into its
 * mapping by the kernel (ram-put.c). Either way this process never touches
 * the guest's pages, whose first touch (a page fault and a TLB fill per
 * 4 KiB page) costs more than reading and checking them.
 */
struct ram_sink {
	const struct rl_ram_block *b;
	bool to_fd;
	bool wrote;	/* something went through the fd */
};

/* Write @n checked bytes for block offset @off. -EOPNOTSUPP: the fd takes no write(). */
static int sink_put(struct ram_sink *k, const unsigned char *data, size_t n, uint64_t off)
{
	if (!k->to_fd)
		return rl_ram_put((unsigned char *)k->b->host + off, data, n);
	for (size_t done = 0; done < n;) {
		ssize_t w = pwrite(k->b->fd, data + done, n - done, (off_t)(off + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EINVAL && !k->wrote)
			return -EOPNOTSUPP;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
		k->wrote = true;
	}
	return 0;
}

/*
 * Check @n bytes read for block offset @off, then put the present chunks
 * among them in place. Absent chunks (holes read along with their
 * neighbours) are skipped: the caller makes them zero without touching
 * pages that already are.
 */
static int put_present(const struct ram_walk *w, struct ram_sink *k,
		       const unsigned char *data, size_t n, uint64_t off, uint32_t *crc)
{
	size_t run = 0; /* present bytes gathered, ending at data */
	int ret;

	crc_present(w, data, n, off, crc);
	while (n) {
		uint64_t idx = off >> w->shift;
		uint64_t cend = (idx + 1) << w->shift;
		size_t take;

		if (cend > w->size)
			cend = w->size;
		take = cend - off < n ? cend - off : n;
		if (bit(w->bm, idx)) {
			run += take;
		} else if (run) {
			ret = sink_put(k, data - run, run, off - run);
			if (ret < 0)
				return ret;
			run = 0;
		}
		data += take;
		off += take;
		n -= take;
	}
	return run ? sink_put(k, data - run, run, off - run) : 0;
}

/*
 * A range of a block's extent, in order through the reader's registered
 * buffers with reads in flight ahead (a deep queue for a large file, see
 * rl_stream_load_open()), each piece checked in the buffer and then put in
 * place: the guest gets exactly the bytes that were checked, and RAM
 * crosses the file once.
 */
static int range_put(struct rl_stream_loader *l, const struct ram_walk *w,
		     struct ram_sink *k, uint64_t ext_off, uint64_t off, uint64_t len,
		     uint32_t *crc)
{
	const void *data;
	size_t n;
	int ret;

	if (ext_off + off > l->size || len > l->size - ext_off - off)
		return -ENODATA;
	if (!l->r)
		return put_present(w, k, l->mem + ext_off + off, len, off, crc);
	ret = rl_reader_stream_start(l->r, ext_off + off, len);
	if (ret < 0)
		return ret;
	while ((ret = rl_reader_stream_next(l->r, &data, &n)) > 0) {
		ret = put_present(w, k, data, n, off, crc);
		if (ret < 0)
			return ret;
		off += n;
	}
	return ret;
}

int rl_stream_load_ram(struct rl_stream_loader *l,
		       const struct rl_ram_registry *ram, struct rl_error *err)
{
	struct stat st;
	int ret;

	if (!l->verified)
		return lerr(l, err, -EINVAL, "RAM: the stream is not verified");
	if (RL_FAILPOINT("stream.load.ram"))
		return lerr(l, err, -errno, "RAM: %s", strerror(errno));
	/*
	 * Every check that needs no page first, so that a refusal leaves all
	 * RAM as it was. A CRC mismatch is found as the pages land: the RAM
	 * is then half loaded, and the VM must not run.
	 */
	for (unsigned i = 0; i < l->nsecs; i++) {
		const struct sec *s = &l->secs[i];
		const struct rl_ram_block *b;

		if (s->h.type != RL_SECTION_RAM)
			continue;
		b = rl_ram_find(ram, s->h.name);
		if (!b || b->size != s->ram.size)
			return lerr(l, err, -EINVAL, "RAM block %s: not here with size %llu",
				    s->h.name, (unsigned long long)s->ram.size);
		if (s->ram.flags & RL_RAM_F_PAGES) {
			if (!b->host)
				return lerr(l, err, -EINVAL, "RAM block %s: not mapped here",
					    s->h.name);
			continue;
		}
		if (b->fd < 0 || fstat(b->fd, &st) < 0)
			return lerr(l, err, -EBADF, "RAM block %s: kept in place by %s, but here it has no %s fd",
				    s->h.name, base_name(l),
				    s->ram.backing == RL_RAM_FILE ? "file" : "memfd");
		if ((uint64_t)st.st_dev != s->ram.dev || (uint64_t)st.st_ino != s->ram.ino)
			return lerr(l, err, -ESTALE, "RAM block %s: fd %d is not the %s saved in %s (inode %llu here, %llu there)",
				    s->h.name, b->fd,
				    s->ram.backing == RL_RAM_FILE ? "file" : "memfd",
				    base_name(l), (unsigned long long)st.st_ino,
				    (unsigned long long)s->ram.ino);
	}
	for (unsigned i = 0; i < l->nsecs; i++) {
		const struct sec *s = &l->secs[i];
		const struct rl_ram_block *b;
		uint64_t j, off, len;
		struct ram_walk w;
		uint32_t crc = 0;
		bool to_fd;

		if (s->h.type != RL_SECTION_RAM || !(s->ram.flags & RL_RAM_F_PAGES))
			continue;
		b = rl_ram_find(ram, s->h.name);
		ram_walk_init(&w, s);
		/* cleared for the whole block once its fd refuses write() (hugetlbfs) */
		to_fd = b->fd >= 0 && b->shared;
		for (j = 0; next_range(&w, &j, &off, &len);) {
			struct ram_sink k = { .b = b, .to_fd = to_fd };
			uint32_t before = crc;

			ret = range_put(l, &w, &k, s->ext_off, off, len, &crc);
			if (ret == -EOPNOTSUPP) {
				/* nothing went through the fd: into the mapping instead */
				k.to_fd = to_fd = false;
				crc = before;
				ret = range_put(l, &w, &k, s->ext_off, off, len, &crc);
			}
			if (ret < 0)
				return SEC_ERR(l, err, ret, s, "read of RAM at offset %llu: %s",
					       (unsigned long long)(s->ext_off + off),
					       strerror(-ret));
		}
		if (crc != s->h.ext_crc)
			return SEC_ERR(l, err, -EINVAL, s, "RAM pages at offset %llu: CRC mismatch (damaged, or changed since it was written)",
				       (unsigned long long)s->ext_off);
		/* Absent chunks become zero; pages that already are stay untouched. */
		for (j = 0; j < w.nchunks;) {
			uint64_t e;

			if (bit(w.bm, j)) {
				j++;
				continue;
			}
			off = j << w.shift;
			while (j < w.nchunks && !bit(w.bm, j))
				j++;
			e = j << w.shift;
			rl_ram_zero(b, off, (e > w.size ? w.size : e) - off);
		}
	}
	return 0;
}

void rl_stream_load_close(struct rl_stream_loader *l)
{
	if (!l)
		return;
	free_secs(l);
	free(l->cfg_ram);
	free(l->cfg_dev);
	rl_reader_close(l->r);
	free(l->own);
	free(l);
}
