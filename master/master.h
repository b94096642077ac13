/*
 * master.h: the master process: configuration, listeners, the slot table
 * of children, signals and the control socket. Program grade; runs as
 * root under systemd (binds, forks, supervises), never touches records
 * or keys.
 */
#ifndef KRX_MASTER_MASTER_H
#define KRX_MASTER_MASTER_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "proto/ipc.h"

struct event_base;
struct event;
struct bufferevent;
struct evconnlistener;
struct krx_conf;
struct krx_nodemap;

#define KRX_MAX_WORKERS		256
#define KRX_CRASH_WINDOW	60	/* seconds */
#define KRX_CRASH_LIMIT		5	/* crashes per window: give up */
#define KRX_EXIT_CONFIG		78
#define KRX_EXIT_IPC		76
#define KRX_EXIT_SOFTWARE	70

/* One listening socket, opened by the master, inherited by workers. */
struct krx_listener {
	int	 fd;
	size_t	 vc;		/* index into conf->vclusters */
	int	 node_id;	/* -1: bootstrap */
	int	 port;
};

struct krx_slot {
	struct krx_master	*master;
	int			 slot;
	pid_t			 pid;
	enum krx_child_state	 state;
	struct bufferevent	*chan;		/* master end of the channel */
	struct event		*respawn_ev;
	unsigned		 restarts;
	time_t			 crash_times[KRX_CRASH_LIMIT];
	unsigned		 n_crashes;	/* ring index */
	struct timespec		 spawned;
};

struct krx_master {
	struct event_base	*base;
	struct krx_conf		*conf;
	int			 foreground;
	struct krx_listener	*listeners;
	size_t			 n_listeners;
	struct krx_nodemap	*nodemap;
	struct krx_slot		 slots[KRX_MAX_WORKERS];
	int			 n_workers;
	uint32_t		 generation;
	time_t			 started;
	int			 stopping;	/* 1 fast, 2 graceful */
	int			 exit_status;
	int			 notified_ready;
	struct evconnlistener	*ctl_listener;
	int			 sig_fd;
	struct event		*sig_ev;
	struct event		*stop_timer;
};

/* master.c */
int	krx_master_run(struct krx_master *m);
void	krx_master_stop(struct krx_master *m, int graceful);
void	krx_master_child_ready(struct krx_master *m, struct krx_slot *s);

/* sockets.c: bind every listener of conf; fatal on failure (pre-READY) */
void	krx_sockets_open(struct krx_master *m);
void	krx_sockets_close(struct krx_master *m);

/* spawn.c */
void	krx_spawn_all(struct krx_master *m);
void	krx_spawn_reap(struct krx_master *m);
void	krx_spawn_signal_all(struct krx_master *m, int sig);
void	krx_spawn_send_all(struct krx_master *m, uint32_t type);
int	krx_spawn_alive(const struct krx_master *m);
void	krx_spawn_free(struct krx_master *m);

/* control.c */
void	krx_control_open(struct krx_master *m);
void	krx_control_close(struct krx_master *m);

/* notify.c: sd_notify without libsystemd; no-op without NOTIFY_SOCKET */
void	krx_notify(const char *state);

#endif
