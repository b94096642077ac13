/*
 * httpd.h: a worker's metrics listener (worker/httpd.c): read-only HTTP
 * on the socket the master bound for metrics.listen.
 */
#ifndef KRX_WORKER_HTTPD_H
#define KRX_WORKER_HTTPD_H

struct krx_worker;
struct krx_httpd;

/*
 * Serve GET /metrics, / (the status page) and /healthz on fd, the
 * generation's metrics socket (the worker's copy, taken over: closed by
 * krx_httpd_drain or krx_httpd_free, or at once when this fails). NULL,
 * logged, when it cannot: the worker carries on without it.
 */
struct krx_httpd *krx_httpd_new(struct krx_worker *w, int fd);
/*
 * Draining: stop accepting (the worker's copy of the socket is closed)
 * and answer what is open, each with Connection: close; when the last
 * one is gone, krx_worker_session_gone tells the worker.
 */
void	krx_httpd_drain(struct krx_httpd *h);
/* No connection open (NULL: none ever): a draining worker may exit. */
int	krx_httpd_idle(const struct krx_httpd *h);
/* Close every connection and the socket; NULL is a no-op. */
void	krx_httpd_free(struct krx_httpd *h);

#endif
