// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Saving the state stream. Sections are laid down one after the other in the
 * writer's registered buffers, which devices fill directly; a full buffer goes
 * to the kernel at a 4 KiB-aligned offset while the next one fills. Large
 * device state and RAM pages go straight from the caller's memory to their
 * 4 KiB-aligned extents, in parallel and in any order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/error-internal.h"
#include "relive/crc32c.h"
#include "relive/version.h"
#include "ram-data.h"
#include "stream-format.h"

struct rl_stream_saver {
	struct rl_writer *w;
	struct rl_error *err;
	char path[256];		/* for messages */
	enum rl_mig_mode mode;
	bool ignore_shared;

	size_t bsz;		/* pool buffer size */
	unsigned char *buf;	/* current buffer, holds file bytes [base, base + fill) */
	uint64_t base;
	size_t fill;

	bool in_sec;
	size_t sec_start;	/* offset of the open section's header in buf */
	size_t reserved;
	uint32_t crc;
	struct rl_sec_hdr sec;

	bool have_config;
	unsigned nsections;
	uint64_t data_bytes;	/* submitted, holes of zero pages left out */
	int ret;		/* first failure; the saver is unusable after it */
};

__attribute__((format(printf, 3, 4)))
static int fail(struct rl_stream_saver *s, int ret, const char *fmt, ...)
{
	va_list ap;
	char msg[RL_ERROR_MSG_MAX];

	if (s->ret)
		return s->ret;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rl_err_set(s->err, "%s: %s", s->path, msg);
	s->ret = ret;
	return ret;
}

static int io_fail(struct rl_stream_saver *s, int ret, const char *what)
{
	return fail(s, ret, "%s at offset %llu: %s", what,
		    (unsigned long long)(s->base + s->fill), strerror(-ret));
}

/* Hand the first @len bytes of the current buffer to the kernel; no current buffer after. */
static int submit_buf(struct rl_stream_saver *s, size_t len)
{
	void *buf = s->buf;
	int ret;

	s->buf = NULL;
	ret = rl_writer_buf_submit(s->w, buf, len, s->base);
	if (ret < 0)
		return io_fail(s, ret, "write");
	s->data_bytes += len;
	return 0;
}

static int new_buf(struct rl_stream_saver *s, uint64_t base)
{
	void *buf;
	int ret;

	ret = rl_writer_buf_get(s->w, &buf);
	if (ret < 0)
		return io_fail(s, ret, "write");
	s->buf = buf;
	s->base = base;
	s->fill = 0;
	return 0;
}

/*
 * Make room for @n more bytes at buf + fill. When the buffer is full, its
 * whole 4 KiB blocks before the open section (or before fill) are written and
 * the rest moves to a fresh buffer: at most the open section and 4 KiB.
 */
static int ensure(struct rl_stream_saver *s, size_t n)
{
	size_t keep, keep_al, tail;
	unsigned char *old = s->buf;
	uint64_t old_base = s->base;
	int ret;

	if (s->ret)
		return s->ret;
	if (s->fill + n <= s->bsz)
		return 0;
	keep = s->in_sec ? s->sec_start : s->fill;
	keep_al = keep & ~(size_t)(RL_IO_ALIGN - 1);
	tail = s->fill - keep_al;
	if (tail + n > s->bsz || !keep_al)
		return fail(s, -EMSGSIZE, "section '%s' does not fit in a %zu-byte buffer: save large state with rl_stream_save_device_iov()",
			    s->sec.name, s->bsz);
	ret = new_buf(s, old_base + keep_al);
	if (ret < 0) {
		s->buf = old;
		s->base = old_base;
		return ret;
	}
	memcpy(s->buf, old + keep_al, tail);
	s->fill = tail;
	if (s->in_sec)
		s->sec_start -= keep_al;
	ret = rl_writer_buf_submit(s->w, old, keep_al, old_base);
	if (ret < 0)
		return io_fail(s, ret, "write");
	return 0;
}

int rl_stream_save_begin(struct rl_stream_saver **out, const char *path,
			 const struct rl_stream_save_opts *opts,
			 struct rl_error *err)
{
	struct rl_stream_save_opts def = { 0 };
	struct rl_stream_hdr h = { .version = RL_STREAM_VERSION };
	struct rl_io_opts io;
	struct rl_stream_saver *s;
	int ret;

