/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive unix sockets: the one way librelive and relive-vm listen on a
 * path (cpr-transfer's channels, the monitors' sockets). The listening
 * socket returned is the caller's to close.
 */
#ifndef RELIVE_UNIX_SOCKET_H
#define RELIVE_UNIX_SOCKET_H

#include "relive/error.h"
#include "relive/export.h"

/*
 * rl_unix_listen - bind a unix stream socket at @path, mode 0600, and
 * listen with room for @backlog connections. A socket file left there by
 * a process that died is replaced; anything else at @path (a file, a
 * link) is the user's and is refused with -EEXIST. @flags: 0 or
 * SOCK_NONBLOCK; the socket is SOCK_CLOEXEC always.
 * Return: 0 and *@fd (owned by the caller), or -errno with a message that
 * starts with @path in @err (-ENAMETOOLONG: @path is empty or longer than
 * a socket address takes). Nothing is left at @path on failure.
 */
RL_EXPORT int rl_unix_listen(const char *path, int backlog, int flags, int *fd,
			     struct rl_error *err);

#endif
