/*
 * notify.c: the sd_notify protocol in-tree (one datagram to
 * $NOTIFY_SOCKET), as HAProxy does: readiness, status lines, reloads and
 * the watchdog (master/notify.h). Master only; trusts its environment,
 * which systemd (or the operator) set.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "master/master.h"
#include "master/notify.h"

/* The watchdog timer: one per master, on its loop. */
static struct event	*notify_wd_ev;

void
krx_notify(const char *state)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	size_t			 plen;
	socklen_t		 slen;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	slen = offsetof(struct sockaddr_un, sun_path) + plen;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("sd_notify socket");
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, slen) == -1)
		log_warn("sd_notify %.*s", (int)strcspn(state, "\n"), state);
	close(fd);
}

void
krx_notify_send(const char *fmt, ...)
{
	char	 text[1024];
	va_list	 ap;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	krx_notify(text);
}

void
krx_notify_ready(unsigned generation, int workers)
{
	krx_notify_send("READY=1\nSTATUS=serving generation %u, %d worker%s",
	    generation, workers, workers == 1 ? "" : "s");
}

void
krx_notify_reloading(void)
{
	struct timespec	 ts;
	uint64_t	 usec;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	krx_notify_send("RELOADING=1\nMONOTONIC_USEC=%" PRIu64
	    "\nSTATUS=reloading", usec);
}

void
krx_notify_reload_failed(const char *why)
{
	/* A STATUS= value is one line: the first line of why. */
	krx_notify_send("READY=1\nSTATUS=reload failed: %.*s",
	    (int)strcspn(why, "\n"), why);
}

static void
notify_watchdog(evutil_socket_t fd, short what, void *arg)
{
	krx_notify("WATCHDOG=1");
}

/* $WATCHDOG_USEC when it is meant for this process, else 0. */
static unsigned long long
notify_watchdog_usec(void)
{
	const char		*s = getenv("WATCHDOG_USEC");
	const char		*p = getenv("WATCHDOG_PID");
	char			*end;
	unsigned long long	 usec, pid;

	if (s == NULL || getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	if (p != NULL) {
		errno = 0;
		pid = strtoull(p, &end, 10);
		if (errno != 0 || *end != '\0' || pid != (unsigned long long)
		    getpid())
			return 0;
	}
	errno = 0;
	usec = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || usec == 0) {
		log_warnx("WATCHDOG_USEC=%.32s is not a number of "
		    "microseconds; no watchdog", s);
		return 0;
	}
	return usec;
}

unsigned long long
krx_notify_watchdog_start(struct event_base *base)
{
	unsigned long long	 usec = notify_watchdog_usec();
	struct timeval		 tv;

	if (usec == 0 || notify_wd_ev != NULL)
		return 0;
	usec /= 2;
	if (usec == 0)
		usec = 1;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	notify_wd_ev = event_new(base, -1, EV_PERSIST, notify_watchdog, NULL);
	if (notify_wd_ev == NULL || event_add(notify_wd_ev, &tv) == -1) {
		log_warnx("cannot start the watchdog timer");
		krx_notify_watchdog_stop();
		return 0;
	}
	log_info("systemd watchdog: WATCHDOG=1 every %llu ms", usec / 1000);
	krx_notify("WATCHDOG=1");
	return usec;
}

void
krx_notify_watchdog_stop(void)
{
	if (notify_wd_ev == NULL)
		return;
	event_free(notify_wd_ev);
	notify_wd_ev = NULL;
}
