// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-vm's command line in QEMU's spelling: -m, -smp, -object
 * memory-backend-*, -machine, -accel, -serial, -monitor, -qmp, -incoming,
 * -device state-blob, -pidfile, -daemonize, and the no-ops a QEMU command
 * line often carries (-nographic, -display none). Also --help.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "relive/size.h"
#include "vm-error.h"

static gboolean parse_bool(const char *opt, const char *key, const char *v,
			   bool *out, GError **errp)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
		*out = true;
		return TRUE;
	}
	if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
		*out = false;
		return TRUE;
	}
	vm_error(errp, "%s: %s=%s: expected on or off", opt, key, v);
	return FALSE;
}

/* Splits "a,b=c,d" into key/value pairs; a bare word has a NULL value. */
static char **split_kv(const char *arg)
{
	return g_strsplit(arg, ",", -1);
}

static gboolean kv(const char *item, char **key, const char **val)
{
	const char *eq = strchr(item, '=');

	if (!eq) {
		*key = g_strdup(item);
		*val = NULL;
		return FALSE;
	}
	*key = g_strndup(item, eq - item);
	*val = eq + 1;
	return TRUE;
}

static void mem_object_free(gpointer p)
{
	struct mem_object *m = p;

	g_free(m->id);
	g_free(m->mem_path);
	g_free(m);
}

static void blob_free(gpointer p)
{
	struct blob_option *b = p;

	g_free(b->id);
	g_free(b);
}

static gboolean parse_object(struct vm_options *o, const char *arg,
			     GError **errp)
{
	g_auto(GStrv) items = split_kv(arg);
	struct mem_object *m = g_new0(struct mem_object, 1);
	const char *type = items[0];
	bool have_size = false;

	m->host_node = -1;
	if (type && g_str_has_prefix(type, "qom-type="))
		type += strlen("qom-type=");
	if (!type || !strcmp(type, "memory-backend-memfd")) {
		m->kind = MEM_MEMFD;
		m->share = true; /* QEMU's default for memfd */
	} else if (!strcmp(type, "memory-backend-file")) {
		m->kind = MEM_FILE;
	} else if (!strcmp(type, "memory-backend-ram")) {
		m->kind = MEM_RAM;
	} else {
		vm_error(errp, "-object %s: unknown object type '%s' (relive-vm has memory-backend-memfd, memory-backend-file and memory-backend-ram)",
			 arg, type);
		goto err;
	}
	for (int i = 1; items[i]; i++) {
		g_autofree char *key = NULL;
		const char *v;

		if (!kv(items[i], &key, &v)) {
			vm_error(errp, "-object %s: '%s' needs a value (key=value)", arg, key);
			goto err;
		}
		if (!strcmp(key, "id")) {
			if (!*v || strlen(v) >= 32) {
				vm_error(errp, "-object %s: id must be 1 to 31 characters", arg);
				goto err;
			}
			g_free(m->id);
			m->id = g_strdup(v);
		} else if (!strcmp(key, "size")) {
			if (rl_size_parse(v, 1, &m->size) < 0 || !m->size ||
			    m->size % 4096) {
				vm_error(errp, "-object %s: size=%s: expected a non-zero size in bytes, a multiple of 4096 (512M, 2G)",
					 arg, v);
				goto err;
			}
			have_size = true;
		} else if (!strcmp(key, "share")) {
			if (!parse_bool("-object", key, v, &m->share, errp))
				goto err;
		} else if (!strcmp(key, "hugetlb") && m->kind == MEM_MEMFD) {
			if (!parse_bool("-object", key, v, &m->hugetlb, errp))
				goto err;
		} else if (!strcmp(key, "prealloc")) {
			if (!parse_bool("-object", key, v, &m->prealloc, errp))
				goto err;
		} else if (!strcmp(key, "mem-path") && m->kind == MEM_FILE) {
			g_free(m->mem_path);
			m->mem_path = g_strdup(v);
		} else if (!strcmp(key, "host-nodes")) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || n < 0 || n > 1023) {
				vm_error(errp, "-object %s: host-nodes=%s: expected one NUMA node number",
					 arg, v);
				goto err;
			}
			m->host_node = (int)n;
		} else if (!strcmp(key, "policy")) {
			if (!strcmp(v, "bind")) {
				m->policy_bind = true;
			} else if (strcmp(v, "default")) {
				vm_error(errp, "-object %s: policy=%s: relive-vm supports bind and default",
					 arg, v);
				goto err;
			}
		} else {
			vm_error(errp, "-object %s: unknown property '%s' for %s",
				 arg, key, type);
			goto err;
		}
	}
	if (!m->id) {
		vm_error(errp, "-object %s: id= is required", arg);
		goto err;
	}
	if (!have_size) {
		vm_error(errp, "-object %s: size= is required", arg);
		goto err;
	}
	if (m->kind == MEM_FILE && !m->mem_path) {
		vm_error(errp, "-object %s: mem-path= is required for memory-backend-file", arg);
		goto err;
	}
	if (m->host_node >= 0 && !m->policy_bind) {
		vm_error(errp, "-object %s: host-nodes= needs policy=bind", arg);
		goto err;
	}
	if (options_find_object(o, m->id)) {
		vm_error(errp, "-object %s: duplicate id '%s'", arg, m->id);
		goto err;
	}
	g_ptr_array_add(o->objects, m);
	return TRUE;
