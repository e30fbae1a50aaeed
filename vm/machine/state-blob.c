// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state-blob device: S bytes of opaque state standing in for large
 * device state. The bytes are a pattern of the device id and a seed that
 * changes before every save, so a load that brings back stale or damaged
 * bytes is caught: every byte is checked after every load (for an adopted
 * memfd, after the resume; bytes that fail are never saved again).
 *
 * The bytes live in a sealed memfd. In cpr-exec and cpr-transfer it
 * crosses the update in the CPR fd table, like a RAM memfd: the stream
 * carries a reference to it, not the bytes, and the new process maps it
 * again. In normal and cpr-reboot, and for a memfd no CPR fd table holds,
 * the bytes are written to the stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "machine/devices.h"
#include "relive/crc32c.h"
#include "vm-error.h"

/* "BLB2": the pattern below; "BLOB": the first one, still checked on load. */
#define BLOB_MAGIC 0x32424c42u
#define BLOB_MAGIC_V1 0x424c4f42u
/* "BLB3": a reference to the preserved memfd, the bytes are not in the stream. */
#define BLOB_MAGIC_REF 0x33424c42u

/* The memfd's seals: its size is fixed, its bytes are the device's to change. */
#define BLOB_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

#define HUGE_SIZE (2ull << 20)
#define STEP 0x9e3779b97f4a7c15ull
/* words compared at once before looking for the first differing byte */
#define CHECK_WORDS 512u

struct blob_header {
	uint32_t magic;
	uint32_t pad;
	uint64_t size;
	uint64_t seed;
};

