// SPDX-License-Identifier: GPL-2.0-or-later
/* Half of a call cycle (cycle-b.c): check-calls.py must find it. */
void layout_cycle_a(int n);
void layout_cycle_b(int n);

void layout_cycle_a(int n)
{
	if (n > 0)
		layout_cycle_b(n - 1);
}
