/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Named failpoints for fault injection (-Dfault_injection=true, docs/vm.md
 * "Fault injection and kills"). A failpoint sits in front of a call that can
 * fail and, when armed from RELIVE_FAILPOINTS, makes it fail the way the
 * real call would. Without the option every failpoint is the constant 0.
 */
#ifndef RELIVE_FAILPOINT_H
#define RELIVE_FAILPOINT_H

#ifdef RL_FAULT_INJECTION

/* One failpoint site, kept in section rl_failpoints so that the set can be listed. */
struct rl_failpoint {
	const char *name;
	unsigned hits;
};

/*
 * rl_failpoint_hit - pass failpoint @fp: counts the hit and does what
 * RELIVE_FAILPOINTS asks for it (fail, delay, kill the process).
 * Return: 0 (go on with the real call) or a negative errno to fail with,
 * also left in errno for callers of libc-style functions.
 */
int rl_failpoint_hit(struct rl_failpoint *fp);

/*
 * RL_FAILPOINT(name) - 0, or the negative errno the call after it must
 * fail with. @name is a string literal, unique per site: "area.step".
 * Use: fd = RL_FAILPOINT("io.open") ? -1 : open(...);
 *      ret = RL_FAILPOINT("x.y") ?: function_returning_minus_errno(...);
 */
#define RL_FAILPOINT(name_) __extension__ ({					\
	static struct rl_failpoint rl_fp_site_					\
		__attribute__((section("rl_failpoints"), used, aligned(8))) = { name_, 0 }; \
	rl_failpoint_hit(&rl_fp_site_);						\
})

#else

#define RL_FAILPOINT(name_) 0

#endif

#endif
