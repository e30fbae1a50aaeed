// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CRC32C for the state stream: the SSE4.2 crc32 instruction on x86-64 CPUs
 * that have it (checked once with cpuid), a slicing-by-8 table elsewhere.
 */
#include <pthread.h>
#include <string.h>

#include "relive/crc32c.h"

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^
				      table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc32c_sw(uint32_t c, const unsigned char *p, size_t len)
{
	pthread_once(&table_once, table_init);
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		/* The tables assume little-endian words, as on every CPU relive runs on. */
		v ^= c;
		c = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		    table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		    table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		    table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__)
/*
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1:
 * large buffers run three lanes of LANE bytes at once and join them by
 * shifting the first two over the bytes that follow them (a linear map of the
 * 32-bit state, as 4 byte-indexed tables built once from the bit-wise update).
 */
#define LANE 8192u

static uint32_t shift1[4][256], shift2[4][256]; /* over LANE and 2 * LANE zero bytes */
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* The raw state @c after @n zero bytes. */
static uint32_t zeros(uint32_t c, size_t n)
{
	while (n--)
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & (0u - (c & 1)));
	return c;
}

static void shift_init(void)
{
	for (int bitpos = 0; bitpos < 32; bitpos++) {
		uint32_t one = zeros(1u << bitpos, LANE);
		uint32_t two = zeros(one, LANE);

		/* Linear: a table entry is the XOR of its bits' images. */
		for (unsigned v = 0; v < 256; v++) {
			if (v & (1u << (bitpos % 8))) {
				shift1[bitpos / 8][v] ^= one;
				shift2[bitpos / 8][v] ^= two;
			}
		}
	}
}

static uint32_t apply(uint32_t t[4][256], uint32_t c)
{
	return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^
	       t[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t c, const unsigned char *p, size_t len)
{
	uint64_t c64;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi(c, *p++);
		len--;
	}
	if (len >= 3 * LANE) {
		pthread_once(&shift_once, shift_init);
		while (len >= 3 * LANE) {
			uint64_t a = c, b = 0, d = 0, va, vb, vd;

			for (size_t i = 0; i < LANE; i += 8) {
				memcpy(&va, p + i, 8);
				memcpy(&vb, p + LANE + i, 8);
				memcpy(&vd, p + 2 * LANE + i, 8);
				a = __builtin_ia32_crc32di(a, va);
				b = __builtin_ia32_crc32di(b, vb);
				d = __builtin_ia32_crc32di(d, vd);
			}
			c = apply(shift2, (uint32_t)a) ^ apply(shift1, (uint32_t)b) ^
			    (uint32_t)d;
			p += 3 * LANE;
			len -= 3 * LANE;
		}
	}
	c64 = c;
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

bool rl_crc32c_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
bool rl_crc32c_hw(void)
{
	return false;
}
#endif

uint32_t rl_crc32c(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_hw(c, buf, len);
#endif
	return ~crc32c_sw(c, buf, len);
}

uint32_t rl_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_sw(~crc, buf, len);
}
