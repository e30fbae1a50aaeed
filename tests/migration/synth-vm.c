// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The synthetic VM of the stream tests (see synth-vm.h): its memory, its
 * patterned state, and the save and load sequences a VMM runs.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "synth-vm.h"

static void die(const char *what)
{
	perror(what);
	abort();
}

static void add_block(struct synth_vm *vm, const char *name, uint64_t size,
		      uint64_t gpa, int fd)
{
	struct rl_ram_block b = { .size = size, .gpa = gpa, .fd = fd,
				  .page_size = 4096 };

	snprintf(b.name, sizeof(b.name), "%s", name);
	if (fd >= 0) {
		b.backing = RL_RAM_MEMFD;
		b.shared = true;
		b.host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		b.backing = RL_RAM_ANON;
		b.host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (b.host == MAP_FAILED)
		die("mmap");
	if (rl_ram_add(&vm->ram, &b) < 0)
		die("rl_ram_add");
}

void synth_vm_init(struct synth_vm *vm, uint64_t shared_size,
		   uint64_t private_size)
{
	memset(vm, 0, sizeof(*vm));
	vm->memfd = -1;
	vm->nr_vcpus = 2;
	for (unsigned c = 0; c < 2; c++)
		for (unsigned i = 0; i < sizeof(vm->cpu[c]); i++)
			vm->cpu[c][i] = (unsigned char)(i * 7 + c + 1);
	if (shared_size) {
		unsigned char *p;

		vm->memfd = memfd_create("ram0", MFD_CLOEXEC);
		if (vm->memfd < 0 || ftruncate(vm->memfd, shared_size) < 0)
			die("memfd");
		add_block(vm, "ram0", shared_size, 0, vm->memfd);
		p = vm->ram.blocks[vm->ram.count - 1].host;
		for (uint64_t o = 0; o < shared_size; o += 4096)
			memcpy(p + o, "SHAREDPG", 8);
	}
	if (private_size) {
		unsigned char *p;

		add_block(vm, "ram1", private_size, 1ull << 32, -1);
		p = vm->ram.blocks[vm->ram.count - 1].host;
		for (uint64_t o = 0; o < private_size; o += 4 * 4096)
			for (unsigned i = 0; i < 4096; i += 8)
				memcpy(p + o + i, &(uint64_t){ o + i + 1 }, 8);
	}
}

void synth_vm_add_device(struct synth_vm *vm, const char *name, size_t len,
			 bool iov, unsigned seed)
{
	unsigned n = vm->nr_devices++;

	snprintf(vm->dev_names[n], sizeof(vm->dev_names[n]), "%s", name);
	vm->devices[n] = vm->dev_names[n];
	vm->dev_state[n] = malloc(len ? len : 1);
	if (!vm->dev_state[n])
		die("malloc");
	for (size_t i = 0; i < len; i++)
		vm->dev_state[n][i] = (unsigned char)(i * 13 + seed);
	vm->dev_len[n] = len;
	vm->dev_iov[n] = iov;
}

void synth_vm_empty_like(struct synth_vm *dst, const struct synth_vm *src,
			 unsigned char sentinel)
{
	memset(dst, 0, sizeof(*dst));
	dst->memfd = -1;
	dst->nr_vcpus = src->nr_vcpus;
	memset(dst->cpu, sentinel, sizeof(dst->cpu));
	for (unsigned i = 0; i < src->ram.count; i++) {
		const struct rl_ram_block *b = &src->ram.blocks[i];

		if (b->fd >= 0) {
			dst->memfd = dup(b->fd);
			add_block(dst, b->name, b->size, b->gpa, dst->memfd);
		} else {
			add_block(dst, b->name, b->size, b->gpa, -1);
			memset(dst->ram.blocks[i].host, sentinel, b->size);
		}
	}
	for (unsigned i = 0; i < src->nr_devices; i++) {
		synth_vm_add_device(dst, src->dev_names[i], src->dev_len[i],
				    src->dev_iov[i], 0);
		memset(dst->dev_state[i], sentinel, src->dev_len[i]);
	}
}

void synth_vm_free(struct synth_vm *vm)
{
	for (unsigned i = 0; i < vm->ram.count; i++)
		munmap(vm->ram.blocks[i].host, vm->ram.blocks[i].size);
	rl_ram_registry_free(&vm->ram);
	for (unsigned i = 0; i < vm->nr_devices; i++)
		free(vm->dev_state[i]);
	if (vm->memfd >= 0)
		close(vm->memfd);
	memset(vm, 0, sizeof(*vm));
}

struct rl_stream_config synth_vm_config(const struct synth_vm *vm)
{
	struct rl_stream_config cfg = {
		.nr_vcpus = vm->nr_vcpus,
		.ram = &vm->ram,
		.devices = vm->devices,
		.nr_devices = vm->nr_devices,
	};

	return cfg;
}

int synth_vm_save(const struct synth_vm *vm, const char *path,
		  const struct rl_stream_save_opts *opts, struct rl_error *err)
{
	struct rl_stream_saver *s;
	int ret;

	ret = rl_stream_save_begin(&s, path, opts, err);
	if (ret < 0)
		return ret;
	return synth_vm_save_into(vm, s);
}

int synth_vm_save_into(const struct synth_vm *vm, struct rl_stream_saver *s)
{
	struct rl_stream_config cfg = synth_vm_config(vm);
	char name[32];
	void *p;
	int ret;

	ret = rl_stream_save_config(s, &cfg);
	for (unsigned c = 0; !ret && c < vm->nr_vcpus; c++) {
		snprintf(name, sizeof(name), "cpu/%u", c);
		ret = rl_stream_save_section_begin(s, RL_SECTION_CPU, name);
		/* serialise in place, in two pieces, as a device model would */
		if (!ret)
			ret = rl_stream_save_reserve(s, sizeof(vm->cpu[c]), &p);
		if (!ret) {
			memcpy(p, vm->cpu[c], 100);
			ret = rl_stream_save_advance(s, 100);
		}
		if (!ret)
			ret = rl_stream_save_put(s, vm->cpu[c] + 100,
						 sizeof(vm->cpu[c]) - 100);
		if (!ret)
			ret = rl_stream_save_section_end(s);
	}
	for (unsigned i = 0; !ret && i < vm->nr_devices; i++) {
		if (vm->dev_iov[i]) {
			struct iovec iov[2] = {
				{ vm->dev_state[i], vm->dev_len[i] / 2 },
				{ vm->dev_state[i] + vm->dev_len[i] / 2,
				  vm->dev_len[i] - vm->dev_len[i] / 2 },
			};

			ret = rl_stream_save_device_iov(s, vm->devices[i], iov, 2);
			continue;
		}
		ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE,
						   vm->devices[i]);
		if (!ret)
			ret = rl_stream_save_reserve(s, vm->dev_len[i], &p);
		if (!ret) {
			memcpy(p, vm->dev_state[i], vm->dev_len[i]);
			ret = rl_stream_save_advance(s, vm->dev_len[i]);
		}
		if (!ret)
			ret = rl_stream_save_section_end(s);
	}
	if (!ret)
		ret = rl_stream_save_ram(s, &vm->ram);
	if (ret < 0) {
		rl_stream_save_abort(s);
		return ret;
	}
	return rl_stream_save_commit(s);
}

