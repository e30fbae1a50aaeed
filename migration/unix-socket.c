// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Listening on a unix socket path, mode 0600, replacing only a stale
 * socket: cpr-transfer's channels and relive-vm's monitor sockets.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../io/error-internal.h"
#include "relive/unix-socket.h"

int rl_unix_listen(const char *path, int backlog, int flags, int *fd,
		   struct rl_error *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int s, ret;

	if (!path || !*path || strlen(path) >= sizeof(a.sun_path)) {
		rl_err_set(err, "%s: unix socket path empty or too long (at most %zu bytes)",
			   path ? path : "", sizeof(a.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, path, strlen(path));
	if (flags & ~SOCK_NONBLOCK)
		return -EINVAL;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rl_err_set(err, "%s: it exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	s = RL_FAILPOINT("unix.listen.socket") ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (s < 0) {
		ret = -errno;
		rl_err_set(err, "%s: socket: %s", path, strerror(-ret));
		return ret;
	}
	/* On Linux the socket inode's mode is what bind() gives the path. */
	if (fchmod(s, 0600) < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = -errno;
		goto err;
	}
	if (chmod(path, 0600) < 0 || RL_FAILPOINT("unix.listen") || listen(s, backlog) < 0) {
		ret = -errno;
		unlink(path);
		goto err;
	}
	*fd = s;
	return 0;
err:
	rl_err_set(err, "%s: cannot listen: %s", path, strerror(-ret));
	close(s);
	return ret;
}
