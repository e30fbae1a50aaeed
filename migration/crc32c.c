// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CRC32C, the one implementation for the state stream, the CPR state and
 * relive-trampoline: the SSE4.2 crc32 instruction on x86-64 CPUs that have
 * it (asked once with cpuid), a slicing-by-8 table elsewhere. Freestanding:
 * the trampoline compiles this file with -nostdlib, so no libc, no
 * pthread: compiler builtins and atomics only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/crc32c.h"

#define POLY 0x82f63b78u /* Castagnoli, reflected */

/*
 * pthread_once() without pthread: the first caller builds, others wait for
 * it (a table takes microseconds to build). @state: 0 new, 1 building, 2 done.
 */
static void once(int *state, void (*init)(void))
{
	int v = __atomic_load_n(state, __ATOMIC_ACQUIRE);

	if (v == 2)
		return;
	v = 0;
	if (__atomic_compare_exchange_n(state, &v, 1, false, __ATOMIC_ACQUIRE,
					__ATOMIC_ACQUIRE)) {
		init();
		__atomic_store_n(state, 2, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(state, __ATOMIC_ACQUIRE) != 2)
		;
}

static uint32_t table[8][256];
static int table_once;

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
	once(&table_once, table_init);
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		__builtin_memcpy(&v, p, 8);
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
#include <cpuid.h>

/*
 * The crc32 instruction has a latency of 3 cycles and a throughput of 1:
 * large buffers run three lanes of LANE bytes at once and join them by
 * shifting the first two over the bytes that follow them (a linear map of the
 * 32-bit state, as 4 byte-indexed tables).
 */
#define LANE 8192u /* 2^16 bits: the shift is the one-bit step squared 16 times */

static uint32_t shift1[4][256], shift2[4][256]; /* over LANE and 2 * LANE zero bytes */
static int shift_once;

/* @m applied to @v: @m[j] is the image of bit j. */
static uint32_t gf2_apply(const uint32_t m[32], uint32_t v)
{
	uint32_t r = 0;

	for (int j = 0; v; j++, v >>= 1)
		if (v & 1)
			r ^= m[j];
	return r;
}

/* @m = @m twice over. */
static void gf2_square(uint32_t m[32])
{
	uint32_t sq[32];

	for (int j = 0; j < 32; j++)
		sq[j] = gf2_apply(m, m[j]);
	__builtin_memcpy(m, sq, sizeof(sq));
}

static void shift_init(void)
{
	uint32_t one[32], two[32];

	/* The raw state's step over one zero bit: c >> 1, and POLY if bit 0 was set. */
	one[0] = POLY;
	for (int j = 1; j < 32; j++)
		one[j] = 1u << (j - 1);
	for (int i = 0; i < 16; i++)
		gf2_square(one);
	__builtin_memcpy(two, one, sizeof(two));
	gf2_square(two);
	/* Linear: a table entry is the XOR of its bits' images. */
	for (int bitpos = 0; bitpos < 32; bitpos++)
		for (unsigned v = 0; v < 256; v++)
			if (v & (1u << (bitpos % 8))) {
				shift1[bitpos / 8][v] ^= one[bitpos];
				shift2[bitpos / 8][v] ^= two[bitpos];
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
		once(&shift_once, shift_init);
		while (len >= 3 * LANE) {
			uint64_t a = c, b = 0, d = 0, va, vb, vd;

			for (size_t i = 0; i < LANE; i += 8) {
				__builtin_memcpy(&va, p + i, 8);
				__builtin_memcpy(&vb, p + LANE + i, 8);
				__builtin_memcpy(&vd, p + 2 * LANE + i, 8);
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

		__builtin_memcpy(&v, p, 8);
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
	static int known; /* 0 not asked yet, 1 yes, 2 no; every thread finds the same */
	int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
	unsigned a, b, c, d;

	if (!v) {
		v = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) ? 1 : 2;
		__atomic_store_n(&known, v, __ATOMIC_RELAXED);
	}
	return v == 1;
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
	if (rl_crc32c_hw())
		return ~crc32c_hw(c, buf, len);
#endif
	return ~crc32c_sw(c, buf, len);
}

uint32_t rl_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_sw(~crc, buf, len);
}
