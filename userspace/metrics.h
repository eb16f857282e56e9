/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint's text (exposition format 0.0.4), named as
 * HAProxy's exporter names its figures: ringlb_server_* per server,
 * ringlb_backend_* per backend, ringlb_frontend_* per listener, and the
 * process's own. metrics_write() is declared in control.h beside the
 * rest of the control plane.
 */
#ifndef RINGLB_METRICS_H
#define RINGLB_METRICS_H

#include <stdio.h>

/*
 * Write @s as the inside of a label value: backslash, double quote and
 * newline escaped as the format wants (\\, \", \n), every other byte as
 * it is. Names from the config cannot hold those today; this holds even
 * if they one day could.
 */
void prom_label_value(FILE *out, const char *s);

#endif
