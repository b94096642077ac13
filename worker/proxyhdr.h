/*
 * proxyhdr.h: the PROXY protocol header (v1 or v2, proto/proxyproto.h)
 * a load balancer sends before a client's bytes, on the listeners of a
 * virtual cluster with proxy_protocol = true. The header is read from
 * the accepted socket, exactly and no further, before any TLS or Kafka
 * byte; the session then starts with the client address it gives.
 * Program grade; runs in workers and trusts nothing it reads: at most
 * KRX_PROXYPROTO_MAX bytes, within handshake_timeout, at most
 * max_connections sockets waiting per worker.
 */
#ifndef KRX_WORKER_PROXYHDR_H
#define KRX_WORKER_PROXYHDR_H

#include <sys/socket.h>

struct krx_worker;
struct krx_listener;

/* fd (taken) was accepted on l: read its header, then accept it. */
void	krx_proxyhdr_start(struct krx_worker *w, const struct krx_listener *l,
	    int fd, const struct sockaddr *sa, int salen);
/* Close every socket still waiting for its header (the worker stops). */
void	krx_proxyhdr_free_all(struct krx_worker *w);

#endif
