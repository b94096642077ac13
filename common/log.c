/*
 * log.c: stderr/journal/syslog logging with a process tag. Used by every
 * process; state is per process (set after fork). When stderr is the
 * journal's stream ($JOURNAL_STREAM names its device and inode, as
 * systemd.exec(5) says), each line starts with the sd-daemon(3) "<N>"
 * priority and carries no timestamp of ours (the journal has one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static int	log_fg = 1;
static int	log_journal;
static int	log_lvl = KRX_LOG_INFO;
static int	log_exit = 70;
static char	log_tag[32] = "krxd";

/* Whether $JOURNAL_STREAM ("DEV:INO", decimal) is our stderr. */
static int
log_stderr_is_journal(void)
{
	const char		*s = getenv("JOURNAL_STREAM");
	char			*end;
	unsigned long long	 dev, ino;
	struct stat		 st;

	if (s == NULL)
		return 0;
	errno = 0;
	dev = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != ':')
		return 0;
	s = end + 1;
	ino = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(int foreground, int level)
{
	log_fg = foreground;
	log_lvl = level;
	log_journal = log_stderr_is_journal();
	if (!log_fg)
		openlog("krxd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int level)
{
	log_lvl = level;
}

int
log_getlevel(void)
{
	return log_lvl;
}

void
log_fatal_status(int status)
{
	log_exit = status;
}

void
log_procname(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(log_tag, sizeof(log_tag), fmt, ap);
	va_end(ap);
}

int
log_level_parse(const char *name)
{
	if (strcmp(name, "debug") == 0)
		return KRX_LOG_DEBUG;
	if (strcmp(name, "info") == 0)
		return KRX_LOG_INFO;
	if (strcmp(name, "warn") == 0)
		return KRX_LOG_WARN;
	if (strcmp(name, "error") == 0)
		return KRX_LOG_ERROR;
	return -1;
}

static void
log_vwrite(int pri, const char *errstr, const char *fmt, va_list ap)
{
	char		 msg[1024], ts[32];
	struct timespec	 now;
	struct tm	 tm;

	if (pri > log_lvl)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_fg) {
		if (errstr != NULL)
			syslog(pri, "%s: %s: %s", log_tag, msg, errstr);
		else
			syslog(pri, "%s: %s", log_tag, msg);
		return;
	}
	if (log_journal) {
		fprintf(stderr, "<%d>%s: %s%s%s\n", pri, log_tag, msg,
		    errstr ? ": " : "", errstr ? errstr : "");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ krxd[%d] %s: %s%s%s\n", ts,
	    now.tv_nsec / 1000000, (int)getpid(), log_tag, msg,
	    errstr ? ": " : "", errstr ? errstr : "");
}

#define LOG_BODY(pri, err)			\
	va_list	 ap;				\
	va_start(ap, fmt);			\
	log_vwrite((pri), (err), fmt, ap);	\
	va_end(ap)

void
log_warn(const char *fmt, ...)
{
	const char	*e = strerror(errno);

	LOG_BODY(KRX_LOG_WARN, e);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(KRX_LOG_WARN, NULL);
}

void
log_err(const char *fmt, ...)
{
	LOG_BODY(KRX_LOG_ERROR, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(KRX_LOG_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(KRX_LOG_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char	*e = strerror(errno);

	LOG_BODY(KRX_LOG_ERROR, e);
	exit(log_exit);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(KRX_LOG_ERROR, NULL);
	exit(log_exit);
}
