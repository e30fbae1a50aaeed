// SPDX-License-Identifier: GPL-2.0-or-later
/* The other half of the call cycle of cycle-a.c. */
void layout_cycle_a(int n);
void layout_cycle_b(int n);

void layout_cycle_b(int n)
{
	if (n > 0)
		layout_cycle_a(n - 1);
}
