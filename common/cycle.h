/*
 * cycle.h: a generation, after nginx's ngx_cycle_t: what one
 * configuration makes and every process of that generation shares —
 * the parsed configuration, the listening sockets, the shared memory
 * regions (node map, topic map, counters; common/shm/) and the DEK
 * cache key. The master makes and owns cycles (master/cycle.c); a
 * worker receives only its own cycle, after fork, and keysvc only what
 * its channel sends it. Program grade.
 */
#ifndef KRX_COMMON_CYCLE_H
#define KRX_COMMON_CYCLE_H

#include <stddef.h>
#include <stdint.h>

struct krx_conf;
struct krx_nodemap;
struct krx_topicmap;
struct krx_stats;
struct krx_mshm;
struct krx_secret;
struct ssl_ctx_st;		/* OpenSSL's SSL_CTX */

/* A virtual cluster's TLS contexts (NULL: plaintext on that side). */
struct krx_cycle_tls {
	struct ssl_ctx_st	*server;	/* clients to krx */
	struct ssl_ctx_st	*client;	/* krx to the brokers */
	int			 verify_host;	/* the brokers' names checked */
};

/* One listening socket, opened by the master, inherited by workers. */
struct krx_listener {
	int	 fd;
	size_t	 vc;		/* index into conf->vclusters */
	int	 node_id;	/* -1: bootstrap */
	int	 port;
};

struct krx_cycle {
	uint32_t		 generation;	/* 1, 2, ...: krx-ctl status */
	int			 row_base;	/* worker N's counters row and
						 * keysvc slot: row_base + N
						 * (0 or KRX_MAX_WORKERS) */
	struct krx_conf		*conf;
	struct krx_listener	*listeners;
	size_t			 n_listeners;
	int			 metrics_fd;	/* conf->metrics_listen's
						 * socket, -1: none */
	struct krx_nodemap	*nodemap;	/* master writes, workers read */
	struct krx_topicmap	*topicmap;	/* master writes, workers read */
	struct krx_stats	*stats;		/* a row per worker; the
						 * master's, shared by every
						 * generation */
	struct krx_mshm		*mshm;		/* metrics regions, the master's */
	struct krx_cycle_tls	*tls;		/* per virtual cluster, built
						 * by the master (it reads the
						 * key files) */
	struct krx_secret	*cache_key;	/* DEK cache seal: the master
						 * sends it to keysvc; a
						 * worker wipes its copy */
};

#endif
