/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Version of librelive, for programs that link it and want to print it.
 * The string is a constant of the library; no fd or buffer changes hands.
 */
#ifndef RELIVE_VERSION_H
#define RELIVE_VERSION_H

#include "relive/export.h"

/* Return: the library's version string, e.g. "0.1.0". Never NULL. */
RL_EXPORT const char *rl_version(void);

#endif
