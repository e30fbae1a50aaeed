// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Command lines and processes of the VMMs the bench measures. relive-vm and
 * QEMU take the same options; QEMU additionally gets the bench's firmware
 * and a pc machine without default devices, and with the holder its
 * environment names it in LD_PRELOAD. Used by run.c and update.c; uses the
 * QMP client and reads scenario.h.
 */
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *backend_object(const struct scenario *sc, const struct vmm_env *env,
			    enum vmm_ram ram)
{
	GString *s = g_string_new(NULL);
	g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, sc->ram);

	switch (sc->backing) {
	case BACK_MEMFD:
		g_string_append_printf(s, "memory-backend-memfd,id=ram0,size=%s,share=on", size);
		break;
	case BACK_HUGETLB:
		g_string_append_printf(s, "memory-backend-memfd,id=ram0,size=%s,share=on,hugetlb=on",
				       size);
		break;
	case BACK_FILE:
		g_string_append_printf(s, "memory-backend-file,id=ram0,size=%s,mem-path=%s,share=on",
				       size, env->ram_path);
		break;
	case BACK_PRIVATE:
		g_string_append_printf(s, "memory-backend-ram,id=ram0,size=%s", size);
		break;
	}
	/*
	 * QEMU preallocates synchronously, before it loads the state: asked
	 * again in the process that takes over the old one's RAM, it would
	 * populate all of it once more inside the pause. relive-vm maps such
	 * RAM lazily and populates it after the resume, so it keeps the option.
	 */
	if (sc->populate >= 1.0 && !(ram == VMM_RAM_TAKEN_OVER && vmm_is_qemu(sc->vmm)))
		g_string_append(s, ",prealloc=on");
	return g_string_free(s, FALSE);
}

char **vmm_command(const struct pause_opts *o, const struct scenario *sc,
		   const struct vmm_env *env, const char *qmp_path, enum vmm_ram ram)
{
	GPtrArray *a = g_ptr_array_new();
	const char *accel = o->accel;

	if (vmm_is_qemu(sc->vmm)) {
		g_ptr_array_add(a, g_strdup(o->qemu_path));
		if (!strcmp(accel, "thread"))
			accel = "tcg";
	} else {
		g_ptr_array_add(a, g_strdup(o->vm_path));
	}
	g_ptr_array_add(a, g_strdup("-accel"));
	if (o->touch_ram && !vmm_is_qemu(sc->vmm))
		g_ptr_array_add(a, g_strdup_printf("%s,touch-ram=on", accel));
	else
		g_ptr_array_add(a, g_strdup(accel));
	g_ptr_array_add(a, g_strdup("-smp"));
	g_ptr_array_add(a, g_strdup_printf("%u", sc->vcpus));
	g_ptr_array_add(a, g_strdup("-m"));
	g_ptr_array_add(a, g_strdup_printf("%" G_GUINT64_FORMAT "M", sc->ram >> 20));
	g_ptr_array_add(a, g_strdup("-object"));
	g_ptr_array_add(a, backend_object(sc, env, ram));
	g_ptr_array_add(a, g_strdup("-machine"));
	g_ptr_array_add(a, g_strdup_printf("%smemory-backend=ram0%s",
					   vmm_is_qemu(sc->vmm) ? "pc," : "",
					   sc->backing == BACK_PRIVATE ? "" : ",aux-ram-share=on"));
	if (vmm_is_qemu(sc->vmm)) {
		g_ptr_array_add(a, g_strdup("-bios"));
		g_ptr_array_add(a, g_strdup(env->fw_path));
		g_ptr_array_add(a, g_strdup("-nodefaults"));
		/* The bench ships no option ROMs: without this QEMU looks for kvmvapic.bin. */
		g_ptr_array_add(a, g_strdup("-global"));
		g_ptr_array_add(a, g_strdup("apic.vapic=off"));
		g_ptr_array_add(a, g_strdup("-display"));
		g_ptr_array_add(a, g_strdup("none"));
		g_ptr_array_add(a, g_strdup("-qmp"));
		g_ptr_array_add(a, g_strdup_printf("unix:%s,server=on,wait=off", qmp_path));
	} else {
		if (sc->blob) {
			g_ptr_array_add(a, g_strdup("-device"));
			g_ptr_array_add(a, g_strdup_printf("state-blob,id=blob0,size=%" G_GUINT64_FORMAT,
							   sc->blob));
		}
		g_ptr_array_add(a, g_strdup("-qmp"));
		g_ptr_array_add(a, g_strdup_printf("unix:%s,server,nowait", qmp_path));
	}
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

char **vmm_argv_append(char *const *argv, const char *const *extra)
{
	GPtrArray *a = g_ptr_array_new();

	for (; *argv; argv++)
		g_ptr_array_add(a, g_strdup(*argv));
	for (; extra && *extra; extra++)
		g_ptr_array_add(a, g_strdup(*extra));
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

pid_t vmm_spawn(char *const *argv, const struct vmm_env *env, GError **errp)
{
	const char *log = env->log_path;
	int logfd, nullfd, err;
	pid_t pid;

	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logfd < 0) {
		err = errno;
		g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(err), "%s: %s", log,
			    g_strerror(err));
		return -1;
	}
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* dup2 clears close-on-exec on the copies: exactly 0, 1 and 2 cross. */
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (env->envp)
			execvpe(argv[0], argv, env->envp);
		else
			execvp(argv[0], argv);
		dprintf(2, "relive-bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	err = errno;
	close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	if (pid < 0) {
		g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(err), "fork: %s",
			    g_strerror(err));
		return -1;
	}
	return pid;
}

char *vmm_log_tail(const char *log)
{
	g_autofree char *all = NULL;
	gsize len = 0;
	const char *p;
	int lines = 0;

	if (!g_file_get_contents(log, &all, &len, NULL) || !len)
		return g_strdup("(no output)");
	while (len && (all[len - 1] == '\n' || all[len - 1] == '\r'))
		all[--len] = 0;
	for (p = all + len; p > all; p--) {
		if (p[-1] == '\n' && ++lines == 3)
			break;
	}
	return g_strdup(p);
}

gboolean vmm_exited(pid_t pid, char **why)
{
	int st;

	if (pid <= 0 || waitpid(pid, &st, WNOHANG) != pid)
		return FALSE;
	if (why) {
		if (WIFEXITED(st))
			*why = g_strdup_printf("exited with status %d", WEXITSTATUS(st));
		else
			*why = g_strdup_printf("killed by signal %d", WTERMSIG(st));
	}
	return TRUE;
}

void vmm_stop(struct vmm *v, int timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	if (v->qmp) {
		qmp_send(v->qmp, "quit", NULL, NULL);
		qmp_close(v->qmp);
		v->qmp = NULL;
	}
	if (v->pid > 0) {
		while (!vmm_exited(v->pid, NULL)) {
			if (bench_now_ns() > deadline) {
				kill(v->pid, SIGKILL);
				waitpid(v->pid, NULL, 0);
				break;
			}
			g_usleep(2000);
		}
		v->pid = -1;
	}
	if (v->qmp_path)
		unlink(v->qmp_path);
}
