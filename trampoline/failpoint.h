/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The trampoline's failpoints: trampoline/failpoint.c. */
#ifndef RELIVE_TRAMPOLINE_FAILPOINT_H
#define RELIVE_TRAMPOLINE_FAILPOINT_H

/* Does what RELIVE_FAILPOINTS in @envp asks at @name: "delay:MS" or "crash". */
void tramp_failpoint(char **envp, const char *name);

#endif
