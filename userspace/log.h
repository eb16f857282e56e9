/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event on stderr, `ringlb: <level>: <message>`,
 * which journald picks up as is. Levels are ordered so a single compare
 * decides whether a line is printed.
 */
#ifndef RINGLB_LOG_H
#define RINGLB_LOG_H

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

extern enum log_level log_level;

int log_parse_level(const char *s, enum log_level *out);
/*
 * From log_start() to log_stop(), lines are buffered and written by a
 * thread of their own, so no event loop waits for stderr (log.c).
 */
int log_start(void);
void log_stop(void);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)					\
	do {						\
		if (log_level >= LOG_DEBUG)		\
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
