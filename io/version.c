// SPDX-License-Identifier: GPL-2.0-or-later
/* The library's version string, set by the build. */
#include "relive/version.h"

const char *rl_version(void)
{
	return RELIVE_VERSION;
}