	if (!opts)
		opts = &def;
	if ((unsigned)opts->mode >= RL_MODE__MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->err = err;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->mode = opts->mode;
	s->ignore_shared = opts->ignore_shared;
	io = opts->io;
	/*
	 * A small pool: the device state of a VM is small, and the pool's
	 * teardown at commit falls inside the pause. One buffer fills while
	 * another is in flight, so never fewer than two.
	 */
	if (!io.buf_size)
		io.buf_size = RL_STREAM_BUF_SIZE;
	if (!io.buf_count)
		io.buf_count = RL_STREAM_BUF_COUNT;
	if (io.buf_count < 2)
		io.buf_count = 2;
	/*
	 * With RAM kept in place the next process reads the stream at once:
	 * the page cache serves it, and waiting for the disk only adds to the pause.
	 */
	if ((s->mode == RL_MODE_CPR_EXEC || s->mode == RL_MODE_CPR_TRANSFER) &&
	    !opts->direct)
		io.no_direct = true;
	ret = rl_writer_open(&s->w, path, &io);
	if (ret < 0) {
		rl_err_set(err, "%s: cannot create the state file: %s", path,
			   strerror(-ret));
		free(s);
		return ret;
	}
	s->bsz = rl_writer_buf_size(s->w);
	ret = new_buf(s, 0);
	if (ret < 0) {
		rl_writer_abort(s->w);
		free(s);
		return ret;
	}
	h.mode = s->mode;
	h.flags = s->ignore_shared ? RL_STREAM_F_IGNORE_SHARED : 0;
	if (opts->update_id) {
		h.flags |= RL_STREAM_F_UPDATE_ID;
		h.update_id = *opts->update_id;
	}
	snprintf(h.creator, sizeof(h.creator), "relive %s", rl_version());
	rl_stream_hdr_encode(s->buf, &h);
	s->fill = RL_STREAM_HDR_LEN;
	*out = s;
	return 0;
}

static int sec_begin(struct rl_stream_saver *s, enum rl_section_type type,
		     const char *name)
{
	size_t pad;
	int ret;

	if (s->ret)
		return s->ret;
	if (RL_FAILPOINT("stream.save.section"))
		return fail(s, -errno, "section '%s': %s", name, strerror(errno));
	if (s->in_sec)
		return fail(s, -EINVAL, "section '%s' begun while '%s' is open",
			    name, s->sec.name);
	memset(&s->sec, 0, sizeof(s->sec));
	if (!name || !rl_name_put(s->sec.name, sizeof(s->sec.name), name) ||
	    !rl_name_valid(s->sec.name, sizeof(s->sec.name), false))
		return fail(s, -EINVAL, "bad section name '%s' (1 to %d printable characters, no spaces)",
			    name ? name : "(null)", RL_SECTION_NAME_MAX - 1);
	s->sec.type = type;
	pad = rl_align_up(s->fill, 8) - s->fill;
	ret = ensure(s, pad + RL_SEC_HDR_LEN);
	if (ret < 0)
		return ret;
	memset(s->buf + s->fill, 0, pad + RL_SEC_HDR_LEN);
	s->fill += pad;
	s->sec_start = s->fill;
	s->fill += RL_SEC_HDR_LEN;
	s->crc = 0;
	s->reserved = 0;
	s->in_sec = true;
	return 0;
}

/* Close the open section, with an extent of @ext_len bytes and CRC @ext_crc if @ext. */
static int sec_end(struct rl_stream_saver *s, bool ext, uint64_t ext_len,
		   uint32_t ext_crc)
{
	size_t len;

	if (s->ret)
		return s->ret;
	if (!s->in_sec)
		return fail(s, -EINVAL, "no section is open");
	len = s->fill - s->sec_start - RL_SEC_HDR_LEN;
	s->sec.payload_len = len;
	s->sec.payload_crc = s->crc;
	if (ext) {
		s->sec.flags = RL_SEC_F_EXTENT;
		s->sec.ext_len = ext_len;
		s->sec.ext_crc = ext_crc;
	}
	rl_sec_hdr_encode(s->buf + s->sec_start, &s->sec);
	s->in_sec = false;
	s->reserved = 0;
	s->nsections++;
	return 0;
}

/*
 * After a section with an extent: pad the buffer to 4 KiB, write it, write
 * the extent's pieces, continue in a new buffer after the extent.
 */
struct piece {
	uint64_t off; /* from the start of the extent */
	struct iovec iov;
};

static int write_extent(struct rl_stream_saver *s, uint64_t ext_len,
			const struct iovec *iov, int iovcnt, uint64_t iov_off)
{
	size_t al = rl_align_up(s->fill, RL_IO_ALIGN);
	uint64_t ext_off = s->base + al;
	int ret;

	memset(s->buf + s->fill, 0, al - s->fill);
	ret = submit_buf(s, al);
	if (ret < 0)
		return ret;
	if (iovcnt) {
		ret = rl_writer_write_iov(s->w, iov, iovcnt, ext_off + iov_off);
		if (ret < 0)
			return io_fail(s, ret, "write");
		for (int i = 0; i < iovcnt; i++)
			s->data_bytes += iov[i].iov_len;
	}
	return new_buf(s, rl_align_up(ext_off + ext_len, RL_IO_ALIGN));
}

int rl_stream_save_config(struct rl_stream_saver *s,
			  const struct rl_stream_config *cfg)
{
	unsigned nram = cfg->ram ? cfg->ram->count : 0;
	struct rl_error cerr = { { 0 } };
	size_t len;
	unsigned char *p;
	void *vp;
	int ret;

	if (s->ret)
		return s->ret;
	if (s->have_config || s->nsections)
		return fail(s, -EINVAL, "the configuration must be the first section, once");
	/* never write what the loader would refuse */
	ret = rl_stream_config_check(cfg, &cerr);
	if (ret)
		return fail(s, ret, "%s", cerr.msg);
	len = RL_CFG_FIXED_LEN + (size_t)nram * RL_CFG_RAM_LEN +
	      (size_t)cfg->nr_devices * RL_CFG_DEV_LEN;
	ret = sec_begin(s, RL_SECTION_CONFIG, "config");
	if (!ret)
		ret = rl_stream_save_reserve(s, len, &vp);
	if (ret < 0)
		return ret;
	p = vp;
	memset(p, 0, len);
	rl_put32(p, cfg->nr_vcpus);
	rl_put32(p + 4, cfg->nr_devices);
	rl_put32(p + 8, nram);
	p += RL_CFG_FIXED_LEN;
	for (unsigned i = 0; i < nram; i++, p += RL_CFG_RAM_LEN) {
		const struct rl_ram_block *b = &cfg->ram->blocks[i];
		struct rl_ram_desc d = {
			.size = b->size, .gpa = b->gpa, .backing = b->backing,
			.flags = (b->shared ? RL_RAM_F_SHARED : 0) |
				 (b->implicit ? RL_RAM_F_IMPLICIT : 0),
			.page_size = b->page_size ? b->page_size : 4096,
		};

		rl_name_put(d.name, sizeof(d.name), b->name);
		rl_ram_desc_encode(p, &d, false);
	}
	for (unsigned i = 0; i < cfg->nr_devices; i++, p += RL_CFG_DEV_LEN)
		rl_name_put((char *)p, RL_CFG_DEV_LEN, cfg->devices[i]);
	ret = rl_stream_save_advance(s, len);
	if (!ret)
		ret = sec_end(s, false, 0, 0);
	if (!ret)
		s->have_config = true;
	return ret;
}

int rl_stream_save_section_begin(struct rl_stream_saver *s,
				 enum rl_section_type type, const char *name)
{
	if (type != RL_SECTION_CPU && type != RL_SECTION_DEVICE)
		return fail(s, -EINVAL, "section '%s': only cpu and device sections are written this way",
			    name ? name : "(null)");
	if (!s->have_config)
		return fail(s, -EINVAL, "section '%s' before the configuration",
			    name ? name : "(null)");
	return sec_begin(s, type, name);
}

int rl_stream_save_reserve(struct rl_stream_saver *s, size_t len, void **ptr)
{
	int ret;

	if (s->ret)
		return s->ret;
	if (!s->in_sec)
		return fail(s, -EINVAL, "reserve with no section open");
	if (len > s->bsz || s->fill - s->sec_start + len > UINT32_MAX)
		return fail(s, -EMSGSIZE, "section '%s': %zu bytes do not fit in a %zu-byte buffer: save large state with rl_stream_save_device_iov()",
			    s->sec.name, len, s->bsz);
	ret = ensure(s, len);
	if (ret < 0)
		return ret;
	s->reserved = len;
	*ptr = s->buf + s->fill;
	return 0;
}

int rl_stream_save_advance(struct rl_stream_saver *s, size_t len)
{
	if (s->ret)
		return s->ret;
	if (!s->in_sec || len > s->reserved)
		return fail(s, -EINVAL, "advance by %zu bytes past the %zu reserved",
			    len, s->reserved);
	s->crc = rl_crc32c(s->crc, s->buf + s->fill, len);
	s->fill += len;
	s->reserved -= len;
	return 0;
}

int rl_stream_save_put(struct rl_stream_saver *s, const void *data, size_t len)
{
	void *p;
	int ret;

	ret = rl_stream_save_reserve(s, len, &p);
	if (ret < 0)
		return ret;
	memcpy(p, data, len);
	return rl_stream_save_advance(s, len);
}

int rl_stream_save_section_end(struct rl_stream_saver *s)
{
	return sec_end(s, false, 0, 0);
}

int rl_stream_save_device_iov(struct rl_stream_saver *s, const char *name,
			      const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;
	uint32_t crc = 0;
	int ret;

	if (s->ret)
		return s->ret;
	if (iovcnt < 0 || (iovcnt && !iov))
		return fail(s, -EINVAL, "device '%s': bad iovec", name);
	for (int i = 0; i < iovcnt; i++) {
		total += iov[i].iov_len;
		crc = rl_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	}
	ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, name);
	if (!ret)
		ret = sec_end(s, true, total, crc);
	if (!ret)
		ret = write_extent(s, total, iov, iovcnt, 0);
	return ret;
}


