/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The built-in guest program: 16-bit real mode, run from the "pc.bios" ROM
 * block mapped just below 4 GiB (CS base 0xffff0000, as after reset). Every
 * vCPU starts at guest_entry with its index in %bx; the boot vCPU (index 0)
 * prints the banner on the 16550 at 0x3f8, then each vCPU increments its
 * heartbeat, the little-endian u64 at guest-physical 0x1000 + 64 * index,
 * forever. docs/guest.md describes that page: it is an interface.
 */
	.section .rodata.relive_guest, "a"
	.globl relive_guest_start, relive_guest_end, relive_guest_entry

	.code16
relive_guest_start:
entry:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %ss
	movw	$0x0ff0, %sp
	testw	%bx, %bx
	jnz	beat

	movw	$(banner - relive_guest_start), %si
next_char:
	movb	%cs:(%si), %cl
	testb	%cl, %cl
	jz	beat
	movw	$0x3fd, %dx		/* LSR: wait for THRE */
wait_thre:
	inb	%dx, %al
	testb	$0x20, %al
	jz	wait_thre
	movw	$0x3f8, %dx		/* THR */
	movb	%cl, %al
	outb	%al, %dx
	incw	%si
	jmp	next_char

beat:
	movw	%bx, %di
	shlw	$6, %di
	addw	$0x1000, %di
beat_loop:
	addl	$1, (%di)
	adcl	$0, 4(%di)
	jmp	beat_loop

banner:
	.asciz	"relive guest: up, counting heartbeats at 0x1000\r\n"
relive_guest_end:

	.code64
	.balign	4
relive_guest_entry:
	.long	entry - relive_guest_start

	.section .note.GNU-stack, "", @progbits
