// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The program the trampoline tests exec: writes to the file named by
 * RELIVE_CHECKER_OUT what arrived (its arguments, every open fd with its
 * /proc link and close-on-exec flag, the trampoline's variables) and exits 0.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *out = getenv("RELIVE_CHECKER_OUT");
	const char *t = getenv("RELIVE_TRAMPOLINE_T");
	const char *failed = getenv("RELIVE_TRAMPOLINE_FAILED");
	struct dirent *de;
	FILE *f;
	DIR *d;

	if (!out)
		return 3;
	/* Listed before opening anything of our own. */
	d = opendir("/proc/self/fd");
	if (!d)
		return 4;
	f = fopen(out, "we");
	if (!f)
		return 5;
	for (int i = 1; i < argc; i++)
		fprintf(f, "arg %s\n", argv[i]);
	while ((de = readdir(d))) {
		char path[64], link[4096];
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d) || fd == fileno(f))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		fprintf(f, "fd %d %s%s\n", fd, link,
			fcntl(fd, F_GETFD) & FD_CLOEXEC ? " cloexec" : "");
	}
	closedir(d);
	fprintf(f, "t %s\n", t ? t : "-");
	fprintf(f, "failed %s\n", failed ? failed : "-");
	{
		const char *s = getenv("RELIVE_CPR_STATE");

		if (!s)
			s = getenv("QEMU_CPR_EXEC_STATE");
		fprintf(f, "state %s\n", s ? s : "-");
		/* The VMM reads the state from where the old process left the offset. */
		if (s)
			fprintf(f, "stateoff %lld\n", (long long)lseek(atoi(s), 0, SEEK_CUR));
	}
	fclose(f);
	return 0;
}
