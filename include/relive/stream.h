/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive state stream: saving a stopped VM to a file: URI and loading it back.
 * The byte layout is in docs/format.md ("# State stream").
 *
 * Saving is split so that only the writes fall inside the pause:
 *
 *	rl_stream_save_begin(&s, path, &opts, &err);	// VM running: opens the
 *							// file and the io ring
 *	... stop the vCPUs ...
 *	rl_stream_save_config(s, &cfg);
 *	for each vCPU:	rl_stream_save_section_begin(s, RL_SECTION_CPU, "cpu/0");
 *			rl_stream_save_reserve(s, n, &p); fill p; rl_stream_save_advance(s, n);
 *			rl_stream_save_section_end(s);
 *	for each device: the same with RL_SECTION_DEVICE and the device's name,
 *			or rl_stream_save_device_iov() for large state (no copy)
 *	rl_stream_save_ram(s, &registry);
 *	ret = rl_stream_save_commit(s);		// or rl_stream_save_abort(s)
 *	if (ret < 0) resume the VM: the temporary file is gone, @path untouched
 *
 * Loading validates the whole file before anything is applied:
 *
 *	rl_stream_load_open(&l, path, NULL, &err);	// header + configuration
 *	rl_stream_load_check_config(l, &cfg, &err);	// against this VM
 *	rl_stream_load_verify(l, &err);			// every CRC, the footer
 *	rl_stream_load_cpu(l, i, &p, &n) ... rl_stream_load_device(l, name, &p, &n)
 *	rl_stream_load_ram(l, &registry, &err);
 *	rl_stream_load_close(l);
 *
 * Every call returns 0 or -errno; a struct rl_error gets a message naming the
 * file, section and offset ("vm.state: section 'cpu/1' at offset 8192: CRC
 * mismatch").
 *
 * Ownership: no fd crosses this interface; the saver and the loader open
 * their file by path and close it. Space from rl_stream_save_reserve() is
 * the saver's, the caller's to fill until advance. Memory handed over by
 * rl_stream_save_device_iov() and the RAM of rl_stream_save_ram() stay the
 * caller's, read until commit or abort returns. Payloads returned by
 * rl_stream_load_cpu() and rl_stream_load_device() are the loader's, valid
 * until close; rl_stream_load_open_mem() borrows @data until close. The RAM
 * registry's fds and mappings are the VMM's: borrowed, never closed here.
 */
#ifndef RELIVE_STREAM_H
#define RELIVE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "relive/cpr.h"
#include "relive/export.h"
#include "relive/error.h"
#include "relive/io.h"
#include "relive/migrate.h"
#include "relive/ram.h"

#define RL_STREAM_VERSION 1
#define RL_SECTION_NAME_MAX 32 /* including the NUL */

enum rl_section_type {
	RL_SECTION_PAD = 0,
	RL_SECTION_CONFIG = 1,
	RL_SECTION_CPU = 2,
	RL_SECTION_DEVICE = 3,
	RL_SECTION_RAM = 4,
	RL_SECTION_FOOTER = 5,
};

/*
 * struct rl_stream_config - the machine configuration a stream belongs to.
 * @nr_vcpus: vCPU count; the stream has sections "cpu/0" .. "cpu/N-1"
 * @ram: RAM blocks (names, sizes, guest-physical addresses)
 * @devices: device names in creation order, @nr_devices of them; each one
 *           has a section of that name
 */
struct rl_stream_config {
	unsigned nr_vcpus;
	const struct rl_ram_registry *ram;
	const char *const *devices;
	unsigned nr_devices;
};

/*
 * rl_stream_config_check - the one check of a configuration, made by the
 * saver before it writes, by the loader on the stream's configuration and
 * on the VM it loads into, and by a VMM at start-up and before it stops
 * for a migration: what one accepts, the others accept.
 * Device and RAM block names: 1 to RL_SECTION_NAME_MAX - 1 printable ASCII
 * characters without spaces, each name once; counts within the stream's
 * limits.
 * Return: 0, or -EINVAL with @err naming the device or block.
 */
RL_EXPORT int rl_stream_config_check(const struct rl_stream_config *cfg,
			   struct rl_error *err);

/* ------------------------------------------------------------------- save */

/*
 * struct rl_stream_save_opts - zero-initialise, set what you need.
 * @mode: decides what RAM is written: in cpr-exec and cpr-transfer shared
 *        memfd and file blocks are described, not written; in cpr-reboot,
 *        with @ignore_shared (capability x-ignore-shared), only shared file
 *        blocks (a memfd does not outlive the process), block by block
 * @direct: use O_DIRECT in cpr-exec and cpr-transfer too, where the stream
 *          is written through the page cache by default (the next process
 *          reads it at once; waiting for the disk would lengthen the pause)
 * @io: options of the io writer; zero buf_size and buf_count mean
 *      RL_STREAM_BUF_COUNT buffers of RL_STREAM_BUF_SIZE bytes (a small pool:
 *      its setup is outside the pause, its teardown inside)
 * @update_id: the update this stream belongs to, the identity its CPR state
 *      carries too (NULL: none, a stream any process may load)
 */
struct rl_stream_save_opts {
	enum rl_mig_mode mode;
	bool ignore_shared;
	bool direct;
	struct rl_io_opts io;
	const struct rl_update_id *update_id;
};

#define RL_STREAM_BUF_SIZE (128u * 1024)
#define RL_STREAM_BUF_COUNT 4u

/*
 * A state file of at most this many bytes is read whole with one pread and
 * loaded from memory, without an io ring. In a fresh process (the one a
 * cpr-exec starts) setting up the ring and its registered buffers costs
 * more than the page faults of a fresh buffer of this size; above it the
 * ring wins (docs/migration.md has the measurements).
 */
#define RL_STREAM_LOAD_WHOLE_MAX (512u * 1024)

struct rl_stream_saver;

/*
 * rl_stream_save_begin - open the writer for @path and lay down the header.
 * Call it before stopping the VM: it creates the temporary file and sets up
 * the io ring and its buffers. @err must stay valid until commit or abort:
 * every later call of this saver writes its message there.
 * Return: 0 and *@out, or -errno (see rl_writer_open()).
 */
RL_EXPORT int rl_stream_save_begin(struct rl_stream_saver **out, const char *path,
				   const struct rl_stream_save_opts *opts,
				   struct rl_error *err);

/*
 * rl_stream_save_config - write the configuration section. Must be the
 * first section. Return: 0 or -errno (-EINVAL: a name too long, called twice).
 */
RL_EXPORT int rl_stream_save_config(struct rl_stream_saver *s,
				    const struct rl_stream_config *cfg);

/*
 * rl_stream_save_section_begin - start a section of @type (RL_SECTION_CPU or
 * RL_SECTION_DEVICE) named @name ("cpu/N" for vCPU N, the device's name).
 * Return: 0 or -errno (-EINVAL: wrong type, name too long, a section open).
 */
RL_EXPORT int rl_stream_save_section_begin(struct rl_stream_saver *s,
					   enum rl_section_type type, const char *name);

/*
 * rl_stream_save_reserve - get @len contiguous bytes of the section's payload
 * in the writer's registered buffer, for the device to serialise into.
 * Nothing is written until rl_stream_save_advance(). A section's inline
 * payload is at most the io buffer size less 4160 bytes (126912 bytes by
 * default); use rl_stream_save_device_iov() beyond that.
 * Return: 0 and *@ptr, or -errno (-EMSGSIZE if the section would not fit).
 */
RL_EXPORT int rl_stream_save_reserve(struct rl_stream_saver *s, size_t len, void **ptr);

/* rl_stream_save_advance - @len bytes (<= the last reservation) at the reserved pointer are payload. */
RL_EXPORT int rl_stream_save_advance(struct rl_stream_saver *s, size_t len);

/* rl_stream_save_put - copy @len bytes of @data into the open section. Return: 0 or -errno. */
RL_EXPORT int rl_stream_save_put(struct rl_stream_saver *s, const void *data, size_t len);

/* rl_stream_save_section_end - close the open section. Return: 0 or -errno. */
RL_EXPORT int rl_stream_save_section_end(struct rl_stream_saver *s);

/*
 * rl_stream_save_device_iov - one device section whose payload is written
 * straight from @iov (no copy), 4 KiB-aligned in the file. The memory must
 * stay valid and unchanged until commit or abort returns.
 * Return: 0 or -errno.
 */
RL_EXPORT int rl_stream_save_device_iov(struct rl_stream_saver *s, const char *name,
					const struct iovec *iov, int iovcnt);

/*
 * rl_stream_save_ram - one section per block of @ram. Blocks kept in place
 * by the mode contribute their name, size and fd identity only; the others
 * have their non-zero pages written at a fixed 4 KiB-aligned region of the
 * file, zero pages skipped (the file stays sparse) and recorded in a bitmap.
 * The RAM must stay unchanged until commit or abort returns.
 * Return: 0 or -errno.
 */
RL_EXPORT int rl_stream_save_ram(struct rl_stream_saver *s,
				 const struct rl_ram_registry *ram);

/*
 * rl_stream_save_commit - write the footer, wait for every write, and rename
 * the file into place. Frees @s whatever the outcome. On a failure before
 * the rename nothing is left: the temporary file is removed and @path keeps
 * what it had. When only the directory sync after the rename fails
 * (opts.io.sync), the new stream stays at @path and the message says so.
 * Return: 0 or -errno.
 */
RL_EXPORT int rl_stream_save_commit(struct rl_stream_saver *s);

/*
 * rl_stream_save_abort - give up: remove the temporary file, free @s.
 * @path is untouched. NULL is fine. This is what a VMM calls when anything
 * after the stop fails, before it resumes the VM.
 */
RL_EXPORT void rl_stream_save_abort(struct rl_stream_saver *s);

/*
 * Return: the stream's length so far (the file's size after commit). RAM
 * extents count whole: their zero pages are holes, never written.
 */
RL_EXPORT uint64_t rl_stream_save_size(const struct rl_stream_saver *s);
/*
 * Return: the bytes of the stream that hold data so far: rl_stream_save_size()
 * without the holes of zero pages (what reaches the disk). RAM kept in
 * place counts in neither.
 */
RL_EXPORT uint64_t rl_stream_save_data_bytes(const struct rl_stream_saver *s);

/*
 * rl_stream_save_mode - the mode @s saves for (opts.mode of
 * rl_stream_save_begin()), so that a device can leave out state that
 * crosses the update as memory (in cpr-exec and cpr-transfer: a memfd
 * preserved in the CPR fd table) and write only a reference to it.
 */
RL_EXPORT enum rl_mig_mode rl_stream_save_mode(const struct rl_stream_saver *s);

/*
 * rl_stream_save_writer - the writer under @s, to ask it which backend it
 * ended up with (rl_writer_backend, rl_writer_fallback_reason). Borrowed.
 */
RL_EXPORT const struct rl_writer *rl_stream_save_writer(const struct rl_stream_saver *s);

/* ------------------------------------------------------------------- load */

struct rl_stream_loader;

/*
 * rl_stream_load_open - open @path, read and check the header and the
 * configuration section. A file of at most RL_STREAM_LOAD_WHOLE_MAX bytes is
 * read whole here and loaded from memory; @opts are for a larger one, read
 * through an io ring. When @opts leave buf_size and buf_count at 0, a file
 * of 64 MiB or more gets 16 buffers of 1 MiB, all in flight while its RAM
 * streams in; a smaller one the small pool of the save side. A cpr-exec or
 * cpr-transfer stream is read through the page cache, where its writer left
 * it, whatever @opts says about O_DIRECT.
 * Return: 0 and *@out, or -errno: -ENOENT, -ELOOP (a symlink), -EISDIR ...,
 * -EINVAL (not a state stream, corrupt header), -ENOTSUP (unknown version).
 */
RL_EXPORT int rl_stream_load_open(struct rl_stream_loader **out, const char *path,
				  const struct rl_io_opts *opts, struct rl_error *err);

/*
 * rl_stream_load_open_mem - the same over @size bytes at @data, which must
 * stay valid until close. @name is used in messages.
 */
RL_EXPORT int rl_stream_load_open_mem(struct rl_stream_loader **out, const void *data,
				      size_t size, const char *name,
				      struct rl_error *err);

/* Return: 0 and *@id, the update the stream was written for, or -ENOENT. */
RL_EXPORT int rl_stream_load_update_id(const struct rl_stream_loader *l,
			     struct rl_update_id *id);

/*
 * rl_stream_load_check_update - is this the stream of the update that
 * started this process? @want: the identity its CPR state carries, NULL when
 * there is none (a restart, cpr-reboot, a CPR state from before the field):
 * then any stream is. Otherwise the stream must carry the same identity.
 * Return: 0 or -ESTALE with @err naming both identities.
 */
RL_EXPORT int rl_stream_load_check_update(struct rl_stream_loader *l,
				const struct rl_update_id *want,
				struct rl_error *err);

/*
 * rl_stream_load_check_config - compare the stream's configuration with the
 * VM being built. Return: 0 or -EINVAL with @err naming both values
 * ("vm.state: RAM block ram0: size 512 MiB in vm.state, 1 GiB here").
 */
RL_EXPORT int rl_stream_load_check_config(struct rl_stream_loader *l,
					  const struct rl_stream_config *here,
					  struct rl_error *err);

/*
 * rl_stream_load_verify - read every section, check every CRC (extents, of
 * devices and of RAM pages, only for bounds and padding: their CRC is
 * checked as they are read into place, see rl_stream_load_device_iov() and
 * rl_stream_load_ram()), section order, duplicates, the footer and the file
 * size. Nothing of the VM is touched.
 * Return: 0 or -EINVAL/-ENOTSUP/-errno with @err naming section and offset.
 */
RL_EXPORT int rl_stream_load_verify(struct rl_stream_loader *l, struct rl_error *err);

/* Return: the number of vCPUs in the stream's configuration. */
RL_EXPORT unsigned rl_stream_load_nr_vcpus(const struct rl_stream_loader *l);

/* Return: the number of devices in the stream's configuration. */
RL_EXPORT unsigned rl_stream_load_nr_devices(const struct rl_stream_loader *l);

/* Return: the name of device @i (< nr_devices) of the configuration, or NULL. */
RL_EXPORT const char *rl_stream_load_device_name(const struct rl_stream_loader *l,
						 unsigned i);

/* Return: the number of RAM blocks in the stream's configuration. */
RL_EXPORT unsigned rl_stream_load_nr_ram(const struct rl_stream_loader *l);

/*
 * rl_stream_load_ram_block - RAM block @i of the configuration as saved:
 * name, size, gpa, backing, shared, implicit, page_size; fd is -1, host
 * NULL, path empty (the new process fills those). Return: 0 or -ENOENT.
 */
RL_EXPORT int rl_stream_load_ram_block(const struct rl_stream_loader *l, unsigned i,
				       struct rl_ram_block *out);

/* Return: the mode the stream was saved in. */
RL_EXPORT enum rl_mig_mode rl_stream_load_mode(const struct rl_stream_loader *l);

/*
 * rl_stream_load_cpu - the payload of vCPU @index's section, valid until
 * close. Only after a successful verify.
 * Return: 0 and *@data, *@len, or -ENOENT, -EINVAL (not verified).
 */
RL_EXPORT int rl_stream_load_cpu(struct rl_stream_loader *l, unsigned index,
				 const void **data, size_t *len);

/*
 * rl_stream_load_device - the inline payload of device @name's section.
 * Return: 0 and *@data, *@len, -ENOENT, -EINVAL (not verified), or
 * -EMSGSIZE when the section was saved with rl_stream_save_device_iov()
 * (read it with rl_stream_load_device_iov()).
 */
RL_EXPORT int rl_stream_load_device(struct rl_stream_loader *l, const char *name,
				    const void **data, size_t *len);

/*
 * rl_stream_load_device_size - the payload size of device @name's section.
 * Return: 0 and *@len, -ENOENT or -EINVAL (not verified).
 */
RL_EXPORT int rl_stream_load_device_size(struct rl_stream_loader *l, const char *name,
					 size_t *len);

/*
 * rl_stream_load_device_iov - read device @name's payload into @iov, whose
 * lengths must add up to the payload size. Works for both kinds of section.
 * An extent is read once, straight into @iov, and its CRC checked after:
 * on a mismatch @iov holds the damaged bytes, so it must be memory the
 * device does not use until the whole load has succeeded (as in a new
 * process), and it must be called before rl_stream_load_ram() so that
 * the refusal leaves guest RAM untouched.
 * Return: 0 or -errno (-EINVAL size mismatch, CRC mismatch or not verified,
 * -ENOENT).
 */
RL_EXPORT int rl_stream_load_device_iov(struct rl_stream_loader *l, const char *name,
					const struct iovec *iov, int iovcnt,
					struct rl_error *err);

/*
 * rl_stream_load_ram - fill every block of @ram whose pages are in the stream
 * (absent pages become zero); blocks kept in place are checked to be the
 * same memfd or file (device and inode of their fd) and left alone. Every
 * block is checked (sizes, mappings, fds) before the first page is written.
 * Each block's pages are then read once, in order, into the reader's
 * buffers, checked there, and put in place by the kernel (pwrite to a
 * shared block's fd, process_vm_writev into a mapping), so that the guest
 * gets exactly the bytes that were checked and this process never touches
 * the guest's pages. Absent pages that are already zero are not touched
 * either (a private anonymous block drops them, an fd's holes are
 * skipped). On a CRC mismatch (a damaged file, or one changed since the
 * verify) the RAM holds part of the state, and the VM must not run; the
 * message names the section and the offset of its pages.
 * Return: 0 or -errno with @err.
 */
RL_EXPORT int rl_stream_load_ram(struct rl_stream_loader *l,
				 const struct rl_ram_registry *ram, struct rl_error *err);

/* rl_stream_load_close - free @l. NULL is fine. */
RL_EXPORT void rl_stream_load_close(struct rl_stream_loader *l);

#endif
