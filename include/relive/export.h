/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RELIVE_EXPORT_H
#define RELIVE_EXPORT_H
/* Marks a function of librelive's public interface; all else is hidden. */
#define RL_EXPORT __attribute__((visibility("default")))
#endif