int synth_vm_apply(struct synth_vm *vm, struct rl_stream_loader *l,
		   struct rl_error *err)
{
	struct rl_stream_config cfg = synth_vm_config(vm);
	const void *data;
	size_t len;
	int ret;

	ret = rl_stream_load_check_config(l, &cfg, err);
	if (!ret)
		ret = rl_stream_load_verify(l, err);
	if (ret < 0)
		return ret;
	for (unsigned c = 0; c < vm->nr_vcpus; c++) {
		ret = rl_stream_load_cpu(l, c, &data, &len);
		if (ret < 0)
			return ret;
		if (len != sizeof(vm->cpu[c]))
			return -EINVAL;
		memcpy(vm->cpu[c], data, len);
	}
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		struct iovec iov = { vm->dev_state[i], vm->dev_len[i] };

		ret = rl_stream_load_device_iov(l, vm->devices[i], &iov, 1, err);
		if (ret < 0)
			return ret;
	}
	return rl_stream_load_ram(l, &vm->ram, err);
}

int synth_vm_load_file(struct synth_vm *vm, const char *path,
		       struct rl_error *err)
{
	struct rl_stream_loader *l;
	int ret;

	ret = rl_stream_load_open(&l, path, NULL, err);
	if (ret < 0)
		return ret;
	ret = synth_vm_apply(vm, l, err);
	rl_stream_load_close(l);
	return ret;
}

int synth_vm_load_mem(struct synth_vm *vm, const void *data, size_t size,
		      struct rl_error *err)
{
	struct rl_stream_loader *l;
	int ret;

	ret = rl_stream_load_open_mem(&l, data, size, "vm.state", err);
	if (ret < 0)
		return ret;
	ret = synth_vm_apply(vm, l, err);
	rl_stream_load_close(l);
	return ret;
}

void synth_tmpdir(char *buf)
{
	strcpy(buf, "/tmp/relive-stream-XXXXXX");
	if (!mkdtemp(buf))
		die("mkdtemp");
}

void synth_rmdir(const char *dir)
{
	struct dirent *de;
	char path[512];
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
