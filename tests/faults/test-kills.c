// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * SIGKILL at chosen points of an update, each process held there by a delay
 * failpoint, for the cases whose outcome is defined (docs/vm.md, "Fault
 * injection and kills"). Usage: test-kills CASE:
 *   save          the old process killed while it writes the state: nothing
 *                 is left under the state file's name
 *   cpr-exec-new  the new process of a cpr-exec update killed in its load,
 *                 RAM in a shared file: the RAM file keeps the guest's RAM;
 *                 the state file names memfds that died with the process,
 *                 and relive-vm started again on it refuses it, saying so
 *   trampoline    the same, with relive-trampoline killed as it starts
 *   transfer-new  the new process of a cpr-transfer killed in its load: the
 *                 old process resumes the guest, query-migrate says failed
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RAM_MIB 128
#define PATTERN_OFF (64ull << 20)
#define PATTERN_LEN (32ull << 20)
#define SEED 0x4b111
#define FP_ENV "RELIVE_FAILPOINTS"
#define HOLD_MS 60000

/* Waits until @log says failpoint @name holds its process; Return: that pid. */
static pid_t wait_held(const char *log, const char *name)
{
	g_autofree char *want = g_strdup_printf("relive: failpoint %s hit ", name);

	for (int i = 0; i < HV_TIMEOUT_MS / 10; i++) {
		g_autofree char *s = NULL;
		const char *p;

		if (g_file_get_contents(log, &s, NULL, NULL) && (p = strstr(s, want)) &&
		    (p = strstr(p, "(pid ")))
			return (pid_t)atoi(p + 5);
		g_usleep(10000);
	}
	hv_fail("failpoint %s never held its process (log %s)", name, log);
}

static void start_env(struct hv_vm *v, const char *name, const char *env, unsigned mib,
		      const char *const *extra, gboolean connect)
{
	if (env)
		setenv(FP_ENV, env, 1);
	hv_vm_start_as(v, name, "thread", mib, 1, extra, connect);
	unsetenv(FP_ENV);
}

static void assert_guest(struct hv_vm *v, const void *ram)
{
	g_autofree char *st = hv_status(v);
	uint64_t hb = hv_heartbeat(ram, 0);

	hv_assert(!strcmp(st, "running"), "status '%s', not running", st);
	hv_assert(hv_heartbeats_advance(ram, 1, &hb, 5000), "the heartbeat does not advance");
	hv_assert(hv_pattern_check((const char *)ram + PATTERN_OFF, PATTERN_LEN, SEED) == PATTERN_LEN,
		  "RAM pattern damaged");
}

static void case_save(void)
{
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	struct hv_vm v;
	pid_t held;

	start_env(&v, NULL, "stream.save.ram=delay:60000", RAM_MIB, NULL, TRUE);
	json_node_unref(hv_qmp(&v, "migrate-set-parameters", "{\"mode\": \"normal\"}"));
	json_node_unref(hv_qmp(&v, "migrate", uri));
	held = wait_held(v.log, "stream.save.ram");
	hv_assert(held == v.pid, "held pid %d is not the VM %d", held, v.pid);
	kill(v.pid, SIGKILL);
	waitpid(v.pid, NULL, 0);
	v.pid = 0;
	hv_assert(access(state, F_OK) != 0, "a state file was left under its final name %s", state);
	hv_vm_stop(&v);
}

static void case_cpr_exec_killed(const char *fp)
{
	g_autofree char *ramfile = g_strdup_printf("/dev/shm/relive-kills-%d", getpid());
	g_autofree char *obj = g_strdup_printf("memory-backend-file,id=ram0,size=%uM,mem-path=%s,share=on",
					       RAM_MIB, ramfile);
	g_autofree char *state = hv_path("vm.state");
	g_autofree char *inc = g_strdup_printf("file:%s", state);
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	const char *mem[] = { "-object", obj, "-machine", "memory-backend=ram0,aux-ram-share=on", NULL };
	const char *pre[] = { hv_trampoline(), "--", NULL };
	const char *suf[] = { "-incoming", inc, NULL };
	const char *again[] = { "-object", obj, "-machine", "memory-backend=ram0,aux-ram-share=on",
				"-incoming", inc, NULL };
	g_autofree char *cmd = NULL, *args = NULL, *log = NULL;
	struct hv_vm v, nv;
	int st = 0;
	uint64_t size = (uint64_t)RAM_MIB << 20;
	pid_t pid;
	g_autofree char *env = g_strdup_printf("next:%s=delay:60000", fp);
	void *ram;
	int fd;

	start_env(&v, NULL, env, 0, mem, TRUE);
	pid = v.pid;
	fd = open(ramfile, O_RDWR | O_CLOEXEC);
	hv_assert(fd >= 0, "%s: %s", ramfile, strerror(errno));
	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	hv_assert(ram != MAP_FAILED, "cannot map %s", ramfile);
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	cmd = hv_vm_argv_json(&v, hv_trampoline() ? pre : NULL, suf);
	args = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}", cmd);
	json_node_unref(hv_qmp(&v, "migrate-set-parameters", args));
	json_node_unref(hv_qmp(&v, "migrate", uri));
	hv_assert(wait_held(v.log, fp) == pid, "the process held at %s is not pid %d", fp, pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	v.pid = 0;
	hv_vm_stop(&v);

	hv_assert(hv_pattern_check((const char *)ram + PATTERN_OFF, PATTERN_LEN, SEED) == PATTERN_LEN,
		  "the RAM file lost the guest's RAM");
	/* the same command line on the state file: refused, naming the dead memfd */
	hv_vm_start_as(&nv, "again-", "thread", 0, 1, again, FALSE);
	for (int i = 0; i < HV_TIMEOUT_MS / 10 && !hv_vm_exited(&nv, &st); i++)
		g_usleep(10000);
	log = hv_vm_log(&nv);
	hv_assert(nv.pid == 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0,
		  "relive-vm loaded a cpr-exec state whose memfds are gone; log:\n%s", log);
	hv_assert(strstr(log, "is not the memfd saved in"), "the refusal does not say why:\n%s", log);
	hv_vm_stop(&nv);
	munmap(ram, size);
	unlink(ramfile);
}

static void case_transfer_new(void)
{
	g_autofree char *mp = hv_path("main.sock"), *cp = hv_path("cpr.sock");
	g_autofree char *m = g_strdup_printf("unix:%s", mp), *c = g_strdup_printf("cpr:unix:%s", cp);
	g_autofree char *args = g_strdup_printf("{\"channels\": ["
		"{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}},"
		"{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}}]}",
		mp, cp);
	const char *extra[] = { "-incoming", m, "-incoming", c, NULL };
	g_autoptr(JsonNode) qm = NULL;
	struct hv_vm v, nv;
	pid_t held;
	void *ram;

	start_env(&v, NULL, NULL, RAM_MIB, NULL, TRUE);
	ram = hv_map_ram(v.pid, "ram0", (uint64_t)RAM_MIB << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	start_env(&nv, "new-", "stream.load.verify=delay:60000", RAM_MIB, extra, FALSE);
	for (int i = 0; i < 1000 && access(cp, F_OK); i++)
		g_usleep(10000);
	json_node_unref(hv_qmp(&v, "migrate-set-parameters", "{\"mode\": \"cpr-transfer\"}"));
	json_node_unref(hv_qmp(&v, "migrate", args));
	held = wait_held(nv.log, "stream.load.verify");
	hv_assert(held == nv.pid, "held pid %d is not the new process %d", held, nv.pid);
	kill(nv.pid, SIGKILL);
	waitpid(nv.pid, NULL, 0);
	nv.pid = 0;
	qm = hv_wait_migration(&v, "failed");
	hv_assert(*json_object_get_string_member_with_default(json_node_get_object(qm), "error-desc", ""),
		  "failed without error-desc");
	assert_guest(&v, ram);
	hv_vm_stop(&nv);
	hv_vm_stop(&v);
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "save"))
		case_save();
	else if (!strcmp(c, "cpr-exec-new"))
		case_cpr_exec_killed("stream.load.verify");
	else if (!strcmp(c, "trampoline")) {
		hv_assert(hv_trampoline(), "relive-trampoline is not built");
		case_cpr_exec_killed("trampoline.entry");
	}
	else if (!strcmp(c, "transfer-new"))
		case_transfer_new();
	else {
		fprintf(stderr, "usage: test-kills save|cpr-exec-new|trampoline|transfer-new\n");
		return 2;
	}
	hv_cleanup();
	return 0;
}
