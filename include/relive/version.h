/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Version of librelive, for programs that link it and want to print it.
 */
#ifndef RELIVE_VERSION_H
#define RELIVE_VERSION_H

/* Return: the library's version string, e.g. "0.1.0". Never NULL. */
const char *rl_version(void);

#endif