/*
 * Whether @b's bytes stay in place (described, not written) in this mode.
 * cpr-reboot keeps, with x-ignore-shared, only what a restarted process can
 * open again by name: a shared file. A memfd dies with this process (as
 * QEMU's rule, block by block: one memfd does not make the files written).
 */
static bool kept_in_place(const struct rl_stream_saver *s,
			  const struct rl_ram_block *b)
{
	if (!rl_mig_mode_is_cpr(s->mode) || !b->shared || b->fd < 0 ||
	    b->backing == RL_RAM_ANON)
		return false;
	if (s->mode == RL_MODE_CPR_REBOOT)
		return s->ignore_shared && b->backing == RL_RAM_FILE;
	return true;
}

/*
 * Sets @bitmap's bit for every chunk of @b that is not all zero and folds
 * those chunks into @crc, in order. Only the chunks that meet the block's
 * data ranges are read (ram-data.c): the rest of a sparse guest is never
 * faulted in.
 */
static void mark_data_chunks(const struct rl_ram_block *b, uint32_t shift,
			     unsigned char *bitmap, uint32_t *crc)
{
	const unsigned char *host = b->host;
	uint64_t chunk = 1ull << shift, next = 0, start, end, i;
	struct rl_ram_data data;

	rl_ram_data_init(&data, b);
	while (rl_ram_data_next(&data, next << shift, &start, &end) == 0) {
		for (i = start >> shift; i << shift < end; i++) {
			uint64_t off = i << shift;
			size_t len = b->size - off < chunk ? b->size - off : chunk;

			if (rl_is_zero(host + off, len))
				continue;
			bitmap[i / 8] |= 1u << (i % 8);
			*crc = rl_crc32c(*crc, host + off, len);
		}
		next = i;
	}
	rl_ram_data_fini(&data);
}

