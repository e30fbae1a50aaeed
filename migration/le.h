/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Little-endian loads and stores of the state stream and of the CPR state.
 * Byte by byte, so any alignment and any host order; no libc, so that the
 * freestanding trampoline can use it too.
 */
#ifndef RELIVE_MIGRATION_LE_H
#define RELIVE_MIGRATION_LE_H

#include <stdint.h>

static inline void rl_put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void rl_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void rl_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t rl_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rl_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t rl_get64(const unsigned char *p)
{
	return (uint64_t)rl_get32(p) | (uint64_t)rl_get32(p + 4) << 32;
}

#endif
