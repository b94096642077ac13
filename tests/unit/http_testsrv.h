/*
 * http_testsrv.h: the loopback servers of http_test.c, each run in a
 * thread of the test process: a plain HTTP/1.1 server (poll, keep-alive,
 * a scripted status per request, a delay, silence, oversize bodies with
 * or without Content-Length; it counts connections and requests, and how
 * many requests it holds unanswered at once) and a TLS server answering
 * one request per connection with a self-signed P-256 certificate made
 * here, whose only subject alternative name is IP:127.0.0.1.
 */
#ifndef KRX_TESTS_HTTP_TESTSRV_H
#define KRX_TESTS_HTTP_TESTSRV_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SRV_CONNS	16
#define SRV_IN		65536
#define SRV_SCRIPT	8

struct srv_conn {
	int		 fd;
	char		 in[SRV_IN];
	size_t		 inlen;
	size_t		 reqlen;	/* of the pending request */
	int		 pending;	/* a request awaits its answer */
	int		 index;		/* its number, from 0 */
	uint64_t	 due;		/* ms: when to answer it */
	char		*out;
	size_t		 outlen, outoff;
	int		 close_after;
};

struct srv {
	int		 lfd, port;
	pthread_t	 th;
	atomic_int	 stop;
	pthread_mutex_t	 mu;
	/* The script, set before srv_start. */
	int		 status[SRV_SCRIPT];	/* per request; then the last */
	int		 nstatus;
	int		 delay_ms;
	int		 never;		/* never answer */
	size_t		 body_size;	/* 0: "hello" */
	int		 no_length;	/* body until close */
	/* What it saw (under mu). */
	int		 conns, requests, active, max_active;
	char		 last[8192];
	uint64_t	 at[SRV_SCRIPT];	/* ms, per request */
	struct srv_conn	 c[SRV_CONNS];
};

static struct srv	 S;

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Bytes of the complete request at the start of in, or 0. */
static size_t
srv_complete(const char *in, size_t len)
{
	const char	*end, *p, *eol;
	size_t		 hlen, cl = 0;

	if ((end = memmem(in, len, "\r\n\r\n", 4)) == NULL)
		return 0;
	hlen = (size_t)(end - in) + 4;
	for (p = in; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			cl = strtoul(p + 15, NULL, 10);
	}
	return len >= hlen + cl ? hlen + cl : 0;
}

static void
srv_close(struct srv_conn *c)
{
	if (c->pending)
		S.active--;
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void
srv_answer(struct srv_conn *c)
{
	size_t	 blen = S.body_size != 0 ? S.body_size : 5, n;
	int	 st, i;

	i = c->index < S.nstatus ? c->index : S.nstatus - 1;
	st = S.nstatus > 0 ? S.status[i] : 200;
	c->out = malloc(256 + blen);
	n = (size_t)snprintf(c->out, 256, "HTTP/1.1 %d Scripted\r\n"
	    "X-Reply:  yes \r\n", st);
	if (S.no_length) {
		n += (size_t)snprintf(c->out + n, 256 - n,
		    "Connection: close\r\n\r\n");
		c->close_after = 1;
	} else
		n += (size_t)snprintf(c->out + n, 256 - n,
		    "Content-Length: %zu\r\n\r\n", blen);
	if (S.body_size != 0)
		memset(c->out + n, 'x', blen);
	else
		memcpy(c->out + n, "hello", 5);
	c->outlen = n + blen;
	c->outoff = 0;
}

static void
srv_read(struct srv_conn *c)
{
	ssize_t	 n;
	size_t	 len;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		srv_close(c);
		return;
	}
	if (n > 0)
		c->inlen += (size_t)n;
	if (c->pending || (len = srv_complete(c->in, c->inlen)) == 0)
		return;
	c->pending = 1;
	c->reqlen = len;
	c->index = S.requests++;
	if (c->index < SRV_SCRIPT)
		S.at[c->index] = now_ms();
	snprintf(S.last, sizeof(S.last), "%.*s", (int)len, c->in);
	if (++S.active > S.max_active)
		S.max_active = S.active;
	c->due = now_ms() + (uint64_t)S.delay_ms;
}

static void
srv_write(struct srv_conn *c)
{
	ssize_t	 n;

	n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		srv_close(c);
		return;
	}
	if (n > 0)
		c->outoff += (size_t)n;
	if (c->outoff < c->outlen)
		return;
	free(c->out);
	c->out = NULL;
	c->pending = 0;
	S.active--;
	memmove(c->in, c->in + c->reqlen, c->inlen - c->reqlen);
	c->inlen -= c->reqlen;
	if (c->close_after)
		srv_close(c);
}

static void
srv_accept(void)
{
	int	 fd, i;

	if ((fd = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK)) == -1)
		return;
	for (i = 0; i < SRV_CONNS && S.c[i].fd != -1; i++)
		;
	if (i == SRV_CONNS) {
		close(fd);
		return;
	}
	S.c[i].fd = fd;
	S.conns++;
}

