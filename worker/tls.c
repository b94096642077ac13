/*
 * tls.c: TLS bufferevents of sessions (tls.h has the contract).
 */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/cycle.h"
#include "conf/conf.h"
#include "crypto/tlsctx.h"
#include "worker/session.h"
#include "worker/tls.h"

struct bufferevent *
krx_tls_client_bev(struct krx_worker *w, size_t vc, int fd)
{
	SSL_CTX			*ctx = w->cy->tls != NULL ?
	    w->cy->tls[vc].server : NULL;
	struct bufferevent	*bev;
	SSL			*ssl;

	if (ctx == NULL)
		return bufferevent_socket_new(w->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(w->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Many clients close without close_notify: that is an EOF. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *
krx_tls_upstream_bev(struct krx_worker *w, size_t vc)
{
	SSL_CTX			*ctx = w->cy->tls != NULL ?
	    w->cy->tls[vc].client : NULL;
	struct bufferevent	*bev;
	SSL			*ssl;

	if (ctx == NULL)
		return bufferevent_socket_new(w->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(w->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int
krx_tls_upstream_host(struct krx_worker *w, size_t vc,
    struct bufferevent *bev, const char *host)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL)
		return 0;
	return krx_tlsctx_set_host(ssl, host, w->cy->tls[vc].verify_host);
}

int
krx_tls_silent(struct bufferevent *bev)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && BIO_number_read(SSL_get_rbio(ssl)) == 0;
}

int
krx_tls_is(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

const char *
krx_tls_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long	 e;
	const char	*r;
	long		 v;
	size_t		 n = 0;

	if (ssl == NULL)
		return NULL;
	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0 && n + 2 < len) {
		/* libevent also queues errno values here: not OpenSSL's. */
		if ((r = ERR_reason_error_string(e)) == NULL)
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "; " : "",
		    r);
	}
	v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK && n + 2 < len)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ": " : "",
		    X509_verify_cert_error_string(v));
	return n > 0 ? buf : "TLS failure";
}

/* 0..max when name is prefix, a node id, suffix (any case), else -1. */
static int
tls_sni_id(const char *name, const char *prefix, const char *suffix,
    int max)
{
	size_t	 n = strlen(name), p = strlen(prefix), x = strlen(suffix);
	size_t	 d, i;
	long	 id = 0;

	if (n <= p + x || strncasecmp(name, prefix, p) != 0 ||
	    strcasecmp(name + n - x, suffix) != 0)
		return -1;
	d = n - p - x;
	if (d > 4 || (d > 1 && name[p] == '0'))
		return -1;
	for (i = p; i < p + d; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		id = id * 10 + (name[i] - '0');
	}
	return id <= max ? (int)id : -1;
}

int
krx_tls_sni_node(struct bufferevent *bev, const struct krx_conf_vcluster *vc,
    int32_t *node, const char **name)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);
	int	 id;

	*name = ssl != NULL ? SSL_get_servername(ssl,
	    TLSEXT_NAMETYPE_host_name) : NULL;
	if (*name == NULL)
		return -1;
	if (strcasecmp(*name, vc->sni_bootstrap) == 0) {
		*node = -1;
		return 0;
	}
	if ((id = tls_sni_id(*name, vc->sni_prefix, vc->sni_suffix,
	    vc->max_node_id)) < 0)
		return -1;
	*node = id;
	return 0;
}
