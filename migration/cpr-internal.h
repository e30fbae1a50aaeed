/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What librelive's CPR code shares with relive-trampoline and nobody else:
 * not installed, not part of the library's interface.
 */
#ifndef RELIVE_CPR_INTERNAL_H
#define RELIVE_CPR_INTERNAL_H

#include <fcntl.h>

#include "relive/cpr.h"

/* The seals rl_cpr_state_write_memfd() sets; the trampoline wants exactly these. */
#define RL_CPR_STATE_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

#endif
