/*
 * http.h: the HTTP client of the KMS providers (Vault, AWS KMS, Azure Key
 * Vault), on keysvc's libevent loop through libcurl's multi interface:
 * nothing here ever blocks. Program grade; runs in keysvc only. Trusts
 * its caller; trusts nothing the server sends (sizes are bounded, the
 * body is handed over as bytes).
 *
 * One struct krx_http per provider instance (one TLS configuration): it
 * owns one curl multi handle, so connections to a KMS are reused. HTTP/1.1
 * only. Requests beyond max_active wait in a FIFO queue; a request that
 * would take the number of admitted requests (running, queued or waiting
 * to retry) over max_active + max_queue is refused at once. Each request
 * makes up to `attempts` attempts, the later ones after a jittered
 * exponential backoff (Kroxylicious' ExponentialJitterBackoffStrategy:
 * 500 ms, doubling, jitter within +-(backoff - previous backoff), capped
 * at 5 s); the caller's classifier decides which answers are retried, so
 * that a not-found answer never is.
 *
 * Secrets: the copies this module makes of headers, bodies and SigV4
 * keys, and the response body and headers, are wiped (OPENSSL_cleanse)
 * when the request ends or is cancelled. libcurl's own internal copies
 * (the request it formats, its copy of the SigV4 username and password)
 * are freed by libcurl without being wiped. Nothing here logs a URL,
 * header, body or key; `why` texts come from libcurl's error buffer
 * (host names, certificate problems), never from request content.
 *
 * Re-entrancy: callbacks (krx_http_cb, krx_http_classify_fn) are called
 * from the event loop, never from within krx_http_request, and may call
 * krx_http_request, krx_http_cancel and krx_http_free. The TLS hook is
 * called from within libcurl and must not call this module.
 */
#ifndef KRX_KEYSVC_HTTP_H
#define KRX_KEYSVC_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "common/limits.h"

struct event_base;
struct krx_http;
struct krx_http_call;

#define KRX_HTTP_MAX_ACTIVE	16
#define KRX_HTTP_MAX_QUEUE	256
#define KRX_HTTP_TIMEOUT_MS	20000
#define KRX_HTTP_MAX_BODY	(1024 * 1024)
#define KRX_HTTP_ATTEMPTS	3
#define KRX_HTTP_BACKOFF_MS	500
#define KRX_HTTP_BACKOFF_MAX_MS	5000
#define KRX_HTTP_DEADLINE_MS	KRX_KMS_DEADLINE_MS	/* common/limits.h */
/* Response header bytes kept (all header lines of the final answer). */
#define KRX_HTTP_MAX_HEADERS	16384
/* Request header lines accepted, besides those this module adds. */
#define KRX_HTTP_MAX_REQ_HEADERS 32

enum krx_http_method {
	KRX_HTTP_GET = 0,
	KRX_HTTP_POST = 1,
	KRX_HTTP_PUT = 2
};

/* Why a transfer brought no (complete) HTTP answer. */
enum krx_http_error {
	KRX_HTTP_OK = 0,		/* an answer, whatever its status */
	KRX_HTTP_E_TIMEOUT = 1,		/* connect or total timeout */
	KRX_HTTP_E_CONNECT = 2,		/* name resolution or TCP connect */
	KRX_HTTP_E_TLS = 3,		/* handshake, certificate, host name */
	KRX_HTTP_E_TOO_LARGE = 4,	/* body or headers over the bound */
	KRX_HTTP_E_OTHER = 5		/* reset, malformed answer, ... */
};

enum krx_http_verdict {
	KRX_HTTP_DONE = 0,		/* hand this answer to the callback */
	KRX_HTTP_RETRY = 1		/* try again after the backoff */
};

/*
 * The outcome of an attempt. status is the HTTP status, 0 when error is
 * not KRX_HTTP_OK. why is "" on an answer, else a short text safe for
 * logs. body is NUL-terminated (body[body_len] == 0, body never NULL)
 * and, like the whole struct, valid only during the callback: it is
 * wiped afterwards. attempt counts from 1.
 */
struct krx_http_resp {
	long			 status;
	enum krx_http_error	 error;
	const char		*why;
	const uint8_t		*body;
	size_t			 body_len;
	int			 attempt;
	const char		*headers;	/* raw lines; use _header() */
	size_t			 headers_len;
};

/* The final outcome of a request (not called once cancelled). */
typedef void (*krx_http_cb)(void *arg, const struct krx_http_resp *r);
/*
 * Asked after an attempt while attempts remain (so never after the
 * last); arg is the request's callback argument.
 */
typedef enum krx_http_verdict (*krx_http_classify_fn)(void *arg,
    const struct krx_http_resp *r);
/*
 * Called by libcurl for every new TLS connection with the connection's
 * SSL_CTX (before the handshake) to install trust stores, client keys,
 * protocol limits. Returns 0, or -1 to fail that attempt (TLS class).
 */
typedef int (*krx_http_tls_fn)(void *arg, SSL_CTX *ctx);

