// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The writer's temporary file: a fresh name beside the final one, created
 * 0600 with O_EXCL|O_NOFOLLOW, renamed over the final name at commit or
 * unlinked on abort, so a torn file never shows under the final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "error-internal.h"

#define TMP_BASE_MAX 200 /* keeps ".<base>.XXXXXXXX.tmp" under NAME_MAX */

/* Split @path into an opened parent directory and a last component. */
static int split_path(struct rl_tmpfile *t, const char *path)
{
	const char *slash, *base;
	char *dir;
	size_t dlen;

	if (!path || !*path)
		return -ENOENT;
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return -EISDIR;
	if (strlen(base) > 255)
		return -ENAMETOOLONG;
	if (!slash)
		dir = strdup(".");
	else {
		dlen = slash == path ? 1 : (size_t)(slash - path);
		dir = strndup(path, dlen);
	}
	if (!dir)
		return -ENOMEM;
	t->dir = dir;
	t->dirfd = RL_FAILPOINT("io.tmpfile.open-dir") ? -1 : open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0)
		return -errno;
	t->name = strdup(base);
	t->path = strdup(path);
	if (!t->name || !t->path)
		return -ENOMEM;
	return 0;
}

static uint64_t random_u64(void)
{
	uint64_t v;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
	       (uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec;
}

/*
 * rl_tmpfile_create - check the final name and create the temporary file.
 * Return: 0 and *@fd (O_WRONLY, buffered; caller owns it), or -errno with
 * nothing left behind.
 */
int rl_tmpfile_create(struct rl_tmpfile *t, const char *path, int *fd)
{
	struct stat st;
	char *tmp;
	size_t blen;
	int i, ret, f;

	memset(t, 0, sizeof(*t));
	t->dirfd = -1;
	ret = split_path(t, path);
	if (ret < 0)
		goto err;

	if (fstatat(t->dirfd, t->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode)) {
			ret = -EISDIR;
			goto err;
		}
	} else if (errno != ENOENT) {
		ret = -errno;
		goto err;
	}

	blen = strlen(t->name);
	if (blen > TMP_BASE_MAX)
		blen = TMP_BASE_MAX;
	tmp = malloc(blen + 32);
	if (!tmp) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < 100; i++) {
		snprintf(tmp, blen + 32, ".%.*s.%08x.tmp", (int)blen, t->name,
			 (unsigned)random_u64());
		f = RL_FAILPOINT("io.tmpfile.open") ? -1 : openat(t->dirfd, tmp,
			   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			   0600);
		if (f >= 0 || errno != EEXIST)
			break;
	}
	if (f < 0) {
		ret = -errno;
		free(tmp);
		goto err;
	}
	t->tmpname = tmp;
	/* The umask may have taken bits away; the mode is 0600 regardless. */
	if (fchmod(f, 0600) < 0) {
		ret = -errno;
		close(f);
		goto err;
	}
	*fd = f;
	return 0;
err:
	rl_tmpfile_discard(t);
	return ret;
}

/*
 * rl_tmpfile_commit - rename the temporary file over the final name; with
 * @sync, make the rename itself durable too.
 * Return: 0, or -errno with the temporary file removed and the final name
 * untouched when the rename fails. When only the directory sync fails, the
 * renamed file stays: its data is complete and synced, the old file under
 * the name is already gone, and removing the new one would leave no state
 * at all. The error then says so in @err, naming the directory.
 */
int rl_tmpfile_commit(struct rl_tmpfile *t, bool sync, struct rl_error *err)
{
	int ret = 0, d;

	if (RL_FAILPOINT("io.tmpfile.rename") || renameat(t->dirfd, t->tmpname, t->dirfd, t->name) < 0) {
		ret = -errno;
		rl_err_set(err, "%s: %s", t->path, strerror(-ret));
		rl_tmpfile_discard(t);
		return ret;
	}
	free(t->tmpname);
	t->tmpname = NULL;
	if (sync) {
		d = openat(t->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0 || RL_FAILPOINT("io.tmpfile.fsync-dir") || fsync(d) < 0)
			ret = -errno;
		if (d >= 0)
			close(d);
		if (ret)
			rl_err_set(err, "%s: written and renamed into place, but syncing its directory %s failed: %s",
				  t->path, t->dir, strerror(-ret));
	}
	rl_tmpfile_discard(t);
	return ret;
}

/* rl_tmpfile_discard - remove the temporary file if it is still there, free @t's parts. */
void rl_tmpfile_discard(struct rl_tmpfile *t)
{
	if (t->tmpname && t->dirfd >= 0)
		unlinkat(t->dirfd, t->tmpname, 0);
	free(t->tmpname);
	free(t->name);
	free(t->path);
	free(t->dir);
	t->tmpname = NULL;
	t->name = NULL;
	t->path = NULL;
	t->dir = NULL;
	if (t->dirfd >= 0)
		close(t->dirfd);
	t->dirfd = -1;
}