err:
	mem_object_free(m);
	return FALSE;
}

static gboolean parse_machine(struct vm_options *o, const char *arg,
			      GError **errp)
{
	g_auto(GStrv) items = split_kv(arg);

	for (int i = 0; items[i]; i++) {
		g_autofree char *key = NULL;
		const char *v;

		if (!kv(items[i], &key, &v)) {
			/* the machine type: relive-vm has one */
			if (i == 0 && (!strcmp(key, "pc") || !strcmp(key, "q35") ||
				       !strcmp(key, "relive") || !*key))
				continue;
			vm_error(errp, "-machine %s: unknown machine type '%s' (relive-vm has one machine: pc, q35 and relive name it)",
				 arg, key);
			return FALSE;
		}
		if (!strcmp(key, "type")) {
			continue;
		} else if (!strcmp(key, "memory-backend")) {
			g_free(o->memory_backend);
			o->memory_backend = g_strdup(v);
		} else if (!strcmp(key, "aux-ram-share")) {
			if (!parse_bool("-machine", key, v, &o->aux_ram_share, errp))
				return FALSE;
		} else if (!strcmp(key, "accel")) {
			if (!strcmp(v, "kvm")) {
				o->accel = ACCEL_KVM;
			} else if (!strcmp(v, "thread")) {
				o->accel = ACCEL_THREAD;
			} else {
				vm_error(errp, "-machine %s: accel=%s: expected kvm or thread", arg, v);
				return FALSE;
			}
		} else {
			vm_error(errp, "-machine %s: unknown property '%s' (relive-vm has memory-backend, aux-ram-share, accel)",
				 arg, key);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean parse_accel(struct vm_options *o, const char *arg, GError **errp)
{
	g_auto(GStrv) items = split_kv(arg);
	const char *a = items[0] ? items[0] : "";

	if (g_str_has_prefix(a, "accel="))
		a += strlen("accel=");
	if (!strcmp(a, "kvm")) {
		o->accel = ACCEL_KVM;
	} else if (!strcmp(a, "thread")) {
		o->accel = ACCEL_THREAD;
	} else {
		vm_error(errp, "-accel %s: unknown accelerator (relive-vm has kvm and thread)", arg);
		return FALSE;
	}
	o->touch_ram = false;
	for (unsigned i = 1; items[0] && items[i]; i++) {
		const char *v = g_str_has_prefix(items[i], "touch-ram=") ?
				items[i] + strlen("touch-ram=") : NULL;

		if (!v) {
			vm_error(errp, "-accel %s: unknown property '%s' (-accel thread has touch-ram)",
				 arg, items[i]);
			return FALSE;
		}
		if (o->accel != ACCEL_THREAD) {
			vm_error(errp, "-accel %s: touch-ram is a property of -accel thread", arg);
			return FALSE;
		}
		g_autofree char *opt = g_strdup_printf("-accel %s", arg);

		if (!parse_bool(opt, "touch-ram", v, &o->touch_ram, errp))
			return FALSE;
	}
	return TRUE;
}

static gboolean parse_device(struct vm_options *o, const char *arg, GError **errp)
{
	g_auto(GStrv) items = split_kv(arg);
	struct blob_option *b;
	bool have_size = false;

	if (!items[0] || (strcmp(items[0], "state-blob") &&
			  strcmp(items[0], "driver=state-blob"))) {
		vm_error(errp, "-device %s: unknown device '%s' (relive-vm has state-blob)",
			 arg, items[0] ? items[0] : "");
		return FALSE;
	}
	b = g_new0(struct blob_option, 1);
	for (int i = 1; items[i]; i++) {
		g_autofree char *key = NULL;
		const char *v;

		if (!kv(items[i], &key, &v)) {
			vm_error(errp, "-device %s: '%s' needs a value (key=value)", arg, key);
			goto err;
		}
		if (!strcmp(key, "id")) {
			if (!*v || strlen(v) >= 32 || strchr(v, '/')) {
				vm_error(errp, "-device %s: id must be 1 to 31 characters without '/'", arg);
				goto err;
			}
			g_free(b->id);
			b->id = g_strdup(v);
		} else if (!strcmp(key, "size")) {
			if (rl_size_parse(v, 1, &b->size) < 0 || !b->size ||
			    b->size > (1ull << 32)) {
				vm_error(errp, "-device %s: size=%s: expected 1 byte to 4G", arg, v);
				goto err;
			}
			have_size = true;
		} else if (!strcmp(key, "preserve")) {
			if (strcmp(v, "on") && strcmp(v, "off")) {
				vm_error(errp, "-device %s: preserve=%s: expected on or off", arg, v);
				goto err;
			}
			b->copy = !strcmp(v, "off");
		} else {
			vm_error(errp, "-device %s: unknown property '%s' for state-blob (id, size, preserve)",
				 arg, key);
			goto err;
		}
	}
	if (!b->id || !have_size) {
		vm_error(errp, "-device %s: id= and size= are required", arg);
		goto err;
	}
	/* Duplicates and ids the state stream cannot carry: machine_devices_init(). */
	g_ptr_array_add(o->blobs, b);
	return TRUE;
err:
	blob_free(b);
	return FALSE;
}

static gboolean check_chardev_spec(const char *opt, const char *spec,
				   bool allow_file, GError **errp)
{
	if (!strcmp(spec, "stdio") || !strcmp(spec, "none") ||
	    (g_str_has_prefix(spec, "unix:") && spec[5]) ||
	    (allow_file && g_str_has_prefix(spec, "file:") && spec[5]))
		return TRUE;
	vm_error(errp, "%s %s: expected stdio, none, %sunix:PATH,server,nowait",
		 opt, spec, allow_file ? "file:PATH, " : "");
	return FALSE;
}

gboolean options_parse(struct vm_options *o, int argc, char **argv,
		       GError **errp)
{
	memset(o, 0, sizeof(*o));
	o->smp = 1;
	o->objects = g_ptr_array_new_with_free_func(mem_object_free);
	o->monitors = g_ptr_array_new_with_free_func(g_free);
	o->qmps = g_ptr_array_new_with_free_func(g_free);
	o->incoming = g_ptr_array_new_with_free_func(g_free);
	o->blobs = g_ptr_array_new_with_free_func(blob_free);

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char *arg = i + 1 < argc ? argv[i + 1] : NULL;

		/* QEMU accepts --opt for every -opt */
		if (opt[0] == '-' && opt[1] == '-' && opt[2])
			opt++;
		if (!strcmp(opt, "-help") || !strcmp(opt, "-h")) {
			o->help = true;
			continue;
		}
		if (!strcmp(opt, "-version")) {
			o->version = true;
			continue;
		}
		if (!strcmp(opt, "-daemonize")) {
			o->daemonize = true;
			continue;
		}
		if (!strcmp(opt, "-nographic") || !strcmp(opt, "-enable-kvm") ||
		    !strcmp(opt, "-S")) {
			if (!strcmp(opt, "-enable-kvm"))
				o->accel = ACCEL_KVM;
			if (!strcmp(opt, "-S")) {
				vm_error(errp, "-S: relive-vm always starts the guest running");
				return FALSE;
			}
			continue;
		}
		if (opt[0] != '-') {
			vm_error(errp, "'%s': unexpected argument (relive-vm takes no disk image; see --help)", opt);
			return FALSE;
		}
		if (!arg) {
			static const char *const known[] = {
				"-m", "-smp", "-object", "-machine", "-M", "-accel",
				"-serial", "-monitor", "-qmp", "-incoming", "-device",
				"-pidfile", "-display", "-name", NULL,
			};
			for (int k = 0; known[k]; k++) {
				if (!strcmp(opt, known[k])) {
					vm_error(errp, "%s: requires an argument", opt);
					return FALSE;
				}
			}
			vm_error(errp, "%s: unknown option (see --help)", opt);
			return FALSE;
		}
		i++;
		if (!strcmp(opt, "-m")) {
			const char *v = arg;

			if (g_str_has_prefix(v, "size="))
				v += 5;
			if (rl_size_parse(v, 1ull << 20, &o->ram_size) < 0 ||
			    o->ram_size < (2ull << 20) || o->ram_size % 4096) {
				vm_error(errp, "-m %s: expected a size of at least 2M (512M, 2G)", arg);
				return FALSE;
			}
		} else if (!strcmp(opt, "-smp")) {
			const char *v = arg;
			char *end;
			long n;

			if (g_str_has_prefix(v, "cpus="))
				v += 5;
			n = strtol(v, &end, 10);
			if ((*end && *end != ',') || n < 1 || n > 64) {
				vm_error(errp, "-smp %s: expected a vCPU count from 1 to 64", arg);
				return FALSE;
			}
			o->smp = (unsigned)n;
		} else if (!strcmp(opt, "-object")) {
			if (!parse_object(o, arg, errp))
				return FALSE;
		} else if (!strcmp(opt, "-machine") || !strcmp(opt, "-M")) {
			if (!parse_machine(o, arg, errp))
				return FALSE;
		} else if (!strcmp(opt, "-accel")) {
			if (!parse_accel(o, arg, errp))
				return FALSE;
		} else if (!strcmp(opt, "-serial")) {
			if (!check_chardev_spec("-serial", arg, true, errp))
				return FALSE;
			g_free(o->serial);
			o->serial = g_strdup(arg);
		} else if (!strcmp(opt, "-monitor")) {
			if (!check_chardev_spec("-monitor", arg, false, errp))
				return FALSE;
			if (strcmp(arg, "none"))
				g_ptr_array_add(o->monitors, g_strdup(arg));
		} else if (!strcmp(opt, "-qmp")) {
			if (!check_chardev_spec("-qmp", arg, false, errp))
				return FALSE;
			if (strcmp(arg, "none"))
				g_ptr_array_add(o->qmps, g_strdup(arg));
		} else if (!strcmp(opt, "-incoming")) {
			if (strcmp(arg, "defer") && !g_str_has_prefix(arg, "file:") &&
			    !g_str_has_prefix(arg, "unix:") && !g_str_has_prefix(arg, "cpr:") &&
			    !g_str_has_prefix(arg, "{")) {
				vm_error(errp, "-incoming %s: expected file:PATH, unix:PATH, cpr:unix:PATH, a JSON channel or defer", arg);
				return FALSE;
			}
			g_ptr_array_add(o->incoming, g_strdup(arg));
		} else if (!strcmp(opt, "-device")) {
			if (!parse_device(o, arg, errp))
				return FALSE;
		} else if (!strcmp(opt, "-pidfile")) {
			g_free(o->pidfile);
			o->pidfile = g_strdup(arg);
		} else if (!strcmp(opt, "-display")) {
			if (strcmp(arg, "none")) {
				vm_error(errp, "-display %s: relive-vm has no display (use -display none)", arg);
				return FALSE;
			}
		} else if (!strcmp(opt, "-name")) {
			/* accepted for QEMU command lines; unused */
		} else {
			vm_error(errp, "%s: unknown option (see --help)", opt);
			return FALSE;
		}
	}

	{
		unsigned on_stdio = o->serial && !strcmp(o->serial, "stdio");

		for (unsigned i = 0; i < o->monitors->len; i++)
			on_stdio += !strcmp(g_ptr_array_index(o->monitors, i), "stdio");
		for (unsigned i = 0; i < o->qmps->len; i++)
			on_stdio += !strcmp(g_ptr_array_index(o->qmps, i), "stdio");
		if (on_stdio > 1) {
			vm_error(errp, "stdio: only one of -serial, -monitor and -qmp can use it");
			return FALSE;
		}
		/* the serial port takes stdio only when nothing else does */
		if (!o->serial)
			o->serial = g_strdup(on_stdio || o->daemonize ? "none" : "stdio");
	}
	if (o->memory_backend) {
		struct mem_object *m = options_find_object(o, o->memory_backend);

		if (!m) {
			vm_error(errp, "-machine memory-backend=%s: no -object with id=%s",
				 o->memory_backend, o->memory_backend);
			return FALSE;
		}
		if (o->ram_size && o->ram_size != m->size) {
			vm_error(errp, "-m: size %" G_GUINT64_FORMAT " MiB differs from memory-backend %s's size %" G_GUINT64_FORMAT " MiB",
				 o->ram_size >> 20, m->id, m->size >> 20);
			return FALSE;
		}
		o->ram_size = m->size;
	} else if (!o->ram_size) {
		o->ram_size = 128ull << 20; /* QEMU's default */
	}
	if (o->ram_size < (2ull << 20)) {
		vm_error(errp, "-m: guest RAM must be at least 2 MiB");
		return FALSE;
	}
	return TRUE;
}

struct mem_object *options_find_object(const struct vm_options *o,
				       const char *id)
{
	for (unsigned i = 0; i < o->objects->len; i++) {
		struct mem_object *m = g_ptr_array_index(o->objects, i);

		if (!strcmp(m->id, id))
			return m;
	}
	return NULL;
}

void options_print_help(void)
{
	fputs(
"usage: relive-vm [options]\n"
"A small VMM with QEMU's command line and monitors, updatable in place\n"
"(cpr-exec) with librelive. See docs/vm.md.\n"
"\n"
"Machine:\n"
"  -m SIZE            guest RAM (default 128M; M if no suffix); with -machine\n"
"                     memory-backend=ID the backend's size\n"
"  -smp N             N vCPUs (1..64), one host thread each\n"
"  -object memory-backend-memfd,id=ID,size=S[,share=on|off][,hugetlb=on]\n"
"          [,prealloc=on][,host-nodes=N,policy=bind]\n"
"                     guest RAM in a memfd (share=on by default)\n"
"  -object memory-backend-file,id=ID,size=S,mem-path=P[,share=on][,prealloc=on]\n"
"                     guest RAM in the file P\n"
"  -object memory-backend-ram,id=ID,size=S[,prealloc=on]\n"
"                     guest RAM in private anonymous memory (cannot cpr-exec)\n"
"  -machine [pc,]memory-backend=ID[,aux-ram-share=on]\n"
"                     back guest RAM with object ID; aux-ram-share=on puts the\n"
"                     implicit blocks (pc.bios, -m RAM) in memfds as well\n"
"  -accel kvm|thread[,touch-ram=on]\n"
"                     kvm (default when /dev/kvm opens) runs the built-in guest\n"
"                     program; thread executes NO guest code: a host thread per\n"
"                     vCPU writes the heartbeat into guest RAM instead, and with\n"
"                     touch-ram=on also writes one byte of every 4 KiB page of\n"
"                     its share of guest RAM, over and over\n"
"  -device state-blob,id=ID,size=S[,preserve=on|off]\n"
"                     a device with S bytes of opaque state in a memfd, checked\n"
"                     byte for byte after every load; cpr-exec and cpr-transfer\n"
"                     hand the memfd over instead of writing the bytes, unless\n"
"                     preserve=off\n"
"\n"
"Character devices and monitors:\n"
"  -serial stdio|file:P|unix:P,server,nowait|none   the 16550 at 0x3f8\n"
"                     (default: stdio, or none with -daemonize or when a\n"
"                     monitor uses stdio; one user of stdio at most)\n"
"  -monitor stdio|unix:P,server,nowait   HMP monitor (repeatable)\n"
"  -qmp unix:P,server,nowait|stdio       QMP server (repeatable;\n"
"                     server=on,wait=off is accepted too)\n"
"\n"
"Migration:\n"
"  -incoming file:P   load the state written by 'migrate file:P' (cpr-exec:\n"
"                     the preserved RAM and sockets are taken over)\n"
"  -incoming defer    wait in 'inmigrate' for migrate_incoming / migrate-incoming\n"
"  -incoming unix:P -incoming cpr:unix:C\n"
"                     cpr-transfer: main channel P, cpr channel C (or QEMU's JSON\n"
"                     {\"channel-type\":\"cpr\",\"addr\":{\"transport\":\"socket\",\n"
"                     \"type\":\"unix\",\"path\":\"C\"}}); see docs/modes.md\n"
"\n"
"Process:\n"
"  -pidfile P         write the process id to P\n"
"  -daemonize         detach once the VM runs (the parent exits then)\n"
"  -nographic, -display none, -name X   accepted, no effect\n"
"  -h, --help         this text\n"
"  --version          print the version\n",
	      stdout);
}
