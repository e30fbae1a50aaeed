// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state-blob device: S bytes of opaque state standing in for large
 * device state. The bytes are a pattern of the device id and a seed that
 * changes before every save, so a load that brings back stale or damaged
 * bytes is caught: every byte is checked after every load. The bytes live
 * in huge pages where the kernel has them: a load fills fresh memory inside
 * the pause, and a fault per 4 KiB would cost more than the copy.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "machine/devices.h"
#include "vm-error.h"

/* "BLB2": the pattern below; "BLOB": the first one, still checked on load. */
#define BLOB_MAGIC 0x32424c42u
#define BLOB_MAGIC_V1 0x424c4f42u

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

/*
 * @size bytes, 2 MiB-aligned so that the kernel can back them with huge
 * pages when @huge. Not for a blob that an incoming state lands in: that
 * memory is first touched inside an update's pause, where a huge page fault
 * may stop to compact memory (docs/migration.md has what that cost).
 */
static uint8_t *blob_map(const char *id, uint64_t size, bool huge)
{
	size_t len = map_len(size), span = len + HUGE_SIZE;
	uintptr_t base, start;
	void *p;

	if (!size)
		return NULL;
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		g_error("state-blob %s: cannot map %" G_GUINT64_FORMAT " bytes: %s", id, size,
			g_strerror(errno));
	base = (uintptr_t)p;
	start = (base + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1);
	if (start > base)
		munmap(p, start - base);
	if (start + len < base + span)
		munmap((void *)(start + len), base + span - start - len);
	/* Advice only: without transparent huge pages the blob still works. */
	if (huge && len >= HUGE_SIZE)
		madvise((void *)start, len, MADV_HUGEPAGE);
	return (uint8_t *)start;
}

struct state_blob *state_blob_new(const char *id, uint64_t size, bool fill_now)
{
	struct state_blob *b = g_new0(struct state_blob, 1);

	g_strlcpy(b->id, id, sizeof(b->id));
	g_snprintf(b->data_name, sizeof(b->data_name), "%s/data", id);
	b->size = size;
	b->data = blob_map(id, size, fill_now);
	if (fill_now) {
		state_blob_reseed(b);
	}
	return b;
}

void state_blob_reseed(struct state_blob *b)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	b->seed = mix64(b->seed ^ ((uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec));
	fill(b);
}

int state_blob_save(struct state_blob *b, struct rl_stream_saver *s)
{
	struct blob_header h = { BLOB_MAGIC, 0, b->size, b->seed };
	struct iovec iov = { b->data, b->size };
	int ret;

	ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, b->id);
	if (!ret)
		ret = rl_stream_save_put(s, &h, sizeof(h));
	if (!ret)
		ret = rl_stream_save_section_end(s);
	if (!ret)
		ret = rl_stream_save_device_iov(s, b->data_name, &iov, 1);
	return ret;
}

gboolean state_blob_load(struct state_blob *b, struct rl_stream_loader *l,
			 GError **errp)
{
	struct iovec iov = { b->data, b->size };
	const struct blob_header *h;
	struct rl_error err = { { 0 } };
	const void *p;
	size_t len;
	uint64_t bad;
	int ret;

	ret = rl_stream_load_device(l, b->id, &p, &len);
	if (ret) {
		vm_error(errp, "state-blob %s: section '%s': %s", b->id, b->id, g_strerror(-ret));
		return FALSE;
	}
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
	b->loads++;
	return TRUE;
}

void state_blob_free(struct state_blob *b)
{
	if (!b)
		return;
	if (b->data)
		munmap(b->data, map_len(b->size));
	g_free(b);
}
