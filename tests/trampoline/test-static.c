// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-trampoline is what the README promises: a static ELF executable
 * without PT_INTERP or PT_DYNAMIC (no loader, no shared library), at most
 * 64 KiB, whatever flags the rest of the build uses.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
	const char *path = getenv("RELIVE_TRAMPOLINE");
	static unsigned char buf[65537];
	Elf64_Ehdr eh;
	ssize_t n;
	int fd;

	if (!path) {
		fprintf(stderr, "RELIVE_TRAMPOLINE is not set\n");
		return 1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n > 65536) {
		fprintf(stderr, "%s: larger than 64 KiB\n", path);
		return 1;
	}
	if (n < (ssize_t)sizeof(eh) || memcmp(buf, ELFMAG, SELFMAG)) {
		fprintf(stderr, "%s: not an ELF file\n", path);
		return 1;
	}
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_EXEC) {
		fprintf(stderr, "%s: not a 64-bit non-PIE executable (type %u)\n", path,
			eh.e_type);
		return 1;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		size_t off = eh.e_phoff + (size_t)i * eh.e_phentsize;

		if (off + sizeof(ph) > (size_t)n) {
			fprintf(stderr, "%s: program header %u outside the file\n", path, i);
			return 1;
		}
		memcpy(&ph, buf + off, sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) {
			fprintf(stderr, "%s: has %s\n", path,
				ph.p_type == PT_INTERP ? "PT_INTERP" : "PT_DYNAMIC");
			return 1;
		}
	}
	printf("%s: static, %zd bytes\n", path, n);
	return 0;
}