/* The "BLB3" section: @crc is the CRC32C of the fields before it. */
struct blob_ref {
	uint32_t magic;
	uint32_t flags;		/* 0 */
	uint64_t size;
	uint64_t seed;
	uint32_t crc;
	uint32_t pad;		/* 0 */
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t blob_key(const struct state_blob *b, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = b->id; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return mix64(h ^ mix64(seed));
}

static uint64_t pattern_word_v1(uint64_t key, uint64_t i)
{
	return mix64(key + i * STEP);
}

/*
 * Word i of the pattern: depends on the device, the seed (through @key) and
 * the position, and costs an add, a shift and an xor, so that filling and
 * checking run at memory speed.
 */
static uint64_t pattern_word(uint64_t key, uint64_t i)
{
	uint64_t x = key + i * STEP;

	return x ^ (x >> 29);
}

static void fill(struct state_blob *b)
{
	uint64_t key = blob_key(b, b->seed);
	uint64_t i, x = key;

	for (i = 0; i + 8 <= b->size; i += 8, x += STEP) {
		uint64_t w = x ^ (x >> 29);

		memcpy(b->data + i, &w, 8);
	}
	if (i < b->size) {
		uint64_t w = pattern_word(key, i / 8);

		memcpy(b->data + i, &w, b->size - i);
	}
}

/* Return: the offset of the first byte of [@from, size) that differs, or size. */
static uint64_t first_diff(const struct state_blob *b, uint64_t key,
			   uint64_t (*word)(uint64_t, uint64_t), uint64_t from)
{
	for (uint64_t i = from; i < b->size; i += 8) {
		uint64_t w = word(key, i / 8);
		size_t n = MIN(8, b->size - i);

		for (size_t k = 0; k < n; k++)
			if (b->data[i + k] != ((uint8_t *)&w)[k])
				return i + k;
	}
	return b->size;
}

/* Return: the offset of the first byte that differs from the pattern, or size. */
static uint64_t check(const struct state_blob *b, bool v1)
{
	uint64_t key = blob_key(b, b->seed);
	uint64_t nwords = b->size / 8, i;

	if (v1)
		return first_diff(b, key, pattern_word_v1, 0);
	/* Blocks of a fixed length, no early exit inside: a loop the compiler vectorises. */
	for (i = 0; i + CHECK_WORDS <= nwords; i += CHECK_WORDS) {
		const uint8_t *p = b->data + i * 8;
		uint64_t diff = 0, x = key + i * STEP;

		for (unsigned j = 0; j < CHECK_WORDS; j++, x += STEP) {
			uint64_t d;

			memcpy(&d, p + j * 8, 8);
			diff |= d ^ x ^ (x >> 29);
		}
		if (diff)
			return first_diff(b, key, pattern_word, i * 8);
	}
	return first_diff(b, key, pattern_word, i * 8);
}

static size_t map_len(uint64_t size)
{
	return (size + 4095) & ~4095ull;
}

static size_t ref_crc_len(void)
{
	return offsetof(struct blob_ref, crc);
}

/*
 * @fd's @size bytes mapped shared, 2 MiB-aligned so that the kernel can back
 * them with huge pages when @huge and shmem allows it. Not for a blob that
 * an incoming state lands in: that memory is first touched inside an
 * update's pause, where a huge page fault may stop to compact memory
 * (docs/migration.md has what that cost).
 * Return: the mapping, or MAP_FAILED with errno.
 */
static uint8_t *blob_map(int fd, uint64_t size, bool huge)
{
	size_t len = map_len(size), span = len + HUGE_SIZE;
	uintptr_t base, start;
	void *p;

	p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	base = (uintptr_t)p;
	start = (base + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1);
	if (mmap((void *)start, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED) {
		int e = errno;

		munmap(p, span);
		errno = e;
		return MAP_FAILED;
	}
	if (start > base)
		munmap(p, start - base);
	if (start + len < base + span)
		munmap((void *)(start + len), base + span - start - len);
	/* Advice only: without huge pages the blob still works. */
	if (huge && len >= HUGE_SIZE)
		madvise((void *)start, len, MADV_HUGEPAGE);
	return (uint8_t *)start;
}

/*
 * The memfd and its mapping, made on first use: an incoming blob may adopt
 * one instead. Return: 0, or -errno (nothing made).
 */
static int ensure_mem(struct state_blob *b, bool huge)
{
	uint8_t *data = NULL;
	int fd, ret;

	if (b->fd >= 0)
		return 0;
	fd = memfd_create(b->cpr_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, b->size) < 0 || fcntl(fd, F_ADD_SEALS, BLOB_SEALS) < 0)
		goto fail;
	if (b->size) {
		data = blob_map(fd, b->size, huge);
		if (data == MAP_FAILED)
			goto fail;
	}
	b->data = data;
	b->fd = fd;
	return 0;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

struct state_blob *state_blob_new(const char *id, uint64_t size, bool fill_now, GError **errp)
{
	struct state_blob *b = g_new0(struct state_blob, 1);
	int ret;

	g_strlcpy(b->id, id, sizeof(b->id));
	g_snprintf(b->data_name, sizeof(b->data_name), "%s/data", id);
	g_snprintf(b->cpr_name, sizeof(b->cpr_name), "state-blob:%s", id);
	b->size = size;
	b->fd = -1;
	if (fill_now) {
		ret = ensure_mem(b, true);
		if (!ret)
			ret = state_blob_reseed(b);
		if (ret < 0) {
			vm_error(errp, "state-blob %s: cannot make its memfd of %" G_GUINT64_FORMAT " bytes: %s",
				 id, size, g_strerror(-ret));
			state_blob_free(b);
			return NULL;
		}
	}
	return b;
}

int state_blob_reseed(struct state_blob *b)
{
	struct timespec ts;
	int ret;

	state_blob_check_wait(b);
	ret = ensure_mem(b, false);
	if (ret < 0)
		return ret;
	clock_gettime(CLOCK_REALTIME, &ts);
	b->seed = mix64(b->seed ^ ((uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec));
	fill(b);
	b->damaged = false; /* new contents, all of them written here */
	return 0;
}

static int save_ref(struct state_blob *b, struct rl_stream_saver *s)
{
	struct blob_ref r = { BLOB_MAGIC_REF, 0, b->size, b->seed, 0, 0 };
	int ret;

	r.crc = rl_crc32c(0, &r, ref_crc_len());
	ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, b->id);
	if (!ret)
		ret = rl_stream_save_put(s, &r, sizeof(r));
	if (!ret)
		ret = rl_stream_save_section_end(s);
	/* the data section stays, empty: the stream's device list is the same in every mode */
	if (!ret)
		ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, b->data_name);
	if (!ret)
		ret = rl_stream_save_section_end(s);
	return ret;
}

int state_blob_save(struct state_blob *b, struct rl_stream_saver *s)
{
	struct blob_header h = { BLOB_MAGIC, 0, b->size, b->seed };
	enum rl_mig_mode mode = rl_stream_save_mode(s);
	struct iovec iov;
	int ret;

	state_blob_check_wait(b);
	ret = ensure_mem(b, false);
	if (ret < 0)
		return ret;
	/* bytes that failed their check are not handed on as this device's state */
	if (b->damaged)
		return -EBADMSG;
	/* a reference only to a memfd the exec or transfer carries (not one loaded from bytes) */
	if (!b->copy && b->in_cpr && (mode == RL_MODE_CPR_EXEC || mode == RL_MODE_CPR_TRANSFER))
		return save_ref(b, s);
	iov.iov_base = b->data;
	iov.iov_len = b->size;
	ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, b->id);
	if (!ret)
		ret = rl_stream_save_put(s, &h, sizeof(h));
	if (!ret)
		ret = rl_stream_save_section_end(s);
	if (!ret)
		ret = rl_stream_save_device_iov(s, b->data_name, &iov, 1);
	return ret;
}

