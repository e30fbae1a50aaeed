// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-vm's main(): the order in which a machine comes up. After a
 * cpr-exec update the path from main() to the resumed guest is kept short
 * (CPR state, map the preserved RAM, create the VM, load, resume); monitors,
 * pidfile, daemon and RAM population come after the guest runs again.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "update/transfer.h"
#include "machine/machine.h"
#include "update/migrate.h"
#include "update/update.h"
#include "monitors/monitors.h"
#include "relive/version.h"
#include "vm-error.h"

extern const uint8_t relive_guest_start[], relive_guest_end[];
extern const uint32_t relive_guest_entry;

static int daemon_pipe = -1;

/*
 * A process that an update started hands its guest back (update.h) before
 * it gives up: whatever failed, the guest runs on.
 */
static G_NORETURN void die(GError *e)
{
	if (cpr_incoming())
		update_incoming_abort(rl_cpr_state_mode(update_incoming_cpr()) == RL_MODE_CPR_TRANSFER ?
				      &update_transfer_ops : &update_file_in_ops, e->message);
	else
		fprintf(stderr, "relive-vm: %s\n", e->message);
	if (daemon_pipe >= 0) {
		char c = 1;

		(void)!write(daemon_pipe, &c, 1);
	}
	exit(1);
}

/* QEMU's -daemonize: the parent returns once the child reports it is ready. */
static void daemonize_begin(void)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		perror("relive-vm: -daemonize: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("relive-vm: -daemonize: fork");
		exit(1);
	}
	if (pid > 0) {
		char c = 1;

		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			c = 1;
		_exit(c ? 1 : 0);
	}
	close(fds[0]);
	setsid();
	daemon_pipe = fds[1];
}

static void daemonize_done(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	char c = 0;

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	(void)!write(daemon_pipe, &c, 1);
	close(daemon_pipe);
	daemon_pipe = -1;
}

/*
 * Started with 0, 1 or 2 closed, the first files we open (guest RAM memfds)
 * would take those numbers, and "stdio" would then mean guest memory.
 */
static void stdio_fill(void)
{
	/* open() takes the lowest free number: @fd, every lower one is open by now. */
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(1);
}

static int pidfile_fd = -1;

/*
 * -pidfile: locked before it is truncated, so that the pidfile of another
 * running instance is never clobbered; the lock is held for the life of the
 * process (the fd closes at an exec, and the new binary takes it again).
 * Return: 0, -EAGAIN when another process holds it (@errp names it), or
 * another -errno.
 */
static int pidfile_take(const char *path, GError **errp)
{
	g_autofree char *s = g_strdup_printf("%d\n", getpid());
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat a, b;
	int fd, ret;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto err;
	if (fcntl(fd, F_SETLK, &lk) < 0) {
		ret = errno == EACCES ? -EAGAIN : -errno;
		lk = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET };
		if (ret == -EAGAIN && fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK)
			vm_error(errp, "-pidfile %s: process %d holds it (another relive-vm with this pidfile?)",
				 path, (int)lk.l_pid);
		else
			vm_error(errp, "-pidfile %s: %s", path, g_strerror(-ret));
		close(fd);
		return ret;
	}
	/* locked, but the file may have been removed or replaced meanwhile */
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		vm_error(errp, "-pidfile %s: replaced while it was being locked", path);
		close(fd);
		return -EAGAIN;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, s, strlen(s), 0) != (ssize_t)strlen(s))
		goto err;
	pidfile_fd = fd;
	return 0;
