/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRC32C (Castagnoli), as used by the state stream's section checksums and
 * the CPR state. The SSE4.2 crc32 instruction where the CPU has it, a table
 * otherwise.
 */
#ifndef RELIVE_CRC32C_H
#define RELIVE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/export.h"

/*
 * rl_crc32c - extend @crc over @len bytes of @buf.
 * Start with 0; feeding a buffer in pieces gives the same result as feeding
 * it at once. rl_crc32c(0, "123456789", 9) == 0xE3069283.
 * Return: the new CRC.
 */
RL_EXPORT uint32_t rl_crc32c(uint32_t crc, const void *buf, size_t len);

/* rl_crc32c_sw - the same on the table path, whatever the CPU. Return: the new CRC. */
RL_EXPORT uint32_t rl_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Return: true when rl_crc32c() uses the CPU's crc32 instruction. */
RL_EXPORT bool rl_crc32c_hw(void);

#endif
