/*
 * master.h: the master process: configuration, listeners, the slot table
 * of children, signals and the control socket. Program grade; runs as
 * root under systemd (binds, forks, supervises), never touches records
 * or keys.
 */
#ifndef KRX_MASTER_MASTER_H
#define KRX_MASTER_MASTER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "common/cycle.h"
#include "common/limits.h"
#include "proto/ipc.h"

struct event_base;
struct event;
struct bufferevent;
struct evconnlistener;
struct krx_relay;

#define KRX_CRASH_WINDOW	60	/* seconds */
#define KRX_CRASH_LIMIT		5	/* crashes per window: give up */
#define KRX_KILL_BACKOFF_MAX	7	/* kills: backoff 100 ms << 6 at most */
#define KRX_RELINK_INTERVAL	1	/* seconds between keysvc relinks */

enum krx_child_kind {
	KRX_KIND_WORKER = 0,
	KRX_KIND_KEYSVC = 1
};

struct krx_chan;

struct krx_slot {
	struct krx_master	*master;
	enum krx_child_kind	 kind;
	int			 slot;
	pid_t			 pid;
	enum krx_child_state	 state;
	struct krx_chan		*chan;		/* master end of the channel */
	struct event		*respawn_ev;
	unsigned		 restarts;
	time_t			 crash_times[KRX_CRASH_LIMIT];
	unsigned		 n_crashes;	/* ring index */
	time_t			 last_kill;	/* SIGKILLed: not crashes */
	unsigned		 kill_streak;	/* kills within a window */
	time_t			 relinked;	/* last keysvc channel asked */
	struct timespec		 spawned;
};

struct krx_master {
	struct event_base	*base;
	struct krx_cycle	*cy;		/* the running generation */
	int			 foreground;
	struct krx_slot		 slots[KRX_MAX_WORKERS];
	int			 n_workers;
	struct krx_slot		 keysvc;
	int			 use_keysvc;	/* some vcluster encrypts */
	int			 pid_fd;	/* pid file lock; no worker */
	struct krx_relay	*relays;	/* ctl requests at keysvc */
	time_t			 started;
	int			 stopping;	/* 1 fast, 2 graceful */
	int			 exit_status;
	int			 notified_ready;
	struct evconnlistener	*ctl_listener;
#define KRX_MAX_STOP_WAITERS	16
	struct bufferevent	*stop_waiters[KRX_MAX_STOP_WAITERS];
	int			 n_stop_waiters;
	int			 sig_fd;
	struct event		*sig_ev;
	struct event		*stop_timer;
};

/*
 * Whether a child's exit counts toward the crash loop (KRX_CRASH_LIMIT
 * in KRX_CRASH_WINDOW ends the master). SIGKILL does not: the master
 * sends it to a worker keysvc reports (issue 9, finding 2), the kernel's
 * OOM killer sends it, and so does an operator; none of them says the
 * binary or its configuration is broken, and counting them would let one
 * bad record or client take the whole proxy down. Such children are
 * respawned with their own backoff.
 */
static inline int
krx_spawn_exit_is_crash(int status)
{
	return !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/*
 * cycle.c: a new generation for conf (taken over: freed with the
 * cycle): its counters, DEK cache key, node and topic maps; the
 * listeners are sockets.c's. Fatal on failure (before READY).
 */
struct krx_cycle *krx_cycle_new(struct krx_conf *conf, uint32_t generation);
void	krx_cycle_free(struct krx_cycle *cy);
/* In a new worker: the master's secrets in its copy of cy are wiped. */
void	krx_cycle_forget_secrets(struct krx_cycle *cy);

/* master.c */
int	krx_master_run(struct krx_master *m);
void	krx_master_stop(struct krx_master *m, int graceful);
void	krx_master_child_ready(struct krx_master *m, struct krx_slot *s);

/* sockets.c: bind every listener of conf; fatal on failure (pre-READY) */
void	krx_sockets_open(struct krx_master *m);
void	krx_sockets_close(struct krx_master *m);

/* spawn.c */
void	krx_spawn_all(struct krx_master *m);
struct krx_slot *krx_spawn_find(struct krx_master *m, pid_t pid);
/* In a new child: close the master's fds (but keep) and reset signals. */
void	krx_spawn_close_inherited(struct krx_master *m, int keep);
void	krx_spawn_reset_signals(void);
/* Track a new child of slot s whose channel is fd. */
void	krx_spawn_attach(struct krx_master *m, struct krx_slot *s, int fd,
	    pid_t pid, size_t max);
void	krx_spawn_reap(struct krx_master *m);
void	krx_spawn_signal_all(struct krx_master *m, int sig);
void	krx_spawn_send_all(struct krx_master *m, uint32_t type);
int	krx_spawn_alive(const struct krx_master *m);
void	krx_spawn_free(struct krx_master *m);

/* keysvc_spawn.c: the key service child and its channels */
void	krx_keysvc_prepare(struct krx_master *m);
void	krx_keysvc_spawn(struct krx_master *m);
/* Give worker s a channel to keysvc: returns the worker's end or -1. */
int	krx_keysvc_link(struct krx_master *m, struct krx_slot *s);
void	krx_keysvc_message(struct krx_master *m, const struct krx_ipc_hdr *h,
	    const uint8_t *p, size_t len);

/* control.c */
void	krx_control_open(struct krx_master *m);
void	krx_control_close(struct krx_master *m);
/* Answer a relayed ctl request (id from krx_control_relay). */
void	krx_control_relay_done(struct krx_master *m, uint32_t id,
	    uint16_t flags, const uint8_t *p, size_t len);
/* keysvc went away: answer every waiting ctl request with why. */
void	krx_control_relay_fail_all(struct krx_master *m, const char *why);

/*
 * maps.c: a worker's NODE_LEARNED or TOPIC_LEARNED, checked and written
 * into the shared maps. 0 when handled, -1 for another type or a
 * message that breaks the contract (the caller kills the worker).
 */
int	krx_maps_message(struct krx_master *m, struct krx_slot *s,
	    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len);

/* notify.c: sd_notify without libsystemd; no-op without NOTIFY_SOCKET */
void	krx_notify(const char *state);

#endif