static void *
srv_main(void *arg)
{
	struct pollfd	 p[SRV_CONNS + 1];
	int		 i;

	while (!atomic_load(&S.stop)) {
		p[0].fd = S.lfd;
		p[0].events = POLLIN;
		for (i = 0; i < SRV_CONNS; i++) {
			p[i + 1].fd = S.c[i].fd;
			p[i + 1].events = POLLIN |
			    (S.c[i].out != NULL ? POLLOUT : 0);
			p[i + 1].revents = 0;
		}
		if (poll(p, SRV_CONNS + 1, 5) == -1)
			continue;
		pthread_mutex_lock(&S.mu);
		if (p[0].revents & POLLIN)
			srv_accept();
		for (i = 0; i < SRV_CONNS; i++) {
			struct srv_conn	*c = &S.c[i];

			if (c->fd == -1)
				continue;
			if (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				srv_read(c);
			if (c->fd != -1 && c->pending && c->out == NULL &&
			    !S.never && now_ms() >= c->due)
				srv_answer(c);
			if (c->fd != -1 && c->out != NULL)
				srv_write(c);
		}
		pthread_mutex_unlock(&S.mu);
	}
	return NULL;
}

static int
listen_loopback(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_neq(fd, -1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void
srv_start(void)
{
	int	 i;

	for (i = 0; i < SRV_CONNS; i++)
		S.c[i].fd = -1;
	S.lfd = listen_loopback(&S.port);
	pthread_mutex_init(&S.mu, NULL);
	cr_assert_eq(pthread_create(&S.th, NULL, srv_main, NULL), 0);
}

static void
srv_stop(void)
{
	int	 i;

	atomic_store(&S.stop, 1);
	pthread_join(S.th, NULL);
	for (i = 0; i < SRV_CONNS; i++)
		if (S.c[i].fd != -1)
			srv_close(&S.c[i]);
	close(S.lfd);
}

struct srv_seen {
	int	 conns, requests, max_active;
	char	 last[8192];
	uint64_t at[SRV_SCRIPT];
};

/* A consistent copy of what the server saw. */
static struct srv_seen
seen(void)
{
	struct srv_seen	 s;

	pthread_mutex_lock(&S.mu);
	s.conns = S.conns;
	s.requests = S.requests;
	s.max_active = S.max_active;
	memcpy(s.last, S.last, sizeof(s.last));
	memcpy(s.at, S.at, sizeof(s.at));
	pthread_mutex_unlock(&S.mu);
	return s;
}

/* ---- the TLS server ---- */

static EVP_PKEY		*tls_key;
static X509		*tls_cert;
static SSL_CTX		*tls_sctx;

/* A self-signed P-256 certificate for IP:127.0.0.1 (no DNS name). */
static void
tls_make_cert(void)
{
	X509_NAME	*n;
	X509_EXTENSION	*ext;
	X509V3_CTX	 v3;

	cr_assert_not_null(tls_key = EVP_EC_gen("P-256"));
	cr_assert_not_null(tls_cert = X509_new());
	X509_set_version(tls_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(tls_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(tls_cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(tls_cert), 3600);
	X509_set_pubkey(tls_cert, tls_key);
	n = X509_get_subject_name(tls_cert);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"krx test", -1, -1, 0);
	X509_set_issuer_name(tls_cert, n);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, tls_cert, tls_cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "IP:127.0.0.1");
	cr_assert_not_null(ext);
	X509_add_ext(tls_cert, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    "critical,CA:TRUE");
	X509_add_ext(tls_cert, ext, -1);
	X509_EXTENSION_free(ext);
	cr_assert_gt(X509_sign(tls_cert, tls_key, EVP_sha256()), 0);
	cr_assert_not_null(tls_sctx = SSL_CTX_new(TLS_server_method()));
	cr_assert_eq(SSL_CTX_use_certificate(tls_sctx, tls_cert), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(tls_sctx, tls_key), 1);
}

/* One TLS connection: handshake, read a request, answer, close. */
static void
tls_serve(int fd)
{
	static const char	 ans[] = "HTTP/1.1 200 OK\r\nContent-Length: 6"
	    "\r\nConnection: close\r\n\r\ntls ok";
	char			 buf[4096];
	size_t			 len = 0;
	SSL			*ssl = SSL_new(tls_sctx);
	struct timeval		 tv = { 2, 0 };
	int			 n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		while (memmem(buf, len, "\r\n\r\n", 4) == NULL &&
		    (n = SSL_read(ssl, buf + len, sizeof(buf) - len)) > 0)
			len += (size_t)n;
		SSL_write(ssl, ans, sizeof(ans) - 1);
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
}

static void *
tls_main(void *arg)
{
	struct pollfd	 p = { .fd = S.lfd, .events = POLLIN };
	int		 fd;

	while (!atomic_load(&S.stop))
		if (poll(&p, 1, 5) == 1 &&
		    (fd = accept(S.lfd, NULL, NULL)) != -1)
			tls_serve(fd);
	return NULL;
}

static void
tls_start(void)
{
	tls_make_cert();
	S.lfd = listen_loopback(&S.port);
	cr_assert_eq(pthread_create(&S.th, NULL, tls_main, NULL), 0);
}

static void
tls_stop(void)
{
	atomic_store(&S.stop, 1);
	pthread_join(S.th, NULL);
	close(S.lfd);
	SSL_CTX_free(tls_sctx);
	X509_free(tls_cert);
	EVP_PKEY_free(tls_key);
}

#endif
