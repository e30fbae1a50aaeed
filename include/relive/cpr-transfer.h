/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpr-transfer: the CPR state and its descriptors handed to a new process
 * on the same host over a unix socket (SCM_RIGHTS), and the main channel
 * that carries the state stream's bytes. The old process connects; the new
 * one listens. Every blocking step takes a timeout so that the old process
 * can always give up and resume its guest. docs/modes.md has the flow.
 *
 * Ownership: sockets returned by listen, accept and connect are the
 * caller's to close; sockets and files passed in (@lfd, @sock, @fd) are
 * borrowed and stay open. rl_cpr_transfer_send() borrows the descriptors
 * of @s's table; rl_cpr_transfer_recv() gives the caller new ones, owned
 * through @s.
 */
#ifndef RELIVE_CPR_TRANSFER_H
#define RELIVE_CPR_TRANSFER_H

#include <stdint.h>

#include "relive/export.h"
#include "relive/cpr.h"
#include "relive/error.h"

/* Default timeout of every step on the old side, in milliseconds. */
#define RL_CPR_TRANSFER_TIMEOUT_MS 5000

/*
 * rl_cpr_transfer_listen - bind a unix stream socket at @path (mode 0600;
 * a stale socket file left there is replaced) and listen.
 * Return: 0 and *@fd (SOCK_CLOEXEC, owned by the caller), or -errno with @err.
 */
RL_EXPORT int rl_cpr_transfer_listen(const char *path, int *fd, struct rl_error *err);

/*
 * rl_cpr_transfer_accept - wait for one connection on @lfd, at most
 * @timeout_ms (< 0: forever). Return: 0 and *@fd (owned by the caller),
 * -ETIMEDOUT, or -errno with @err.
 */
RL_EXPORT int rl_cpr_transfer_accept(int lfd, int timeout_ms, int *fd,
				     struct rl_error *err);

/*
 * rl_cpr_transfer_connect - connect to the unix socket at @path, retrying
 * while nobody listens yet, at most @timeout_ms. Return: 0 and *@fd (owned
 * by the caller), or -errno (-ECONNREFUSED, -ENOENT ...) with @err naming @path.
 */
RL_EXPORT int rl_cpr_transfer_connect(const char *path, int timeout_ms, int *fd,
				      struct rl_error *err);

/*
 * rl_cpr_transfer_send - send @s and every descriptor of its fd table over
 * @sock. The descriptors are borrowed: they stay open here.
 * Return: 0 or -errno (-EPIPE: the peer went away) with @err.
 */
RL_EXPORT int rl_cpr_transfer_send(int sock, const struct rl_cpr_state *s,
				   int timeout_ms, struct rl_error *err);

/*
 * rl_cpr_transfer_recv - receive a state sent by rl_cpr_transfer_send().
 * The received descriptors (close-on-exec, owned by the caller through @s)
 * replace the numbers in @s's table and each one is checked against its
 * entry (kind, device, inode, size) as rl_cpr_verify_fd() does. On failure
 * every received descriptor is closed.
 * Return: 0 or -errno (-EPROTO, -ESTALE, -ETIMEDOUT ...) with @err.
 */
RL_EXPORT int rl_cpr_transfer_recv(int sock, struct rl_cpr_state *s, int timeout_ms,
				   struct rl_error *err);

/*
 * rl_cpr_transfer_wait_hup - wait until the peer closes @sock (the new
 * process has read the CPR channel), at most @timeout_ms.
 * Return: 0, -ETIMEDOUT, or -errno with @err.
 */
RL_EXPORT int rl_cpr_transfer_wait_hup(int sock, int timeout_ms, struct rl_error *err);

/*
 * rl_cpr_transfer_send_file - the main channel: @size bytes of @fd from
 * offset 0, after a small header, each write at most @timeout_ms.
 * Return: 0 or -errno with @err.
 */
RL_EXPORT int rl_cpr_transfer_send_file(int sock, int fd, uint64_t size, int timeout_ms,
					struct rl_error *err);

/*
 * rl_cpr_transfer_recv_file - receive what rl_cpr_transfer_send_file()
 * sent into @fd (a regular file, written from offset 0).
 * Return: 0 and *@size, or -errno (-EPROTO: short or malformed) with @err.
 */
RL_EXPORT int rl_cpr_transfer_recv_file(int sock, int fd, uint64_t *size, int timeout_ms,
					struct rl_error *err);

/*
 * rl_cpr_transfer_ack - the new process tells the old one that it has the
 * whole state and will run the guest; rl_cpr_transfer_wait_ack() waits for
 * it. Return: 0, -ETIMEDOUT, -EPIPE (the peer closed without an ack), or
 * -errno with @err.
 */
RL_EXPORT int rl_cpr_transfer_ack(int sock, struct rl_error *err);
RL_EXPORT int rl_cpr_transfer_wait_ack(int sock, int timeout_ms, struct rl_error *err);

#endif
