/* SPDX-License-Identifier: MIT */
#ifndef RINGLB_VERSION_H
#define RINGLB_VERSION_H
#define RINGLB_VERSION "0.1.0"
#endif
