// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for the state stream loader: open, check the configuration
 * against itself, verify, and apply into scratch memory as a VMM would.
 * When the first input byte is odd, the rest gets its CRCs recomputed
 * first, so that mutations reach the checks behind the checksums.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../migration/stream-format.h"
#include "relive/crc32c.h"
#include "relive/stream.h"

#define MAX_RAM (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void apply(struct rl_stream_loader *l, struct rl_ram_registry *reg)
{
	const void *p;
	size_t len;

	for (unsigned i = 0; i < rl_stream_load_nr_vcpus(l); i++)
		rl_stream_load_cpu(l, i, &p, &len);
	for (unsigned i = 0; i < rl_stream_load_nr_devices(l); i++) {
		const char *name = rl_stream_load_device_name(l, i);
		struct iovec iov;

		rl_stream_load_device(l, name, &p, &len);
		if (rl_stream_load_device_size(l, name, &len) < 0 || len > MAX_RAM)
			continue;
		iov.iov_base = malloc(len ? len : 1);
		iov.iov_len = len;
		if (iov.iov_base)
			rl_stream_load_device_iov(l, name, &iov, 1, NULL);
		free(iov.iov_base);
	}
	rl_stream_load_ram(l, reg, NULL);
}

static uint32_t ram_crc(const uint8_t *d, size_t size, uint64_t ext,
			const uint8_t *payload, uint32_t plen)
{
	struct rl_ram_desc r;
	uint64_t chunk, n;
	uint32_t crc = 0;

	if (plen < RL_RAM_FIXED_LEN ||
	    rl_ram_desc_decode(payload, &r, true) != RL_FMT_OK ||
	    !(r.flags & RL_RAM_F_PAGES))
		return 0;
	chunk = 1ull << r.chunk_shift;
	n = (r.size + chunk - 1) / chunk;
	if (plen < RL_RAM_FIXED_LEN + (n + 7) / 8)
		return 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = ext + i * chunk, len = chunk;

		if (!(payload[RL_RAM_FIXED_LEN + i / 8] & (1u << (i % 8))))
			continue;
		if (i * chunk + len > r.size)
			len = r.size - i * chunk;
		if (off > size || len > size - off)
			return 0;
		crc = rl_crc32c(crc, d + off, len);
	}
	return crc;
}

static void fix_crcs(uint8_t *d, size_t size)
{
	uint64_t off = RL_STREAM_HDR_LEN, ext, next;
	struct rl_sec_hdr h;

	if (size < RL_STREAM_HDR_LEN)
		return;
	rl_put32(d + 124, rl_crc32c(0, d, 124));
	while (off + RL_SEC_HDR_LEN <= size && rl_get32(d + off) == RL_SEC_MAGIC) {
		rl_put32(d + off + 60, rl_crc32c(0, d + off, 60));
		if (rl_sec_hdr_decode(d + off, &h) != RL_FMT_OK ||
		    !rl_sec_layout(off, &h, &ext, &next) ||
		    h.payload_len > size - off - RL_SEC_HDR_LEN)
			return;
		h.payload_crc = rl_crc32c(0, d + off + RL_SEC_HDR_LEN, h.payload_len);
		if ((h.flags & RL_SEC_F_EXTENT) && h.type == RL_SECTION_RAM)
			h.ext_crc = ram_crc(d, size, ext, d + off + RL_SEC_HDR_LEN,
					    h.payload_len);
		else if ((h.flags & RL_SEC_F_EXTENT) && ext <= size &&
			 h.ext_len <= size - ext)
			h.ext_crc = rl_crc32c(0, d + ext, h.ext_len);
		rl_sec_hdr_encode(d + off, &h);
		if (next <= off)
			return;
		off = next;
	}
}

static int one_input(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (!size || !(data[0] & 1))
		return one_input(data + (size ? 1 : 0), size ? size - 1 : 0);
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	fix_crcs(copy, size - 1);
	one_input(copy, size - 1);
	free(copy);
	return 0;
}

static int one_input(const uint8_t *data, size_t size)
{
	struct rl_ram_registry reg = { 0 };
	const char *devs[64];
	struct rl_stream_config cfg = { 0 };
	struct rl_stream_loader *l;
	struct rl_error err;
	uint64_t total = 0;
	unsigned i;

	if (rl_stream_load_open_mem(&l, data, size, "fuzz.state", &err) < 0)
		return 0;
	cfg.nr_vcpus = rl_stream_load_nr_vcpus(l);
	cfg.nr_devices = rl_stream_load_nr_devices(l);
	if (cfg.nr_devices > 64)
		goto out;
	for (i = 0; i < cfg.nr_devices; i++)
		devs[i] = rl_stream_load_device_name(l, i);
	cfg.devices = devs;
	for (i = 0; i < rl_stream_load_nr_ram(l); i++) {
		struct rl_ram_block b;

		rl_stream_load_ram_block(l, i, &b);
		total += b.size;
		if (b.size > MAX_RAM || total > MAX_RAM)
			goto out;
		b.host = mmap(NULL, b.size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b.host == MAP_FAILED)
			goto out;
		if (rl_ram_add(&reg, &b) < 0) {
			munmap(b.host, b.size);
			goto out;
		}
	}
	cfg.ram = &reg;
	if (rl_stream_load_check_config(l, &cfg, &err) == 0 &&
	    rl_stream_load_verify(l, &err) == 0)
		apply(l, &reg);
out:
	for (i = 0; i < reg.count; i++)
		munmap(reg.blocks[i].host, reg.blocks[i].size);
	rl_ram_registry_free(&reg);
	rl_stream_load_close(l);
	return 0;
}
