/*
 * log.h: logging for program-grade code (master, worker, keysvc, ctl).
 *
 * Lines go to stderr (with the "<N>" priority prefix when stderr is the
 * journal) in the foreground, to syslog otherwise. Each line starts with
 * the process tag set by log_procname ("master", "worker[3]"). Never log
 * secrets or record payloads.
 */
#ifndef KRX_COMMON_LOG_H
#define KRX_COMMON_LOG_H

#include <stdarg.h>

enum krx_log_level {
	KRX_LOG_ERROR = 3,
	KRX_LOG_WARN = 4,
	KRX_LOG_INFO = 6,
	KRX_LOG_DEBUG = 7
};

/* foreground: write to stderr; else syslog (ident "krxd"). */
void	log_init(int foreground, int level);
void	log_setlevel(int level);
int	log_getlevel(void);
/* The process tag, e.g. "master" or "worker[2]"; copied. */
void	log_procname(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* Parse "debug", "info", "warn", "error"; -1 when unknown. */
int	log_level_parse(const char *name);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* Exit status used by fatal/fatalx (default 70); children set 76 etc. */
void	log_fatal_status(int status);

#endif
