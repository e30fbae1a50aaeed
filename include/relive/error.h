/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive error messages: a plain-C buffer that library calls fill with a
 * sentence a person can act on, beside the -errno they return. The library
 * never prints; the program that links it decides where the message goes.
 * The caller owns the struct; no fd is involved.
 */
#ifndef RELIVE_ERROR_H
#define RELIVE_ERROR_H

#define RL_ERROR_MSG_MAX 256

/*
 * struct rl_error - the message of the last failure of a call that takes one.
 * Zero-initialise it; calls that succeed leave it alone, calls that fail
 * fill @msg (NUL-terminated, truncated to fit). A NULL pointer in place of
 * a struct rl_error is accepted everywhere and means "no message wanted".
 */
struct rl_error {
	char msg[RL_ERROR_MSG_MAX];
};

#endif
