// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The heartbeat firmware, byte by byte. A bios image of 64 KiB is mapped
 * by QEMU's pc machine just below 4 GiB and aliased at 0xF0000-0xFFFFF; the
 * CPU starts in real mode at CS:IP = F000:FFF0, i.e. image offset 0xFFF0.
 * The loop lives at image offset 0 (linear 0xF0000) and does nothing but
 * count, so any stall in the count is a stall of the vCPU.
 */
#include "firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* At image offset 0x0000 = F000:0000 (linear 0xF0000). */
static const uint8_t loop_code[] = {
	0xFA,			      /* cli: no interrupt may take the CPU away */
	0x31, 0xC0,		      /* xor ax, ax */
	0x8E, 0xD8,		      /* mov ds, ax: DS base 0, so [0x1000] is linear 0x1000 */
	/* loop: (offset 5) */
	0x66, 0x83, 0x06, 0x00, 0x10, 0x01, /* add dword [0x1000], 1: low half (0x66: 32-bit operand) */
	0x66, 0x83, 0x16, 0x04, 0x10, 0x00, /* adc dword [0x1004], 0: carry into the high half */
	0xEB, 0xF2,		      /* jmp short loop: -14 bytes, back to offset 5 */
};

/* At image offset 0xFFF0: the reset vector. */
static const uint8_t reset_code[] = {
	0xEA, 0x00, 0x00, 0x00, 0xF0, /* jmp far F000:0000: to the loop, through the low alias */
	0xF4,			      /* hlt: never reached */
};

void firmware_build(uint8_t *img)
{
	/* 0xF4 (hlt) everywhere else: a stray jump stops instead of running garbage. */
	memset(img, 0xF4, FIRMWARE_SIZE);
	memcpy(img, loop_code, sizeof(loop_code));
	memcpy(img + 0xFFF0, reset_code, sizeof(reset_code));
}

gboolean firmware_write(const char *path, GError **errp)
{
	uint8_t *img = g_malloc(FIRMWARE_SIZE);
	int fd, err = 0;
	ssize_t n;

	firmware_build(img);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = errno;
	} else {
		n = write(fd, img, FIRMWARE_SIZE);
		if (n != FIRMWARE_SIZE)
			err = n < 0 ? errno : EIO;
		if (close(fd) && !err)
			err = errno;
	}
	g_free(img);
	if (err) {
		g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(err),
			    "cannot write the firmware image %s: %s", path, g_strerror(err));
		return FALSE;
	}
	return TRUE;
}
