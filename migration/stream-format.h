/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state stream's on-disk layout (docs/format.md, "# State stream"):
 * constants, and the encoders and decoders of the fixed-size parts, shared
 * by the saver and the loader. All integers are little-endian. Not installed.
 */
#ifndef RELIVE_MIGRATION_STREAM_FORMAT_H
#define RELIVE_MIGRATION_STREAM_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "relive/stream.h"
#include "le.h"

#define RL_STREAM_MAGIC "RLSTREAM"	/* 8 bytes, no NUL */
#define RL_STREAM_HDR_LEN 128u
#define RL_STREAM_CREATOR_LEN 64u
#define RL_SEC_MAGIC 0x43534c52u		/* "RLSC" */
#define RL_SEC_HDR_LEN 64u
#define RL_SEC_F_EXTENT 0x0001u		/* a 4 KiB-aligned data region follows */
#define RL_STREAM_F_IGNORE_SHARED 0x1u
#define RL_STREAM_F_UPDATE_ID 0x2u	/* bytes 88..103 hold the update's identity */
#define RL_FOOTER_LEN 16u
#define RL_CFG_FIXED_LEN 16u
#define RL_CFG_RAM_LEN 64u
#define RL_CFG_DEV_LEN 32u
#define RL_RAM_FIXED_LEN 56u
#define RL_RAM_F_SHARED 0x1u
#define RL_RAM_F_IMPLICIT 0x2u
#define RL_RAM_F_PAGES 0x4u			/* pages are in the extent */
#define RL_RAM_BITMAP_MAX (256u * 1024)	/* bytes; bigger blocks get bigger chunks */
#define RL_STREAM_MAX_VCPUS 4096u
#define RL_STREAM_MAX_DEVICES 4096u
#define RL_STREAM_MAX_RAM 4096u

static inline uint64_t rl_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Return: true when all @len bytes at @p are zero (@len at least 8). */
static inline bool rl_is_zero(const unsigned char *p, size_t len)
{
	static const unsigned char zero[8];

	/* p[0..8) zero and p[i] == p[i + 8] for all i: every byte is zero */
	return !memcmp(p, zero, 8) && !memcmp(p, p + 8, len - 8);
}

struct rl_stream_hdr {
	uint32_t version;
	uint32_t flags;
	uint32_t mode;
	char creator[RL_STREAM_CREATOR_LEN];
	struct rl_update_id update_id;	/* with RL_STREAM_F_UPDATE_ID */
};

struct rl_sec_hdr {
	uint16_t type;
	uint16_t flags;
	char name[RL_SECTION_NAME_MAX];
	uint32_t payload_len;
	uint32_t payload_crc;
	uint64_t ext_len;
	uint32_t ext_crc;
};

/* One RAM block as the configuration and the RAM sections carry it. */
struct rl_ram_desc {
	char name[RL_RAM_NAME_MAX];
	uint64_t size;
	uint64_t gpa;
	uint32_t backing;
	uint32_t flags;
	uint64_t page_size;
	/* RAM sections only */
	uint64_t dev;
	uint64_t ino;
	uint32_t chunk_shift;
};

/* Decode results beyond 0: which check failed, for the loader's messages. */
enum rl_fmt_err {
	RL_FMT_OK = 0,
	RL_FMT_BAD_MAGIC,
	RL_FMT_BAD_VERSION,
	RL_FMT_BAD_LENGTH,
	RL_FMT_BAD_CRC,
	RL_FMT_BAD_NAME,
	RL_FMT_BAD_TYPE,
	RL_FMT_BAD_FLAGS,
	RL_FMT_BAD_FIELD,
};

void rl_stream_hdr_encode(unsigned char *p, const struct rl_stream_hdr *h);
enum rl_fmt_err rl_stream_hdr_decode(const unsigned char *p,
				     struct rl_stream_hdr *h);

void rl_sec_hdr_encode(unsigned char *p, const struct rl_sec_hdr *h);
enum rl_fmt_err rl_sec_hdr_decode(const unsigned char *p, struct rl_sec_hdr *h);

/*
 * Offsets that follow from a section header at @off: where its extent
 * starts and where the next section starts. false on overflow.
 */
bool rl_sec_layout(uint64_t off, const struct rl_sec_hdr *h, uint64_t *ext_off,
		   uint64_t *next);

/* Copy @src into a NUL-padded field of @len bytes. false if it does not fit or is empty. */
bool rl_name_put(char *dst, size_t len, const char *src);

/* A NUL-terminated, NUL-padded, printable name of at most @len bytes. */
bool rl_name_valid(const char *name, size_t len, bool allow_empty);

void rl_ram_desc_encode(unsigned char *p, const struct rl_ram_desc *d,
			bool section);
enum rl_fmt_err rl_ram_desc_decode(const unsigned char *p,
				   struct rl_ram_desc *d, bool section);

/* Chunk size exponent for a block of @size bytes: 12 or more, bitmap <= RL_RAM_BITMAP_MAX. */
uint32_t rl_ram_chunk_shift(uint64_t size);

/* Human name of a section type: "config", "cpu", "device", "ram", "footer", "pad". */
const char *rl_section_type_name(unsigned type);

#endif
