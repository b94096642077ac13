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
#include "common/dispatch.h"
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
struct krx_gen;
struct krx_conf;
struct krx_conf_errors;
struct krx_master;
struct krx_slot;

/*
 * The process graph as data (spawn.c krx_proc_kinds, indexed by enum
 * krx_child_kind): how the master starts each kind of child, its
 * channel's size cap and fd permissions, the configuration field that
 * names the user it runs as, and the checked table of what the master
 * accepts from it.
 */
struct krx_proc_kind {
	const char			*name;
	int				 exec;	/* fork+exec, else fork */
	/* In the new child: chan is its end, keys its keysvc end or -1. */
	void				(*child)(struct krx_master *m,
					    struct krx_slot *s, int chan,
					    int keys) __attribute__((noreturn));
	size_t				 chan_max;
	int				 fds_out; /* master passes it fds */
	int				 fds_in;  /* it passes the master fds */
	size_t				 user_off; /* in struct krx_conf */
	const struct krx_dispatch_table	*rx;	/* child -> master */
};
extern const struct krx_proc_kind krx_proc_kinds[];

struct krx_slot {
	struct krx_master	*master;
	struct krx_gen		*gen;		/* NULL: keysvc */
	enum krx_child_kind	 kind;
	int			 slot;		/* worker N of its generation */
	int			 row;		/* cy->row_base + slot: counters
						 * row, keysvc channel slot */
	pid_t			 pid;
	enum krx_child_state	 state;
	struct krx_chan		*chan;		/* master end of the channel */
	struct krx_dispatch_peer peer;		/* its state on chan */
	struct event		*respawn_ev;
	unsigned		 restarts;
	time_t			 crash_times[KRX_CRASH_LIMIT];
	unsigned		 n_crashes;	/* ring index */
	time_t			 last_kill;	/* SIGKILLed: not crashes */
	unsigned		 kill_streak;	/* kills within a window */
	time_t			 relinked;	/* last keysvc channel asked */
	struct timespec		 spawned;
	/* keysvc only (keysvc_spawn.c) */
	struct event		*ping_ev;	/* liveness check */
	time_t			 ping_sent;	/* monotonic; 0: none out */
	uint32_t		 ping_id;
	int			 retired;	/* stopped: no generation uses
						 * it any more */
};

/*
 * A generation's processes (master/reload.c): its cycle and workers.
 * The master runs one serving generation and, during a reload, a second
 * one: the new one starting, or the old one draining; never more.
 * States: proto/ipc.h enum krx_gen_state.
 */
struct krx_gen {
	struct krx_master	*master;
	struct krx_cycle	*cy;
	enum krx_gen_state	 state;
	int			 n_workers;
	struct krx_slot		 slots[KRX_MAX_WORKERS];
	time_t			 started;
	struct event		*timer;		/* reload_timeout, drain end */
	struct krx_slot		*keysvc;	/* NULL: nothing encrypts; the
						 * other generation's when the
						 * KMS settings are the same */
};

struct krx_master {
	struct event_base	*base;
	struct krx_cycle	*cy;		/* the serving generation's */
	struct krx_gen		 gens[2];	/* gens[i]: rows from i * 256 */
	struct krx_gen		*cur;		/* serving */
	uint32_t		 last_gen;	/* highest number given, so an
						 * aborted one is not reused */
	struct krx_stats	*stats;		/* every generation's rows */
	struct krx_mshm		*mshm;		/* metrics regions (mstatus.c) */
	int			 foreground;
	struct krx_slot		 ks[2];		/* key services: one, two
						 * while a reload changes the
						 * KMS settings */
	int			 pid_fd;	/* pid file lock; no worker */
	struct krx_relay	*relays;	/* ctl requests at keysvc */
	struct bufferevent	*reload_waiter;	/* krx-ctl reload */
	int			 prev_log_level; /* while a reload starts */
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
 * cycle): its DEK cache key, node and topic maps; the counters region
 * is the master's (stats); the listeners are sockets.c's. NULL when a
 * region cannot be made.
 */
struct krx_cycle *krx_cycle_new(struct krx_conf *conf, uint32_t generation,
	    int row_base, struct krx_stats *stats);
/*
 * The node and topic maps of old, when cy's virtual clusters are the
 * same (names, node ranges, upstreams, allowed hosts): cy drops its own
 * and shares old's (learned brokers and topics stay). 1 when adopted.
 */
int	krx_cycle_adopt_maps(struct krx_cycle *cy, const struct krx_cycle *old);
/*
 * Free cy, except what keep (NULL: none) shares with it: listening
 * sockets (by fd), node and topic maps. Never the counters region.
 */
