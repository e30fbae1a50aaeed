/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A header of the layer above io/ (bad/io/upward.c includes it). */
