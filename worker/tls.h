/*
 * tls.h: TLS on a session's two sides, through bufferevent_openssl, with
 * the contexts the master built for the worker's generation
 * (struct krx_cycle_tls): the client side accepts, the upstream side
 * connects with SNI and, unless the upstream's trust is insecure, the
 * broker's name checked. Program grade; runs in workers.
 */
#ifndef KRX_WORKER_TLS_H
#define KRX_WORKER_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>

struct krx_worker;

/* A bufferevent for accepted fd (taken), TLS when vc has it; NULL: OOM. */
struct bufferevent *krx_tls_client_bev(struct krx_worker *w, size_t vc,
	    int fd);
/* An unconnected bufferevent towards vc's brokers; NULL: OOM. */
struct bufferevent *krx_tls_upstream_bev(struct krx_worker *w, size_t vc);
/* Before connecting bev to host: SNI and the name to check. 0 or -1. */
int	krx_tls_upstream_host(struct krx_worker *w, size_t vc,
	    struct bufferevent *bev, const char *host);
/* 1 when bev is TLS and its peer sent nothing (a TCP health check). */
int	krx_tls_silent(struct bufferevent *bev);
/* 1 when bev speaks TLS (its socket must not be read or written). */
int	krx_tls_is(struct bufferevent *bev);
/*
 * What went wrong on bev's TLS, for a log line: OpenSSL's reasons
 * ("certificate verify failed: unable to get local issuer certificate",
 * "tlsv13 alert certificate required"), or NULL when it was not TLS.
 */
const char *krx_tls_error(struct bufferevent *bev, char *buf, size_t len);

/*
 * SNI routing: the node that bev's TLS server name picks in vc: -1 for
 * its sni bootstrap name, N for its broker pattern with N (decimal, no
 * leading zero, at most max_node_id), any case. 0, or -1 when the name
 * is missing (*name NULL) or names neither.
 */
struct krx_conf_vcluster;
int	krx_tls_sni_node(struct bufferevent *bev,
	    const struct krx_conf_vcluster *vc, int32_t *node,
	    const char **name);

#endif
