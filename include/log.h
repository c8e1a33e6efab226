/* Logging: stderr, or journald with priorities when running under
 * systemd. fatal() is for start-up only; modules return errors instead. */
#ifndef BULKHEAD_LOG_H
#define BULKHEAD_LOG_H

#include <stdbool.h>

enum log_target { LOG_TO_STDERR, LOG_TO_JOURNAL };

void log_init(const char *ident, enum log_target target, int verbosity);
/* True when stderr is connected to journald (JOURNAL_STREAM matches). */
bool log_under_journald(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
