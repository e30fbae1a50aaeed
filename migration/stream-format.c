// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Encoding and decoding of the state stream's fixed-size records: the file
 * header, section headers, RAM block descriptors. Pure functions over
 * memory; the checks here are the ones that need no context.
 */
#include <errno.h>

#include "../io/error-internal.h"
#include "relive/crc32c.h"
#include "stream-format.h"

void rl_stream_hdr_encode(unsigned char *p, const struct rl_stream_hdr *h)
{
	memset(p, 0, RL_STREAM_HDR_LEN);
	memcpy(p, RL_STREAM_MAGIC, 8);
	rl_put32(p + 8, h->version);
	rl_put32(p + 12, RL_STREAM_HDR_LEN);
	rl_put32(p + 16, h->flags);
	rl_put32(p + 20, h->mode);
	memcpy(p + 24, h->creator, RL_STREAM_CREATOR_LEN);
	if (h->flags & RL_STREAM_F_UPDATE_ID)
		memcpy(p + 88, h->update_id.b, RL_UPDATE_ID_LEN);
	rl_put32(p + 124, rl_crc32c(0, p, 124));
}

enum rl_fmt_err rl_stream_hdr_decode(const unsigned char *p,
				     struct rl_stream_hdr *h)
{
	if (memcmp(p, RL_STREAM_MAGIC, 8))
		return RL_FMT_BAD_MAGIC;
	h->version = rl_get32(p + 8);
	if (h->version != RL_STREAM_VERSION)
		return RL_FMT_BAD_VERSION;
	if (rl_get32(p + 12) != RL_STREAM_HDR_LEN)
		return RL_FMT_BAD_LENGTH;
	if (rl_get32(p + 124) != rl_crc32c(0, p, 124))
		return RL_FMT_BAD_CRC;
	h->flags = rl_get32(p + 16);
	h->mode = rl_get32(p + 20);
	memcpy(h->creator, p + 24, RL_STREAM_CREATOR_LEN);
	if (h->flags & ~(RL_STREAM_F_IGNORE_SHARED | RL_STREAM_F_UPDATE_ID))
		return RL_FMT_BAD_FLAGS;
	if (h->mode >= RL_MODE__MAX)
		return RL_FMT_BAD_FIELD;
	if (memchr(h->creator, 0, RL_STREAM_CREATOR_LEN) == NULL)
		return RL_FMT_BAD_NAME;
	memset(&h->update_id, 0, sizeof(h->update_id));
	if (h->flags & RL_STREAM_F_UPDATE_ID)
		memcpy(h->update_id.b, p + 88, RL_UPDATE_ID_LEN);
	for (unsigned i = h->flags & RL_STREAM_F_UPDATE_ID ? 88 + RL_UPDATE_ID_LEN : 88;
	     i < 124; i++)
		if (p[i])
			return RL_FMT_BAD_FIELD;
	return RL_FMT_OK;
}

void rl_sec_hdr_encode(unsigned char *p, const struct rl_sec_hdr *h)
{
	rl_put32(p, RL_SEC_MAGIC);
	rl_put16(p + 4, h->type);
	rl_put16(p + 6, h->flags);
	memcpy(p + 8, h->name, RL_SECTION_NAME_MAX);
	rl_put32(p + 40, h->payload_len);
	rl_put32(p + 44, h->payload_crc);
	rl_put64(p + 48, h->ext_len);
	rl_put32(p + 56, h->ext_crc);
	rl_put32(p + 60, rl_crc32c(0, p, 60));
}

enum rl_fmt_err rl_sec_hdr_decode(const unsigned char *p, struct rl_sec_hdr *h)
{
	if (rl_get32(p) != RL_SEC_MAGIC)
		return RL_FMT_BAD_MAGIC;
	if (rl_get32(p + 60) != rl_crc32c(0, p, 60))
		return RL_FMT_BAD_CRC;
	h->type = rl_get16(p + 4);
	h->flags = rl_get16(p + 6);
	memcpy(h->name, p + 8, RL_SECTION_NAME_MAX);
	h->payload_len = rl_get32(p + 40);
	h->payload_crc = rl_get32(p + 44);
	h->ext_len = rl_get64(p + 48);
	h->ext_crc = rl_get32(p + 56);
	if (h->type > RL_SECTION_FOOTER)
		return RL_FMT_BAD_TYPE;
	if (h->flags & ~RL_SEC_F_EXTENT)
		return RL_FMT_BAD_FLAGS;
	if (!(h->flags & RL_SEC_F_EXTENT) && (h->ext_len || h->ext_crc))
		return RL_FMT_BAD_FIELD;
	if (!rl_name_valid(h->name, RL_SECTION_NAME_MAX,
			   h->type == RL_SECTION_PAD))
		return RL_FMT_BAD_NAME;
	return RL_FMT_OK;
}

bool rl_sec_layout(uint64_t off, const struct rl_sec_hdr *h, uint64_t *ext_off,
		   uint64_t *next)
{
	uint64_t end = off + RL_SEC_HDR_LEN + h->payload_len;

	if (end < off || end > UINT64_MAX - 2 * RL_IO_ALIGN)
		return false;
	if (!(h->flags & RL_SEC_F_EXTENT)) {
		*ext_off = end;
		*next = rl_align_up(end, 8);
		return true;
	}
	*ext_off = rl_align_up(end, RL_IO_ALIGN);
	if (h->ext_len > UINT64_MAX - 2 * RL_IO_ALIGN - *ext_off)
		return false;
	*next = rl_align_up(*ext_off + h->ext_len, RL_IO_ALIGN);
	return true;
}