void	krx_cycle_free(struct krx_cycle *cy, const struct krx_cycle *keep);
/*
 * The TLS contexts of cy's virtual clusters, their key, certificate
 * and trust files read now; every failure reported in errs (with the
 * virtual cluster's file and line). 0 or -1.
 */
int	krx_cycle_tls_open(struct krx_cycle *cy, struct krx_conf_errors *errs);
void	krx_cycle_tls_close(struct krx_cycle *cy);
/* In a new worker: the master's secrets in its copy of cy are wiped. */
void	krx_cycle_forget_secrets(struct krx_cycle *cy);

/*
 * confload.c: load path and run every check `krxd -t` runs (syntax,
 * cross-field, root, KMS providers); errs gets each problem as
 * FILE:LINE: text. 0, or -1 (nothing in *out).
 */
int	krx_confload(const char *path, struct krx_conf **out,
	    struct krx_conf_errors *errs);
/*
 * What a reload cannot change (user, keysvc_user, pid_file,
 * control_socket, cache.path): each difference goes to errs.
 */
void	krx_confload_reloadable(const struct krx_conf *old,
	    const struct krx_conf *new, struct krx_conf_errors *errs);
/* Whether some virtual cluster of conf encrypts (keysvc runs). */
int	krx_confload_encrypts(const struct krx_conf *conf);
/*
 * Whether the key service of old serves new as well: both encrypt, with
 * the same virtual clusters (names, order), the same KMS of each (kms,
 * kmsConfig with its TLS, dek expiry), cache size and rate (not the
 * log level: keysvc keeps its own). Otherwise a reload starts a new one.
 */
int	krx_confload_same_keysvc(const struct krx_conf *old,
	    const struct krx_conf *new);
/* Workers of conf: its workers setting, or one per CPU; within limits. */
int	krx_confload_workers(const struct krx_conf *conf);

/* reload.c: SIGHUP and krx-ctl reload (waiter: its connection or NULL) */
void	krx_reload_start(struct krx_master *m, struct bufferevent *waiter);
/* A worker of a starting generation is ready. */
void	krx_reload_child_ready(struct krx_master *m, struct krx_gen *g);
/* A worker of g exited (not respawned unless g serves). */
void	krx_reload_child_gone(struct krx_master *m, struct krx_gen *g,
	    int status);
/* Stopping: a reload in progress fails, generations' timers end. */
void	krx_reload_stop(struct krx_master *m);
/* The other generation than the serving one, or NULL. */
struct krx_gen *krx_reload_other(struct krx_master *m);

/* master.c */
int	krx_master_run(struct krx_master *m);
void	krx_master_stop(struct krx_master *m, int graceful);
void	krx_master_child_ready(struct krx_master *m, struct krx_slot *s);

/*
 * sockets.c: bind every listener of cy's configuration, taking the
 * socket of old (NULL: none) for each address old listens on too (kept
 * open: no connection attempt is refused during a reload). 0, or -1
 * with errs filled (cy's own new sockets closed again).
 */
int	krx_sockets_open(struct krx_cycle *cy, const struct krx_cycle *old,
	    struct krx_conf_errors *errs);
/* A listening socket for host:port (line: for errs), or -1. */
int	krx_sockets_bind(const struct krx_conf *conf, int line,
	    const char *host, int port, struct krx_conf_errors *errs);

/*
 * metrics_listen.c: cy->metrics_fd for cy's metrics.listen (none: -1),
 * old's socket when old listens on the same address. 0, or -1 with errs
 * filled.
 */
int	krx_metrics_listen_open(struct krx_cycle *cy,
	    const struct krx_cycle *old, struct krx_conf_errors *errs);

/* spawn.c */
/* Start every worker of g (its cycle set, state STARTING or SERVING). */
void	krx_spawn_gen(struct krx_master *m, struct krx_gen *g);
/* The first generation's keysvc, if it encrypts. */
void	krx_spawn_keysvc_init(struct krx_master *m);
/* A new keysvc for generation g (reload): NULL when none is free. */
struct krx_slot *krx_spawn_keysvc_new(struct krx_master *m, struct krx_gen *g);
struct krx_slot *krx_spawn_find(struct krx_master *m, pid_t pid);
/* The worker whose keysvc channel slot is row, or NULL. */
struct krx_slot *krx_spawn_find_row(struct krx_master *m, uint32_t row);
/* In a new child: close the master's fds (but keep) and reset signals. */
void	krx_spawn_close_inherited(struct krx_master *m, int keep);
void	krx_spawn_reset_signals(void);
/*
 * Start slot s's child as its kind says (krx_proc_kinds): a channel,
 * fork, the kind's child entry (keys: the worker's end of its keysvc
 * channel, or -1; the child inherits it, the caller still owns it).
 * 0, or -1 when nothing was started.
 */
