// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpr-transfer's two channels over unix sockets: the CPR state with its
 * descriptors (SCM_RIGHTS, in chunks the kernel accepts), and the main
 * channel carrying the state stream's bytes with a one-byte ack back.
 * Every wait is a poll() with a timeout: the old process must never hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cpr-internal.h"
#include "../io/error-internal.h"
#include "relive/cpr-transfer.h"
#include "relive/unix-socket.h"

#define CT_MAGIC 0x54434c52u	/* "RLCT" */
#define CT_FILE_MAGIC 0x46434c52u	/* "RLCF" */
#define CT_VERSION 1u
#define CT_ACK 0x6b
#define CT_CHUNK 250	/* descriptors per message: below the kernel's SCM_MAX_FD */

struct ct_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t nfds;
	uint32_t len;
};

struct ct_file_hdr {
	uint32_t magic;
	uint32_t version;
	uint64_t size;
};

static int addr_of(const char *path, struct sockaddr_un *a, struct rl_error *err)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!path || !*path || strlen(path) >= sizeof(a->sun_path)) {
		rl_err_set(err, "unix socket path '%s' is empty or too long (at most %zu bytes)",
			   path ? path : "", sizeof(a->sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(a->sun_path, path, strlen(path));
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for @events on @fd until @deadline (0: forever). Return: 0 or -ETIMEDOUT/-errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = -1, r;

		if (deadline) {
			uint64_t n = now_ms();

			if (n >= deadline)
				return -ETIMEDOUT;
			left = (int)(deadline - n);
		}
		r = poll(&p, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : now_ms() + (uint64_t)timeout_ms + (timeout_ms == 0);
}

int rl_cpr_transfer_listen(const char *path, int *fd, struct rl_error *err)
{
	return rl_unix_listen(path, 1, 0, fd, err);
}

int rl_cpr_transfer_accept(int lfd, int timeout_ms, int *fd, struct rl_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int ret, s;

	for (;;) {
		ret = wait_fd(lfd, POLLIN, deadline);
		if (ret) {
			rl_err_set(err, "no connection within %d ms: %s", timeout_ms,
				   strerror(-ret));
			return ret;
		}
		s = RL_FAILPOINT("cpr-transfer.accept") ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s >= 0)
			break;
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
			ret = -errno;
			rl_err_set(err, "accept: %s", strerror(-ret));
			return ret;
		}
	}
	*fd = s;
	return 0;
}

int rl_cpr_transfer_connect(const char *path, int timeout_ms, int *fd,
			    struct rl_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct sockaddr_un a;
	int s, ret;

	ret = addr_of(path, &a, err);
	if (ret)
		return ret;
	for (;;) {
		s = RL_FAILPOINT("cpr-transfer.connect.socket") ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			ret = -errno;
			rl_err_set(err, "%s: socket: %s", path, strerror(-ret));
			return ret;
		}
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
			*fd = s;
			return 0;
		}
		ret = -errno;
		close(s);
		/* a listener coming up: retry; anything else is final */
		if ((ret != -ECONNREFUSED && ret != -ENOENT && ret != -EAGAIN) ||
		    now_ms() >= deadline)
			break;
		usleep(10000);
	}
	rl_err_set(err, "cannot connect to %s: %s", path, strerror(-ret));
	return ret;
}

