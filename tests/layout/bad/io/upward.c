// SPDX-License-Identifier: GPL-2.0-or-later
/* io/ reaching up into migration/: check-includes.py must refuse it. */
#include "../migration/above.h"
