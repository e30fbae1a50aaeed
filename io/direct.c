// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The O_DIRECT twin of an open file. O_DIRECT belongs to the open file
 * description, so the same file is opened a second time (dup() would share
 * the flag); the twin must be the same inode as the first open.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * rl_open_direct_twin - open @name in @dirfd again with O_DIRECT.
 * Return: the new fd (caller owns it), or -errno when the file system
 * refuses O_DIRECT or the name no longer leads to the inode of @st.
 */
int rl_open_direct_twin(int dirfd, const char *name, int flags,
			const struct stat *st)
{
	struct stat st2;
	int fd;

	fd = RL_FAILPOINT("io.open-direct") ? -1 : openat(dirfd, name, flags | O_DIRECT | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st2) < 0 || st2.st_dev != st->st_dev ||
	    st2.st_ino != st->st_ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}