static int save_block(struct rl_stream_saver *s, const struct rl_ram_block *b)
{
	struct rl_ram_desc d = {
		.size = b->size, .gpa = b->gpa, .backing = b->backing,
		.flags = (b->shared ? RL_RAM_F_SHARED : 0) |
			 (b->implicit ? RL_RAM_F_IMPLICIT : 0),
		.page_size = b->page_size ? b->page_size : 4096,
	};
	const unsigned char *host = b->host;
	unsigned char *bitmap = NULL, *p;
	uint64_t nchunks = 0, chunk, i;
	size_t bmlen = 0;
	uint32_t crc = 0;
	struct stat st;
	void *vp;
	int ret;

	if (b->fd >= 0) {
		if (fstat(b->fd, &st) < 0)
			return fail(s, -errno, "RAM block %s: fd %d: %s", b->name,
				    b->fd, strerror(errno));
		d.dev = st.st_dev;
		d.ino = st.st_ino;
	}
	if (!kept_in_place(s, b)) {
		if (!host)
			return fail(s, -EINVAL, "RAM block %s has no host address",
				    b->name);
		d.flags |= RL_RAM_F_PAGES;
		d.chunk_shift = rl_ram_chunk_shift(b->size);
		chunk = 1ull << d.chunk_shift;
		nchunks = (b->size + chunk - 1) >> d.chunk_shift;
		bmlen = (nchunks + 7) / 8;
		bitmap = calloc(1, bmlen);
		if (!bitmap)
			return fail(s, -ENOMEM, "RAM block %s: no memory for its page bitmap",
				    b->name);
		mark_data_chunks(b, d.chunk_shift, bitmap, &crc);
	}
	ret = sec_begin(s, RL_SECTION_RAM, b->name);
	if (!ret)
		ret = rl_stream_save_reserve(s, RL_RAM_FIXED_LEN + bmlen, &vp);
	if (ret < 0)
		goto out;
	p = vp;
	rl_ram_desc_encode(p, &d, true);
	if (bmlen)
		memcpy(p + RL_RAM_FIXED_LEN, bitmap, bmlen);
	ret = rl_stream_save_advance(s, RL_RAM_FIXED_LEN + bmlen);
	if (ret < 0)
		goto out;
	if (!bitmap) {
		ret = sec_end(s, false, 0, 0);
		goto out;
	}
	ret = sec_end(s, true, b->size, crc);
	if (!ret)
		ret = write_extent(s, b->size, NULL, 0, 0);
	if (ret < 0)
		goto out;
	/* The extent's base: the new buffer starts right after it. */
	{
		uint64_t ext_off = s->base - rl_align_up(b->size, RL_IO_ALIGN);

		for (i = 0; i < nchunks && !ret;) {
			uint64_t first = i, off;
			struct iovec iov;

			if (!(bitmap[i / 8] & (1u << (i % 8)))) {
				i++;
				continue;
			}
			while (i < nchunks && (bitmap[i / 8] & (1u << (i % 8))))
				i++;
			off = first << d.chunk_shift;
			iov.iov_base = (void *)(host + off);
			iov.iov_len = (i << d.chunk_shift) - off;
			if (off + iov.iov_len > b->size)
				iov.iov_len = b->size - off;
			ret = rl_writer_write_iov(s->w, &iov, 1, ext_off + off);
			if (ret < 0)
				ret = io_fail(s, ret, "write of RAM");
			else
				s->data_bytes += iov.iov_len;
		}
	}
out:
	free(bitmap);
	return ret;
}

