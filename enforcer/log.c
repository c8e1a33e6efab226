/* Logging to stderr, or to journald with priorities and structured
 * fields when running under systemd. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

static const char *log_ident = "bulkhead";
static enum log_target log_target = LOG_TO_STDERR;
static int log_verbosity;

void log_init(const char *ident, enum log_target target, int verbosity)
{
	log_ident = ident;
	log_target = target;
	log_verbosity = verbosity;
}

bool log_under_journald(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%lu:%lu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static void vlog(int prio, const char *fmt, va_list ap)
{
	static const char *const names[] = {
		[LOG_ERR] = "error", [LOG_WARNING] = "warning",
		[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
	};

	if (prio == LOG_DEBUG && log_verbosity < 1)
		return;
	if (log_target == LOG_TO_JOURNAL) {
		sd_journal_printv(prio, fmt, ap);
		return;
	}
	fprintf(stderr, "%s: %s: ", log_ident, names[prio]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define LOG_FN(fn, prio)                                                \
	void fn(const char *fmt, ...)                                   \
	{                                                               \
		va_list ap;                                             \
		va_start(ap, fmt);                                      \
		vlog(prio, fmt, ap);                                    \
		va_end(ap);                                             \
	}

LOG_FN(log_err, LOG_ERR)
LOG_FN(log_warn, LOG_WARNING)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