/* Is @w the pattern at byte offset @off (a multiple of 8, within the blob)? */
static bool word_matches(const uint8_t *p, uint64_t key, uint64_t off, uint64_t size)
{
	uint64_t w = pattern_word(key, off / 8);

	return !memcmp(p + off, &w, MIN(8, size - off));
}

/*
 * Takes the preserved memfd @fd over once it is the one @r describes: a
 * memfd of exactly that size, with exactly the blob's seals, its first and
 * last words the pattern of that seed (a cheap look at two pages: the check
 * of every byte comes after the resume). On failure @fd stays open and
 * untouched: a rollback hands it on.
 */
static gboolean adopt(struct state_blob *b, int fd, const struct blob_ref *r, GError **errp)
{
	uint64_t key = blob_key(b, r->seed), last = (b->size - 1) & ~7ull;
	struct stat st;
	uint8_t *p = NULL;
	int seals;

	if (fstat(fd, &st) < 0) {
		vm_error(errp, "state-blob %s: preserved fd %d ('%s'): %s", b->id, fd, b->cpr_name,
			 g_strerror(errno));
		return FALSE;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (!S_ISREG(st.st_mode) || seals < 0) {
		vm_error(errp, "state-blob %s: preserved fd %d ('%s') is not a memfd", b->id, fd,
			 b->cpr_name);
		return FALSE;
	}
	if ((uint64_t)st.st_size != b->size) {
		vm_error(errp, "state-blob %s: preserved memfd '%s' holds %" G_GUINT64_FORMAT " bytes, the device has %" G_GUINT64_FORMAT,
			 b->id, b->cpr_name, (uint64_t)st.st_size, b->size);
		return FALSE;
	}
	if (seals != BLOB_SEALS) {
		vm_error(errp, "state-blob %s: preserved memfd '%s' has seals 0x%x, not 0x%x (shrink, grow, seal)",
			 b->id, b->cpr_name, (unsigned)seals, (unsigned)BLOB_SEALS);
		return FALSE;
	}
	if (b->size) {
		p = blob_map(fd, b->size, false);
		if (p == MAP_FAILED) {
			vm_error(errp, "state-blob %s: cannot map preserved memfd '%s': %s", b->id,
				 b->cpr_name, g_strerror(errno));
			return FALSE;
		}
		if (!word_matches(p, key, 0, b->size) || !word_matches(p, key, last, b->size)) {
			munmap(p, map_len(b->size));
			vm_error(errp, "state-blob %s: preserved memfd '%s' does not hold the state of this stream (stale or damaged)",
				 b->id, b->cpr_name);
			return FALSE;
		}
	}
	if (b->data)
		munmap(b->data, map_len(b->size));
	if (b->fd >= 0)
		close(b->fd);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	b->data = p;
	b->fd = fd;
	b->seed = r->seed;
	b->check_pending = true;
	b->in_cpr = true; /* the incoming table a rollback carries holds it */
	return TRUE;
}

static gboolean load_ref(struct state_blob *b, struct rl_stream_loader *l,
			 const struct blob_ref *r, state_blob_fd_lookup lookup,
			 void *opaque, GError **errp)
{
	struct rl_error err = { { 0 } };
	size_t len = 0;
	int fd;

	if (rl_crc32c(0, r, ref_crc_len()) != r->crc || r->flags || r->pad) {
		vm_error(errp, "state-blob %s: section '%s': the memfd reference is damaged (CRC or reserved fields)",
			 b->id, b->id);
		return FALSE;
	}
	if (r->size != b->size) {
		vm_error(errp, "state-blob %s: size %" G_GUINT64_FORMAT " in the stream, %" G_GUINT64_FORMAT " here",
			 b->id, r->size, b->size);
		return FALSE;
	}
	if (rl_stream_load_device_size(l, b->data_name, &len) || len) {
		vm_error(errp, "state-blob %s: section '%s' is not empty beside a memfd reference",
			 b->id, b->data_name);
		return FALSE;
	}
	fd = lookup ? lookup(b->cpr_name, &err, opaque) : -ENOENT;
	if (fd == -ENOENT) {
		vm_error(errp, "state-blob %s: the stream refers to the preserved memfd '%s', which this process did not receive (no such entry in the CPR fd table)",
			 b->id, b->cpr_name);
		return FALSE;
	}
	if (fd < 0) {
		vm_error(errp, "state-blob %s: preserved memfd '%s': %s", b->id, b->cpr_name,
			 err.msg[0] ? err.msg : g_strerror(-fd));
		return FALSE;
	}
	return adopt(b, fd, r, errp);
}

gboolean state_blob_load(struct state_blob *b, struct rl_stream_loader *l,
			 state_blob_fd_lookup lookup, void *opaque, GError **errp)
{
	const struct blob_header *h;
	struct rl_error err = { { 0 } };
	struct iovec iov;
	const void *p;
	size_t len;
	uint64_t bad;
	int ret;

	state_blob_check_wait(b);
	ret = rl_stream_load_device(l, b->id, &p, &len);
	if (ret) {
		vm_error(errp, "state-blob %s: section '%s': %s", b->id, b->id, g_strerror(-ret));
		return FALSE;
	}
	if (len == sizeof(struct blob_ref) && *(const uint32_t *)p == BLOB_MAGIC_REF)
		return load_ref(b, l, p, lookup, opaque, errp);
	h = p;
	if (len != sizeof(*h) || (h->magic != BLOB_MAGIC && h->magic != BLOB_MAGIC_V1)) {
		vm_error(errp, "state-blob %s: section '%s' is not a state-blob header", b->id, b->id);
		return FALSE;
	}
	if (h->size != b->size) {
		vm_error(errp, "state-blob %s: size %" G_GUINT64_FORMAT " in the stream, %" G_GUINT64_FORMAT " here",
			 b->id, h->size, b->size);
		return FALSE;
	}
	ret = ensure_mem(b, false);
	if (ret < 0) {
		vm_error(errp, "state-blob %s: cannot make its memfd of %" G_GUINT64_FORMAT " bytes: %s",
			 b->id, b->size, g_strerror(-ret));
		return FALSE;
	}
	iov.iov_base = b->data;
	iov.iov_len = b->size;
	ret = rl_stream_load_device_iov(l, b->data_name, &iov, 1, &err);
	if (ret) {
		vm_error(errp, "state-blob %s: section '%s': %s", b->id, b->data_name,
			 err.msg[0] ? err.msg : g_strerror(-ret));
		return FALSE;
	}
	b->seed = h->seed;
	bad = check(b, h->magic == BLOB_MAGIC_V1);
	if (bad != b->size) {
		vm_error(errp, "state-blob %s: section '%s': byte at offset %" G_GUINT64_FORMAT " differs from the device's pattern (stale or damaged state)",
			 b->id, b->data_name, bad);
		return FALSE;
	}
	g_atomic_int_inc(&b->loads);
	return TRUE;
}

static gpointer check_thread(gpointer opaque)
{
	struct state_blob *b = opaque;
	uint64_t bad = check(b, false);

	if (bad != b->size) {
		fprintf(stderr, "relive-vm: state-blob %s: preserved memfd '%s': byte at offset %" G_GUINT64_FORMAT " differs from the device's pattern (stale or damaged state)\n",
			b->id, b->cpr_name, bad);
		return GINT_TO_POINTER(FALSE);
	}
	g_atomic_int_inc(&b->loads);
	return GINT_TO_POINTER(TRUE);
}

void state_blob_check_start(struct state_blob *b)
{
	if (!b->check_pending || b->checker)
		return;
	b->checker = g_thread_new("state-blob-check", check_thread, b);
}

gboolean state_blob_check_wait(struct state_blob *b)
{
	gboolean ok = TRUE;

	if (b->check_pending && !b->checker)
		state_blob_check_start(b);
	if (b->checker)
		ok = GPOINTER_TO_INT(g_thread_join(b->checker));
	b->checker = NULL;
	b->check_pending = false;
	if (!ok)
		b->damaged = true;
	return !b->damaged;
}

void state_blob_free(struct state_blob *b)
{
	if (!b)
		return;
	state_blob_check_wait(b);
	if (b->data)
		munmap(b->data, map_len(b->size));
	if (b->fd >= 0)
		close(b->fd);
	g_free(b);
}
