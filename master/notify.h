/*
 * notify.h: what the master tells systemd (sd_notify(3) protocol, no
 * libsystemd): readiness and status lines, reloads (Type=notify-reload
 * style RELOADING=1 with MONOTONIC_USEC), and the watchdog keep-alive.
 * Every call is a no-op without $NOTIFY_SOCKET. Master only.
 */
#ifndef KRX_MASTER_NOTIFY_H
#define KRX_MASTER_NOTIFY_H

struct event_base;

/* One datagram of "KEY=value" lines; the text is truncated at 1 KiB. */
void	krx_notify_send(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* READY=1 with STATUS=serving generation N, W workers. */
void	krx_notify_ready(unsigned generation, int workers);
/* RELOADING=1, MONOTONIC_USEC=now (CLOCK_MONOTONIC), STATUS=reloading. */
void	krx_notify_reloading(void);
/* READY=1 with STATUS=reload failed: why (first line of why). */
void	krx_notify_reload_failed(const char *why);
/*
 * The watchdog: with $WATCHDOG_USEC set (and $WATCHDOG_PID unset or
 * ours), a timer on base sends WATCHDOG=1 every WATCHDOG_USEC / 2, so a
 * loop that is stuck stops the keep-alives. Returns the period in µs, 0
 * when disabled. krx_notify_watchdog_stop frees the timer (before base
 * goes).
 */
unsigned long long krx_notify_watchdog_start(struct event_base *base);
void	krx_notify_watchdog_stop(void);

#endif