bool rl_name_put(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (!n || n >= len)
		return false;
	memset(dst, 0, len);
	memcpy(dst, src, n);
	return true;
}

bool rl_name_valid(const char *name, size_t len, bool allow_empty)
{
	size_t n = strnlen(name, len);

	if (n == len || (!n && !allow_empty))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			return false;
	for (size_t i = n; i < len; i++)
		if (name[i])
			return false;
	return true;
}

/* Return: what is wrong with @name as a section name, or NULL. */
static const char *name_problem(const char *name)
{
	size_t n = strlen(name);

	if (!n)
		return "is empty";
	if (n >= RL_SECTION_NAME_MAX)
		return "is longer than 31 characters";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			return "has a space or a character that is not printable ASCII";
	return NULL;
}

int rl_stream_config_check(const struct rl_stream_config *cfg,
			   struct rl_error *err)
{
	unsigned nram = cfg->ram ? cfg->ram->count : 0;
	const char *why;

	if (cfg->nr_vcpus > RL_STREAM_MAX_VCPUS || cfg->nr_devices > RL_STREAM_MAX_DEVICES ||
	    nram > RL_STREAM_MAX_RAM) {
		rl_err_set(err, "configuration too large (%u vCPUs, %u devices, %u RAM blocks; at most %u, %u, %u)",
			   cfg->nr_vcpus, cfg->nr_devices, nram, RL_STREAM_MAX_VCPUS,
			   RL_STREAM_MAX_DEVICES, RL_STREAM_MAX_RAM);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nram; i++) {
		const char *name = cfg->ram->blocks[i].name;

		if ((why = name_problem(name))) {
			rl_err_set(err, "RAM block name '%s' %s", name, why);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(cfg->ram->blocks[j].name, name)) {
				rl_err_set(err, "RAM block '%s' listed twice", name);
				return -EINVAL;
			}
		}
	}
	for (unsigned i = 0; i < cfg->nr_devices; i++) {
		const char *name = cfg->devices[i];

		if (!name) {
			rl_err_set(err, "device %u has no name", i);
			return -EINVAL;
		}
		if ((why = name_problem(name))) {
			rl_err_set(err, "device name '%s' %s", name, why);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(cfg->devices[j], name)) {
				rl_err_set(err, "device '%s' listed twice", name);
				return -EINVAL;
			}
		}
	}
	return 0;
}

void rl_ram_desc_encode(unsigned char *p, const struct rl_ram_desc *d,
			bool section)
{
	if (!section) {
		memcpy(p, d->name, RL_RAM_NAME_MAX);
		p += RL_RAM_NAME_MAX;
	}
	rl_put64(p, d->size);
	rl_put64(p + 8, d->gpa);
	rl_put32(p + 16, d->backing);
	rl_put32(p + 20, d->flags);
	rl_put64(p + 24, d->page_size);
	if (!section)
		return;
	rl_put64(p + 32, d->dev);
	rl_put64(p + 40, d->ino);
	rl_put32(p + 48, d->chunk_shift);
	rl_put32(p + 52, 0);
}

enum rl_fmt_err rl_ram_desc_decode(const unsigned char *p,
				   struct rl_ram_desc *d, bool section)
{
	uint32_t allowed = RL_RAM_F_SHARED | RL_RAM_F_IMPLICIT;

	memset(d, 0, sizeof(*d));
	if (!section) {
		memcpy(d->name, p, RL_RAM_NAME_MAX);
		if (!rl_name_valid(d->name, RL_RAM_NAME_MAX, false))
			return RL_FMT_BAD_NAME;
		p += RL_RAM_NAME_MAX;
	}
	d->size = rl_get64(p);
	d->gpa = rl_get64(p + 8);
	d->backing = rl_get32(p + 16);
	d->flags = rl_get32(p + 20);
	d->page_size = rl_get64(p + 24);
	if (!d->size || (d->size & 4095) || d->gpa + d->size < d->gpa)
		return RL_FMT_BAD_FIELD;
	if (d->backing > RL_RAM_FILE)
		return RL_FMT_BAD_FIELD;
	if (d->page_size < 4096 || (d->page_size & (d->page_size - 1)))
		return RL_FMT_BAD_FIELD;
	if (section)
		allowed |= RL_RAM_F_PAGES;
	if (d->flags & ~allowed)
		return RL_FMT_BAD_FLAGS;
	if (!section)
		return RL_FMT_OK;
	d->dev = rl_get64(p + 32);
	d->ino = rl_get64(p + 40);
	d->chunk_shift = rl_get32(p + 48);
	if (rl_get32(p + 52))
		return RL_FMT_BAD_FIELD;
	if ((d->flags & RL_RAM_F_PAGES) &&
	    d->chunk_shift != rl_ram_chunk_shift(d->size))
		return RL_FMT_BAD_FIELD;
	if (!(d->flags & RL_RAM_F_PAGES) && d->chunk_shift)
		return RL_FMT_BAD_FIELD;
	return RL_FMT_OK;
}

uint32_t rl_ram_chunk_shift(uint64_t size)
{
	uint32_t shift = 12;

	while (((size >> shift) + 7) / 8 > RL_RAM_BITMAP_MAX)
		shift++;
	return shift;
}

const char *rl_section_type_name(unsigned type)
{
	static const char *const names[] = {
		[RL_SECTION_PAD] = "pad",
		[RL_SECTION_CONFIG] = "config",
		[RL_SECTION_CPU] = "cpu",
		[RL_SECTION_DEVICE] = "device",
		[RL_SECTION_RAM] = "ram",
		[RL_SECTION_FOOTER] = "footer",
	};

	return type <= RL_SECTION_FOOTER ? names[type] : "unknown";
}