int rl_stream_save_ram(struct rl_stream_saver *s,
		       const struct rl_ram_registry *ram)
{
	int ret = 0;

	if (s->ret)
		return s->ret;
	if (RL_FAILPOINT("stream.save.ram"))
		return fail(s, -errno, "RAM: %s", strerror(errno));
	if (!s->have_config)
		return fail(s, -EINVAL, "RAM before the configuration");
	for (unsigned i = 0; ram && i < ram->count && !ret; i++)
		ret = save_block(s, &ram->blocks[i]);
	return ret;
}

uint64_t rl_stream_save_size(const struct rl_stream_saver *s)
{
	return s->base + s->fill;
}

uint64_t rl_stream_save_data_bytes(const struct rl_stream_saver *s)
{
	return s->data_bytes + s->fill;
}

enum rl_mig_mode rl_stream_save_mode(const struct rl_stream_saver *s)
{
	return s->mode;
}

const struct rl_writer *rl_stream_save_writer(const struct rl_stream_saver *s)
{
	return s->w;
}

static void saver_free(struct rl_stream_saver *s)
{
	if (s->buf)
		rl_writer_buf_put(s->w, s->buf);
	rl_writer_abort(s->w);
	free(s);
}

int rl_stream_save_commit(struct rl_stream_saver *s)
{
	unsigned char foot[RL_FOOTER_LEN];
	uint64_t size;
	size_t al;
	int ret;

	if (!s->ret && s->in_sec)
		fail(s, -EINVAL, "commit with section '%s' open", s->sec.name);
	if (!s->ret && !s->have_config)
		fail(s, -EINVAL, "commit without a configuration section");
	if (s->ret) {
		ret = s->ret;
		saver_free(s);
		return ret;
	}
	ret = sec_begin(s, RL_SECTION_FOOTER, "footer");
	if (!ret) {
		size = s->base + s->fill + RL_FOOTER_LEN;
		rl_put32(foot, s->nsections);
		rl_put32(foot + 4, 0);
		rl_put64(foot + 8, size);
		ret = rl_stream_save_put(s, foot, sizeof(foot));
	}
	if (!ret)
		ret = sec_end(s, false, 0, 0);
	if (ret < 0) {
		saver_free(s);
		return ret;
	}
	size = s->base + s->fill;
	al = rl_align_up(s->fill, RL_IO_ALIGN);
	memset(s->buf + s->fill, 0, al - s->fill);
	ret = submit_buf(s, al);
	if (ret < 0) {
		saver_free(s);
		return ret;
	}
	ret = rl_writer_commit(s->w, size, s->err);
	free(s);
	return ret;
}

void rl_stream_save_abort(struct rl_stream_saver *s)
{
	if (s)
		saver_free(s);
}