err:
	ret = -errno;
	vm_error(errp, "-pidfile %s: %s", path, g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

/* After a cpr-transfer the old process holds the pidfile until it quits. */
static gboolean pidfile_retry(gpointer opaque)
{
	GError *e = NULL;
	int ret = pidfile_take(vm.o.pidfile, &e);

	g_clear_error(&e);
	return ret == -EAGAIN ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer opaque)
{
	g_main_loop_quit(vm.loop);
	return G_SOURCE_CONTINUE;
}

static gboolean create_accel(GError **errp)
{
	GError *e = NULL;
	int ret;

	vm.cpus.kvm_fd = vm.cpus.vm_fd = -1;
	vm.cpus.on_fail = machine_vcpu_failed;
	vm.cpus.touch_ram = vm.o.touch_ram;
	if (vm.o.accel == ACCEL_THREAD)
		return TRUE;
	ret = cpus_open_kvm(&vm.cpus, &e);
	if (ret == 0)
		return TRUE;
	if (vm.o.accel == ACCEL_KVM) {
		g_propagate_prefixed_error(errp, e, "-accel kvm: ");
		return FALSE;
	}
	if (ret != -ENOENT && ret != -EACCES && ret != -ENODEV && ret != -EPERM &&
	    ret != -ENXIO) {
		g_propagate_error(errp, e);
		return FALSE;
	}
	/* the default: KVM where /dev/kvm opens */
	fprintf(stderr, "relive-vm: %s: using -accel thread (no guest code runs)\n", e->message);
	g_error_free(e);
	return TRUE;
}

/*
 * After an update the guest already runs here: what cannot be set up is
 * said and left out. After a fresh start it ends the process.
 */
static void not_fatal(GError *e)
{
	if (!cpr_incoming())
		die(e);
	fprintf(stderr, "relive-vm: %s; the guest runs on without it\n", e->message);
	g_error_free(e);
}

/* The monitors and the serial port, adopted from before an update or new. */
static void add_monitors(void)
{
	GError *e = NULL;

	if (cpr_incoming() && !cpr_restore_monitors(&e))
		not_fatal(g_steal_pointer(&e));
	if (!serial_attach(vm.o.serial, monitors, &e))
		not_fatal(g_steal_pointer(&e));
	for (unsigned i = 0; i < vm.o.monitors->len; i++)
		if (!monitors->hmp_add(g_ptr_array_index(vm.o.monitors, i), &e))
			not_fatal(g_steal_pointer(&e));
	for (unsigned i = 0; i < vm.o.qmps->len; i++)
		if (!monitors->qmp_add(g_ptr_array_index(vm.o.qmps, i), &e))
			not_fatal(g_steal_pointer(&e));
}

int main(int argc, char **argv)
{
	uint64_t t_main = rl_cpr_now_ns();
	GError *e = NULL;
	static struct incoming_spec in;	/* for the life of the process */
	const char *incoming = NULL;
	bool defer = false, transfer = false;
	int ret;

	stdio_fill();
	vm.argc = argc;
	vm.argv = argv;
	vm.event = monitors_event;
	vm.preserved_fd = cpr_preserved_fd;
	/* A state file over RLIMIT_FSIZE fails the migration (EFBIG), not the VMM. */
	signal(SIGXFSZ, SIG_IGN);
	/* A peer that went away is an error on the socket, not the end of the guest. */
	signal(SIGPIPE, SIG_IGN);
	/* first: a process an update started gives the guest back on any error */
	if (!cpr_incoming_begin(&e))
		die(e);
	monitors_init(&machine_ops);
	if (!options_parse(&vm.o, argc, argv, &e))
		die(e);
	if (vm.o.help) {
		options_print_help();
		return 0;
	}
	if (vm.o.version) {
		printf("relive-vm %s (QEMU 10.2 command line and monitors)\n", RELIVE_VERSION);
		return 0;
	}
	vm.t.main = t_main;
	rl_mig_params_init(&vm.params);
	vm.status = RL_MIG_NONE;
	if (!incoming_parse(vm.o.incoming, &in, &e))
		die(e);
	defer = in.defer;
	incoming = in.file;
	transfer = in.cpr_path != NULL;
	if (transfer && cpr_incoming()) {
		vm_error(&e, "-incoming cpr channel: this process was started by a cpr-exec update");
		die(e);
	}
	if (transfer && !transfer_incoming_begin(&in, &e))
		die(e);
	if (!incoming && !defer && !transfer && cpr_incoming()) {
		vm_error(&e, "started by a cpr-exec update but without -incoming: add -incoming file:PATH to cpr-exec-command");
		die(e);
	}
	if (vm.o.daemonize && !cpr_incoming())
		daemonize_begin();

	/* The stamps split an update's setup in query-migrate's relive-pause. */
	vm.t.setup = rl_cpr_now_ns();
	if (!memory_create(&vm.mem, &vm.o, cpr_incoming() ? cpr_ram_fd : NULL, NULL, &e))
		die(e);
	if (!cpr_incoming())
		memory_rom_load(&vm.mem, relive_guest_start,
				relive_guest_end - relive_guest_start, 0);
	vm.t.ram_mapped = rl_cpr_now_ns();
	if (!create_accel(&e))
		die(e);
	vm.t.vm_created = rl_cpr_now_ns();
	/* a cpr-transfer's guest runs in the old process while this one sets up */
	if (!cpus_map_memory(&vm.cpus, &vm.mem, transfer ? CPUS_SLOT_WHILE_GUEST_RUNS : 0, &e))
		die(e);
	vm.t.slots = rl_cpr_now_ns();
	if (!cpus_create(&vm.cpus, vm.o.smp, &vm.mem, relive_guest_entry,
			 incoming || defer || transfer, serial_pio, &e))
		die(e);
	vm.t.vcpus = rl_cpr_now_ns();
	if (!machine_devices_init(incoming || defer || transfer, &e))
		die(e);

	/* after a cpr-exec update, off the pause: incoming_load() */
	if (!(incoming && cpr_incoming()) && !monitors_load(&e))
		die(e);
	if (incoming) {
		machine_set_run(RL_RUN_INMIGRATE);
		incoming_load(incoming); /* resumes, or rolls back, or exits */
	} else if (transfer) {
		machine_set_run(RL_RUN_INMIGRATE);
		transfer_incoming_load(); /* resumes, or exits */
	} else if (defer) {
		machine_set_run(RL_RUN_INMIGRATE);
		vm.incoming_pending = true;
	} else {
		machine_set_run(RL_RUN_RUNNING);
		cpus_resume(&vm.cpus);
	}

	/* The guest runs: everything below is outside any update's pause. */
	vm.loop = g_main_loop_new(NULL, FALSE);
	/* the log files of a process an update started go on after the old one's */
	if (monitors && (incoming || defer || transfer))
		monitors->chardev_files_append();
	if (monitors) /* else an update could not hand the guest back (incoming_load) */
		add_monitors();
	if (incoming || transfer)
		cpr_incoming_finish();
	if (vm.o.pidfile && (ret = pidfile_take(vm.o.pidfile, &e)) < 0) {
		if (transfer && ret == -EAGAIN) {
			fprintf(stderr, "relive-vm: %s; written once it is free\n", e->message);
			g_clear_error(&e);
			g_timeout_add(200, pidfile_retry, NULL);
		} else {
			not_fatal(e);
		}
	}
	if (daemon_pipe >= 0)
		daemonize_done();
	g_unix_signal_add(SIGTERM, on_signal, NULL);
	g_unix_signal_add(SIGINT, on_signal, NULL);
	g_unix_signal_add(SIGHUP, on_signal, NULL);

	g_main_loop_run(vm.loop);

	if (monitors)
		monitors->flush_all();
	if (pidfile_fd >= 0) /* only our own */
		unlink(vm.o.pidfile);
	/* vCPU threads and mappings go with the process */
	return 0;
}