static int send_all(int sock, const void *buf, size_t len, const int *fds,
		    unsigned nfds, uint64_t deadline)
{
	const char *p = buf;
	char cbuf[CMSG_SPACE(sizeof(int) * CT_CHUNK)];

	while (len) {
		struct iovec iov = { (void *)p, len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		int ret;

		if (nfds) {
			struct cmsghdr *c;

			memset(cbuf, 0, sizeof(cbuf));
			m.msg_control = cbuf;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		ret = wait_fd(sock, POLLOUT, deadline);
		if (ret)
			return ret;
		n = RL_FAILPOINT("cpr-transfer.send") ? -1 : sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		nfds = 0; /* the descriptors went with the first byte */
	}
	return 0;
}

/* Receives exactly @len bytes; descriptors that come along go to @fds (up to @max). */
static int recv_all(int sock, void *buf, size_t len, int *fds, unsigned max,
		    unsigned *got, uint64_t deadline)
{
	char *p = buf;
	char cbuf[CMSG_SPACE(sizeof(int) * CT_CHUNK)];

	while (len) {
		struct iovec iov = { p, len };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;
		ssize_t n;
		int ret;

		ret = wait_fd(sock, POLLIN, deadline);
		if (ret)
			return ret;
		n = RL_FAILPOINT("cpr-transfer.recv") ? -1 : recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			unsigned k;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (unsigned i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (fds && got && *got < max)
					fds[(*got)++] = fd;
				else
					close(fd); /* more than announced */
			}
		}
		if (m.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int rl_cpr_transfer_send(int sock, const struct rl_cpr_state *s,
			 int timeout_ms, struct rl_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int fds[RL_CPR_MAX_FDS];
	struct ct_hdr h = { CT_MAGIC, CT_VERSION, s->nfds, 0 };
	unsigned first, done;
	size_t len = 0;
	char *buf;
	int ret;

	ret = rl_cpr_state_encode(s, NULL, 0, &len);
	if (ret != -ENOSPC && ret != 0)
		goto fail;
	buf = malloc(len);
	if (!buf) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = rl_cpr_state_encode(s, buf, len, &len);
	if (ret) {
		free(buf);
		goto fail;
	}
	h.len = (uint32_t)len;
	for (unsigned i = 0; i < s->nfds; i++)
		fds[i] = s->fds[i].fd;
	first = s->nfds < CT_CHUNK ? s->nfds : CT_CHUNK;
	ret = send_all(sock, &h, sizeof(h), fds, first, deadline);
	for (done = first; !ret && done < s->nfds; done += CT_CHUNK) {
		unsigned k = s->nfds - done < CT_CHUNK ? s->nfds - done : CT_CHUNK;
		char b = 0;

		ret = send_all(sock, &b, 1, fds + done, k, deadline);
	}
	if (!ret)
		ret = send_all(sock, buf, len, NULL, 0, deadline);
	free(buf);
	if (!ret)
		return 0;
fail:
	rl_err_set(err, "sending the CPR state (%u fds): %s", s->nfds, strerror(-ret));
	return ret;
}

int rl_cpr_transfer_recv(int sock, struct rl_cpr_state *s, int timeout_ms,
			 struct rl_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int fds[RL_CPR_MAX_FDS];
	unsigned got = 0, want;
	struct ct_hdr h;
	struct rl_cpr_diag diag = { 0, NULL };
	char *buf = NULL;
	int ret;

	ret = recv_all(sock, &h, sizeof(h), fds, RL_CPR_MAX_FDS, &got, deadline);
	if (ret) {
		rl_err_set(err, "CPR channel: reading the header: %s", strerror(-ret));
		goto out;
	}
	if (h.magic != CT_MAGIC || h.version != CT_VERSION || h.nfds > RL_CPR_MAX_FDS ||
	    h.len > (64u << 20)) {
		rl_err_set(err, "CPR channel: not a relive CPR state (magic 0x%08x, version %u, %u fds, %u bytes)",
			   h.magic, h.version, h.nfds, h.len);
		ret = -EPROTO;
		goto out;
	}
	want = h.nfds;
	while (!ret && got < want) {
		char b;

		ret = recv_all(sock, &b, 1, fds, want, &got, deadline);
	}
	buf = malloc(h.len ? h.len : 1);
	if (!ret && !buf)
		ret = -ENOMEM;
	if (!ret)
		ret = recv_all(sock, buf, h.len, fds, want, &got, deadline);
	if (ret) {
		rl_err_set(err, "CPR channel: reading %u fds and %u bytes: %s", h.nfds, h.len,
			   strerror(-ret));
		goto out;
	}
	ret = rl_cpr_state_parse(buf, h.len, s, &diag);
	if (ret) {
		rl_err_set(err, "CPR channel: CPR state at offset %zu: %s", diag.offset,
			   diag.what ? diag.what : strerror(-ret));
		goto out;
	}
	if (s->nfds != got) {
		rl_err_set(err, "CPR channel: %u fds in the state, %u received", s->nfds, got);
		ret = -EPROTO;
		goto out;
	}
	for (unsigned i = 0; i < s->nfds; i++)
		s->fds[i].fd = fds[i];
	for (unsigned i = 0; i < s->nfds; i++) {
		ret = rl_cpr_verify_fd(s, s->fds[i].name, s->fds[i].id, err);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	free(buf);
	if (ret)
		for (unsigned i = 0; i < got; i++)
			close(fds[i]);
	return ret;
}

int rl_cpr_transfer_wait_hup(int sock, int timeout_ms, struct rl_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);

	for (;;) {
		char b[64];
		ssize_t n;
		int ret = wait_fd(sock, POLLIN, deadline);

		if (ret) {
			rl_err_set(err, "the new process did not close the CPR channel within %d ms",
				   timeout_ms);
			return ret;
		}
		n = recv(sock, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN) {
			ret = -errno;
			rl_err_set(err, "CPR channel: %s", strerror(-ret));
			return ret;
		}
	}
}

int rl_cpr_transfer_send_file(int sock, int fd, uint64_t size, int timeout_ms,
			      struct rl_error *err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct ct_file_hdr h = { CT_FILE_MAGIC, CT_VERSION, size };
	off_t off = 0;
	int ret;

	ret = send_all(sock, &h, sizeof(h), NULL, 0, deadline);
	while (!ret && (uint64_t)off < size) {
		ssize_t n;

		/* each chunk gets its own deadline: a large stream is not a hang */
		ret = wait_fd(sock, POLLOUT, deadline_of(timeout_ms));
		if (ret)
			break;
		n = sendfile(sock, fd, &off, size - (uint64_t)off > (1u << 30) ?
			     (1u << 30) : size - (uint64_t)off);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			ret = -errno;
		else if (n == 0)
			ret = -EIO; /* the file is shorter than it said */
	}
	if (ret)
		rl_err_set(err, "main channel: sending %llu bytes (at %lld): %s",
			   (unsigned long long)size, (long long)off, strerror(-ret));
	return ret;
}

int rl_cpr_transfer_recv_file(int sock, int fd, uint64_t *size, int timeout_ms,
			      struct rl_error *err)
{
	struct ct_file_hdr h;
	uint64_t done = 0;
	size_t bsz = 1u << 20;
	char *buf;
	int ret;

	ret = recv_all(sock, &h, sizeof(h), NULL, 0, NULL, deadline_of(timeout_ms));
	if (ret) {
		rl_err_set(err, "main channel: reading the header: %s", strerror(-ret));
		return ret;
	}
	if (h.magic != CT_FILE_MAGIC || h.version != CT_VERSION) {
		rl_err_set(err, "main channel: not a relive state transfer (magic 0x%08x, version %u)",
			   h.magic, h.version);
		return -EPROTO;
	}
	buf = malloc(bsz);
	if (!buf)
		return -ENOMEM;
	while (done < h.size) {
		size_t want = h.size - done < bsz ? (size_t)(h.size - done) : bsz;
		ssize_t n;

		ret = wait_fd(sock, POLLIN, deadline_of(timeout_ms));
		if (ret)
			break;
		n = RL_FAILPOINT("cpr-transfer.recv-state") ? -1 : recv(sock, buf, want, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			ret = n == 0 ? -EPIPE : -errno;
			break;
		}
		if (RL_FAILPOINT("cpr-transfer.write-state") || pwrite(fd, buf, (size_t)n, (off_t)done) != n) {
			ret = errno ? -errno : -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	free(buf);
	if (ret) {
		rl_err_set(err, "main channel: %llu of %llu bytes received: %s",
			   (unsigned long long)done, (unsigned long long)h.size,
			   strerror(-ret));
		return ret == -EPIPE ? -EPROTO : ret;
	}
	*size = h.size;
	return 0;
}

int rl_cpr_transfer_ack(int sock, struct rl_error *err)
{
	char b = CT_ACK;

	if (send(sock, &b, 1, MSG_NOSIGNAL) != 1) {
		int ret = -errno;

		rl_err_set(err, "main channel: sending the ack: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int rl_cpr_transfer_wait_ack(int sock, int timeout_ms, struct rl_error *err)
{
	char b = 0;
	int ret = recv_all(sock, &b, 1, NULL, 0, NULL, deadline_of(timeout_ms));

	if (!ret && b != CT_ACK)
		ret = -EPROTO;
	if (ret)
		rl_err_set(err, "the new process did not take the state over: %s",
			   ret == -EPIPE ? "it closed the main channel" :
			   ret == -ETIMEDOUT ? "no answer in time" : strerror(-ret));
	return ret;
}