/* Every field 0 (or NULL) means its default, named after it. */
struct krx_http_opts {
	int		 max_active;	/* KRX_HTTP_MAX_ACTIVE */
	int		 max_queue;	/* KRX_HTTP_MAX_QUEUE */
	long		 connect_timeout_ms;	/* KRX_HTTP_TIMEOUT_MS */
	long		 timeout_ms;	/* KRX_HTTP_TIMEOUT_MS, per attempt */
	size_t		 max_body;	/* KRX_HTTP_MAX_BODY */
	int		 attempts;	/* KRX_HTTP_ATTEMPTS */
	long		 backoff_ms;	/* KRX_HTTP_BACKOFF_MS */
	long		 backoff_max_ms;	/* KRX_HTTP_BACKOFF_MAX_MS */
	/* A request's time in all, attempts and backoffs: no attempt
	 * starts or runs past it (each attempt's timeout is cut to what
	 * is left, at least 1 s). KRX_HTTP_DEADLINE_MS. */
	long		 deadline_ms;
	/* Tests only: no peer or host name verification (else both on). */
	int		 insecure;
	const char	*ca_file;	/* PEM bundle; NULL: system trust */
	krx_http_tls_fn	 tls_hook;	/* NULL: none */
	void		*tls_arg;
};

/*
 * AWS Signature Version 4 by libcurl (CURLOPT_AWS_SIGV4 with
 * "aws:amz:<region>:<service>"). A session token is sent as
 * X-Amz-Security-Token (signed along with the other headers).
 */
struct krx_http_sigv4 {
	const char	*region;	/* "eu-west-1" */
	const char	*service;	/* "kms" */
	const char	*access_key;
	const char	*secret_key;
	const char	*session_token;	/* NULL: long-term credentials */
};

/*
 * One request; everything is copied by krx_http_request. headers are
 * complete lines without CR or LF ("X-Vault-Token: s.abc"); "Expect:" is
 * added without SigV4 (no 100-continue round trip; with SigV4 libcurl
 * would sign a header it does not send). A POST or PUT sends body
 * (body_len bytes, possibly none). Redirects are followed only when
 * redirects > 0, at most that many times, and never from https to
 * http: a followed redirect carries the request's headers (tokens) to
 * its target, so enable it only where the KMS needs it (Vault).
 */
struct krx_http_req {
	enum krx_http_method		 method;
	const char			*url;
	const char *const		*headers;
	size_t				 nheaders;
	const void			*body;
	size_t				 body_len;
	const struct krx_http_sigv4	*sigv4;		/* NULL: none */
	int				 attempts;	/* 0: the client's */
	int				 redirects;
	/*
	 * NULL: retry transport errors other than TLS and too large, and
	 * HTTP 408, 429 and 5xx; everything else is final.
	 */
	krx_http_classify_fn		 classify;
};

struct krx_http_stats {
	uint64_t	 requests;	/* admitted */
	uint64_t	 refused;	/* queue full or invalid request */
	uint64_t	 attempts;
	uint64_t	 retries;
	uint64_t	 transport_errors;	/* attempts without an answer */
	size_t		 running;	/* now */
	size_t		 admitted;	/* now: running, queued, backing off */
};

/*
 * A client on base, o NULL for all defaults (o->ca_file is copied).
 * Returns NULL when libcurl cannot be set up (logged).
 */
struct krx_http	*krx_http_new(struct event_base *base,
		    const struct krx_http_opts *o);
/*
 * Cancel every request (no callback is called) and free. NULL is a
 * no-op. From within a callback, the rest happens when it returns.
 */
void		 krx_http_free(struct krx_http *h);

/*
 * Start (or queue) a request; cb(arg, ...) is called exactly once,
 * later, from the event loop, unless the request is cancelled first.
 * Returns its handle, valid until cb returns or krx_http_cancel; NULL
 * when refused, and cb is then never called: over max_active +
 * max_queue admitted requests, an invalid request (unknown method, no
 * URL, CR or LF in a header, too many headers, bad SigV4 fields; logged
 * without header values), or once krx_http_free has been called.
 */
struct krx_http_call *krx_http_request(struct krx_http *h,
		    const struct krx_http_req *r, krx_http_cb cb, void *arg);
/*
 * Cancel: cb is never called, the request's copies are wiped and freed.
 * A handle whose cb is running may be cancelled (no effect). NULL is a
 * no-op.
 */
void		 krx_http_cancel(struct krx_http_call *c);

/*
 * A response header of the final answer, looked up case-insensitively:
 * its value with surrounding blanks removed (*len bytes, not
 * NUL-terminated), or NULL when absent. Only during the callback.
 */
const char	*krx_http_resp_header(const struct krx_http_resp *r,
		    const char *name, size_t *len);

void		 krx_http_stats(const struct krx_http *h,
		    struct krx_http_stats *st);

/* A short constant name for an error class ("timeout", "tls", ...). */
const char	*krx_http_strerror(enum krx_http_error e);

#endif
