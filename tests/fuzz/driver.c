// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Corpus runner for the fuzz targets when they are not built with libFuzzer:
 * feeds every file named on the command line (or found in a named directory)
 * to LLVMFuzzerTestOneInput once, so the targets keep compiling and their
 * corpora keep passing in every build.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return -1;
	}
	/* malloc(0) may return NULL; the target must still see a valid pointer. */
	buf = malloc(st.st_size + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	n = read(fd, buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int run_path(const char *path, unsigned *count)
{
	struct dirent *de;
	struct stat st;
	char child[4096];
	DIR *dir;
	int ret = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	dir = opendir(path);
	if (!dir) {
		perror(path);
		return -1;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (run_path(child, count) < 0)
			ret = -1;
	}
	closedir(dir);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int ret = 0;

	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) < 0)
			ret = 1;
	if (!count) {
		fprintf(stderr, "no corpus inputs found\n");
		return 1;
	}
	printf("ran %u inputs\n", count);
	return ret;
}
