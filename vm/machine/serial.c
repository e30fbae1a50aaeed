// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A 16550 UART at 0x3f8: registers enough for a guest's polled output and
 * input, output handed from vCPU threads to the main loop and its chardev,
 * and its register state in the state stream (section "serial0").
 */
#include <errno.h>
#include <string.h>

#include "machine/devices.h"
#include "monitors/monitors.h"
#include "vm-error.h"

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LCR_DLAB 0x80
#define RX_FIFO 16
#define SERIAL_STATE_VERSION 1
/* Output held for a chardev that is not there yet, or not keeping up. */
#define SERIAL_HOLD_MAX (64u << 10)

struct serial_state {
	uint32_t version;
	uint8_t ier, iir, fcr, lcr, mcr, lsr, msr, scr, dll, dlm;
	uint8_t rx_len;
	uint8_t rx[RX_FIFO];
};

static struct {
	GMutex lock;
	struct serial_state s;
	GByteArray *out;	/* written by the guest, not yet on the chardev */
	bool flush_pending;
	bool attached;		/* output before serial_attach() is held */
	Chardev *chr;
	const struct vm_monitors_ops *chardevs;	/* the table that made @chr */
} uart;

static gboolean flush_idle(gpointer opaque)
{
	serial_flush();
	return G_SOURCE_REMOVE;
}

void serial_flush(void)
{
	GByteArray *out;

	if (!uart.attached)
		return;
	g_mutex_lock(&uart.lock);
	out = uart.out;
	uart.out = g_byte_array_new();
	uart.flush_pending = false;
	g_mutex_unlock(&uart.lock);
	if (uart.chr && out->len)
		uart.chardevs->chardev_write_all(uart.chr, out->data, out->len);
	g_byte_array_unref(out);
}

static void serial_input(ChardevConn *conn, void *opaque)
{
	uint8_t buf[RX_FIFO];
	size_t n;

	g_mutex_lock(&uart.lock);
	n = uart.chardevs->chardev_conn_take(conn, buf, RX_FIFO - uart.s.rx_len);
	memcpy(uart.s.rx + uart.s.rx_len, buf, n);
	uart.s.rx_len += n;
	g_mutex_unlock(&uart.lock);
}

static const struct chardev_ops serial_ops = {
	.input = serial_input,
};

void serial_init(void)
{
	g_mutex_init(&uart.lock);
	uart.out = g_byte_array_new();
	uart.s.version = SERIAL_STATE_VERSION;
	uart.s.lsr = LSR_THRE | LSR_TEMT;
	uart.s.iir = 0x01;
	uart.s.dll = 0x0c; /* 9600 baud, as firmware leaves it */
}

gboolean serial_attach(const char *spec, const struct vm_monitors_ops *chardevs,
		       GError **errp)
{
	g_mutex_lock(&uart.lock);
	uart.attached = true;
	g_mutex_unlock(&uart.lock);
	if (spec && strcmp(spec, "none")) {
		uart.chardevs = chardevs;
		uart.chr = chardevs->chardev_new(SERIAL_NAME, spec, &serial_ops, NULL, FALSE, errp);
		if (!uart.chr) {
			g_prefix_error(errp, "-serial %s: ", spec);
			return FALSE;
		}
	}
	serial_flush();
	return TRUE;
}

static uint8_t serial_read(unsigned reg)
{
	struct serial_state *s = &uart.s;
	uint8_t v;

	switch (reg) {
	case 0:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (!s->rx_len)
			return 0;
		v = s->rx[0];
		memmove(s->rx, s->rx + 1, --s->rx_len);
		return v;
	case 1: return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case 2: return s->iir | ((s->fcr & 1) ? 0xc0 : 0);
	case 3: return s->lcr;
	case 4: return s->mcr;
	case 5: return s->lsr | (s->rx_len ? LSR_DR : 0);
	case 6: return s->msr;
	default: return s->scr;
	}
}

static void serial_write(unsigned reg, uint8_t v)
{
	struct serial_state *s = &uart.s;

	switch (reg) {
	case 0:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
		} else if ((uart.chr || !uart.attached) && uart.out->len < SERIAL_HOLD_MAX) {
			g_byte_array_append(uart.out, &v, 1);
			if (uart.attached && !uart.flush_pending) {
				uart.flush_pending = true;
				g_idle_add(flush_idle, NULL);
			}
		}
		break;
	case 1:
		if (s->lcr & LCR_DLAB)
			s->dlm = v;
		else
			s->ier = v & 0x0f;
		break;
	case 2: s->fcr = v; break;
	case 3: s->lcr = v; break;
	case 4: s->mcr = v & 0x1f; break;
	case 7: s->scr = v; break;
	default: break;
	}
}

void serial_pio(uint16_t port, bool is_write, uint8_t *data, unsigned size)
{
	if (port < SERIAL_BASE || port >= SERIAL_BASE + 8) {
		if (!is_write)
			memset(data, 0xff, size);
		return;
	}
	g_mutex_lock(&uart.lock);
	if (is_write)
		serial_write(port - SERIAL_BASE, data[0]);
	else
		data[0] = serial_read(port - SERIAL_BASE);
	g_mutex_unlock(&uart.lock);
}

int serial_save(struct rl_stream_saver *s, GError **errp)
{
	int ret;

	ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, SERIAL_NAME);
	if (!ret)
		ret = rl_stream_save_put(s, &uart.s, sizeof(uart.s));
	if (!ret)
		ret = rl_stream_save_section_end(s);
	if (ret)
		vm_error(errp, "saving %s: %s", SERIAL_NAME, g_strerror(-ret));
	return ret;
}

gboolean serial_load(struct rl_stream_loader *l, GError **errp)
{
	const struct serial_state *st;
	const void *p;
	size_t len;
	int ret;

	ret = rl_stream_load_device(l, SERIAL_NAME, &p, &len);
	if (ret) {
		vm_error(errp, "section '%s': %s", SERIAL_NAME, g_strerror(-ret));
		return FALSE;
	}
	st = p;
	if (len != sizeof(*st) || st->version != SERIAL_STATE_VERSION ||
	    st->rx_len > RX_FIFO) {
		vm_error(errp, "section '%s': %zu bytes of version %u, expected %zu bytes of version %u",
			 SERIAL_NAME, len, len >= 4 ? st->version : 0, sizeof(*st),
			 SERIAL_STATE_VERSION);
		return FALSE;
	}
	g_mutex_lock(&uart.lock);
	uart.s = *st;
	g_mutex_unlock(&uart.lock);
	return TRUE;
}