int	krx_spawn_fork(struct krx_master *m, struct krx_slot *s, int keys);
/* The user that kind runs as, from conf (NULL: no switch). */
const char *krx_spawn_user(enum krx_child_kind kind,
	    const struct krx_conf *conf);
void	krx_spawn_reap(struct krx_master *m);
void	krx_spawn_signal_all(struct krx_master *m, int sig);
/* Signal or message every worker of g. */
void	krx_spawn_signal_gen(struct krx_gen *g, int sig);
void	krx_spawn_send_gen(struct krx_gen *g, uint32_t type);
int	krx_spawn_alive(const struct krx_master *m);
int	krx_spawn_alive_gen(const struct krx_gen *g);
/* Release g's slots (its processes are gone). */
void	krx_spawn_free_gen(struct krx_gen *g);
void	krx_spawn_free(struct krx_master *m);

/* keysvc_spawn.c: the key service children and their channels */
void	krx_keysvc_prepare(struct krx_master *m);
/* Start keysvc ks (again): the key of its generation, every channel. */
void	krx_keysvc_spawn(struct krx_master *m, struct krx_slot *ks);
/* keysvc's child entry: exec `krxd -K` with its channel on fd 3. */
void	krx_keysvc_exec(struct krx_master *m, struct krx_slot *ks, int chan,
	    int keys) __attribute__((noreturn));
/* Give worker s a channel to its generation's keysvc: its end or -1. */
int	krx_keysvc_link(struct krx_master *m, struct krx_slot *s);
void	krx_keysvc_message(struct krx_master *m, struct krx_slot *ks,
	    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len);
/* No generation uses ks any more: stop it (SIGTERM), no respawn. */
void	krx_keysvc_retire(struct krx_master *m, struct krx_slot *ks);

/* control.c */
void	krx_control_open(struct krx_master *m);
/* The reload is over: tell the waiting krx-ctl (err: F_ERROR). */
void	krx_control_reload_done(struct krx_master *m, int err,
	    const char *text);
/* Answer a krx-ctl reload on bev (NULL: SIGHUP, nobody to tell). */
void	krx_control_reload_answer(struct bufferevent *bev, int err,
	    const char *text);
void	krx_control_close(struct krx_master *m);
/*
 * control_perm.c: 1 when the peer on bev may make request h (payload
 * p); 0 when refused (the refusal is sent and logged).
 */
int	krx_control_permit(struct krx_master *m, struct bufferevent *bev,
	    const struct krx_ipc_hdr *h, const struct krx_buf *p);
/* 1 when the peer on fd may change state (root, krxd's user, group). */
int	krx_control_peer_admin(struct krx_master *m, int fd);
/*
 * control_fanout.c: krx-ctl dek rotate and cache flush, asked of every
 * worker of the serving generation (and keysvc for a flush); the
 * reply goes to bev when all answered or one timed out.
 */
void	krx_control_fanout_start(struct krx_master *m, struct bufferevent *bev,
	    const struct krx_ipc_hdr *h, const struct krx_buf *p);
/* A worker's KRX_IPC_W_DEK_DROPPED: 0, -1 for a malformed one. */
int	krx_control_fanout_worker(struct krx_master *m, struct krx_slot *s,
	    uint32_t id, const uint8_t *p, size_t len);
/* keysvc's answer to a fanout's admin request: 1 when it was one. */
int	krx_control_fanout_keysvc(struct krx_master *m,
	    const struct krx_slot *ks, uint32_t id, uint16_t flags,
	    const uint8_t *p, size_t len);
/* keysvc ks went away (NULL: every one): its fanouts fail with why. */
void	krx_control_fanout_keysvc_fail(struct krx_master *m,
	    const struct krx_slot *ks, const char *why);
/* Whether a fanout waits to answer on bev. */
int	krx_control_fanout_busy(struct bufferevent *bev);
/* The ctl connection bev (NULL: every one) is gone: forget its fanouts. */
void	krx_control_fanout_forget(struct krx_master *m,
	    struct bufferevent *bev);
/* Answer a ctl request relayed to ks (id from krx_control_relay). */
void	krx_control_relay_done(struct krx_master *m,
	    const struct krx_slot *ks, uint32_t id, uint16_t flags,
	    const uint8_t *p, size_t len);
/* Key service ks went away (NULL: all): its waiting requests get why. */
void	krx_control_relay_fail(struct krx_master *m,
	    const struct krx_slot *ks, const char *why);

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
