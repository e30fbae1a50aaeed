// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state-blob device: S bytes of opaque state standing in for large
 * device state. The bytes are a pattern of the device id and a seed that
 * changes before every save, so a load that brings back stale or damaged
 * bytes is caught: every byte is checked after every load.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "devices.h"
#include "vm-error.h"

#define BLOB_MAGIC 0x424c4f42u /* "BLOB" */

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

static uint64_t pattern_word(uint64_t key, uint64_t i)
{
	return mix64(key + i * 0x9e3779b97f4a7c15ull);
}

static void fill(struct state_blob *b)
{
	uint64_t key = blob_key(b, b->seed);
	uint64_t i;

	for (i = 0; i + 8 <= b->size; i += 8) {
		uint64_t w = pattern_word(key, i / 8);

		memcpy(b->data + i, &w, 8);
	}
	if (i < b->size) {
		uint64_t w = pattern_word(key, i / 8);

		memcpy(b->data + i, &w, b->size - i);
	}
}

/* Return: the offset of the first byte that differs from the pattern, or size. */
static uint64_t check(const struct state_blob *b)
{
	uint64_t key = blob_key(b, b->seed);
	uint64_t i;

	for (i = 0; i < b->size; i += 8) {
		uint64_t w = pattern_word(key, i / 8);
		size_t n = MIN(8, b->size - i);

		if (memcmp(b->data + i, &w, n)) {
			for (size_t k = 0; k < n; k++)
				if (b->data[i + k] != ((uint8_t *)&w)[k])
					return i + k;
		}
	}
	return b->size;
}

struct state_blob *state_blob_new(const char *id, uint64_t size, bool fill_now)
{
	struct state_blob *b = g_new0(struct state_blob, 1);

	g_strlcpy(b->id, id, sizeof(b->id));
	g_snprintf(b->data_name, sizeof(b->data_name), "%s/data", id);
	b->size = size;
	b->data = g_malloc(size);
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
	if (len != sizeof(*h) || h->magic != BLOB_MAGIC) {
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
	bad = check(b);
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
	g_free(b->data);
	g_free(b);
}
