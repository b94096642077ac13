/*
 * keysvc.c: main loop of the key service. Loads the configuration,
 * becomes the keysvc user with no_new_privs (common/privdrop.c), turns
 * undumpable, opens every virtual cluster's KMS, then serves workers
 * over the channels the master hands it. Trusts the master, yet holds
 * it to a dispatch table (INIT first and once; a breach exits
 * KRX_EXIT_IPC); checks every byte a worker sends (dispatch.c).
 * Answers the master's liveness PING with PONG. After krx-ctl kek
 * rotate or delete it flushes the DEK cache (delete) and tells every
 * worker with KRX_IPC_KEY_FLUSH (issue 9, finding 10).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/dispatch.h"
#include "common/log.h"
#include "common/privdrop.h"
#include "common/shm/mstats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "crypto/dekcache.h"
#include "crypto/secret.h"
#include "keysvc/keysvc.h"
#include "keysvc/kms.h"

#define KEYSVC_MASTER_FD	KRX_IPC_KEYSVC_MASTER_FD
#define KEYSVC_CONF_MAX		(16 * 1024 * 1024)

static struct krx_keysvc	 keysvc;
static struct krx_dispatch_peer	 keysvc_master_peer;

static const char *const ks_stat_names[KRX_KS_N] = {
	"resolve_requests", "generate_requests", "decrypt_edeks",
	"kms_errors", "kms_not_found", "cache_writes", "violations",
	"cache_hits", "refused_over_caps", "invalid_requests",
};

const char *
krx_keysvc_stat_name(int i)
{
	return i >= 0 && i < KRX_KS_N ? ks_stat_names[i] : "?";
}

void
krx_keysvc_cache_put(struct krx_keysvc *ks, const struct krx_kms *k,
    const uint8_t *edek, size_t edek_len, const uint8_t *dek, int64_t ttl)
{
	uint8_t	 key[32];
	int	 r;

	if (ks->cache == NULL)
		return;
	if ((r = krx_dekcache_key(k->id, edek, edek_len, key)) == KRX_OK)
		r = krx_dekcache_put(ks->cache, ks->cache_key->data, key, dek,
		    (int64_t)time(NULL) + ttl);
	if (r != KRX_OK)
		log_warnx("cannot write the DEK cache: %s", krx_strerror(r));
	else
		ks->stats[KRX_KS_CACHE_WRITES]++;
}

int
krx_keysvc_cache_get(struct krx_keysvc *ks, const struct krx_kms *k,
    const uint8_t *edek, size_t edek_len, uint8_t *dek)
{
	uint8_t	 key[32];

	if (ks->cache == NULL ||
	    krx_dekcache_key(k->id, edek, edek_len, key) != KRX_OK)
		return -1;
	return krx_dekcache_get(ks->cache, ks->cache_key->data, key,
	    (int64_t)time(NULL), dek) == KRX_OK ? 0 : -1;
}

/*
 * The cache holds no KEK name (its key is a hash of the EDEK), so a
 * delete drops every entry: a cache, refilled from the KMS on demand.
 * keysvc keeps no other DEK or alias in memory. Every worker is told.
 */
void
krx_keysvc_flush(struct krx_keysvc *ks, uint32_t vc, uint32_t op,
    const char *kek)
{
	struct krx_buf	 b;
	size_t		 i, len = strlen(kek);
	int		 r;

	if (op == KRX_KEY_FLUSH_DELETE && ks->cache != NULL &&
	    (r = krx_dekcache_clear(ks->cache)) != KRX_OK)
		log_warnx("cannot empty the DEK cache: %s", krx_strerror(r));
	krx_buf_init(&b, 12 + len);
	krx_buf_put_be32(&b, vc);
	krx_buf_put_be32(&b, op);
	krx_buf_put_be32(&b, (uint32_t)len);
	krx_buf_put(&b, kek, len);
	for (i = 0; i < KRX_MAX_ROWS && b.err == KRX_OK; i++)
		if (ks->workers[i] != NULL)
			krx_chan_send(ks->workers[i], KRX_IPC_KEY_FLUSH, 0, 0,
			    b.data, b.len, -1);
	if (b.err != KRX_OK)
		log_warnx("cannot tell the workers to flush KEK %s", kek);
	krx_buf_free(&b);
}

static void
keysvc_worker_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd, void *arg)
{
	int	 slot = (int)(intptr_t)arg;

	if (fd != -1)		/* krx_chan refuses it: never here */
		close(fd);
	else if (krx_keysvc_dispatch(&keysvc, slot, h, p, len) == 0)
		return;
	keysvc.stats[KRX_KS_VIOLATIONS]++;
	log_err("worker %d broke the key protocol (message %u, %zu bytes); "
	    "closing its channel", slot, h->type, len);
	krx_chan_free(c);
	keysvc.workers[slot] = NULL;
	slot = (int)htonl((uint32_t)slot);
	krx_chan_send(keysvc.master, KRX_IPC_KS_VIOLATION, 0, 0, &slot,
	    sizeof(slot), -1);
}

static void
keysvc_worker_eof(struct krx_chan *c, int err, void *arg)
{
	int	 slot = (int)(intptr_t)arg;

	log_debug("channel of worker %d closed", slot);
	if (keysvc.workers[slot] == c)
		keysvc.workers[slot] = NULL;
	krx_chan_free(c);
}

static int
keysvc_init(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	int	 r;

	if ((keysvc.cache_key = krx_secret_new_copy(p, len)) == NULL)
		fatalx("out of memory for the cache key");
	r = krx_dekcache_open(keysvc.conf->cache_path,
	    (size_t)keysvc.conf->cache_max_bytes, 1, &keysvc.cache);
	if (r != KRX_OK) {
		log_warnx("DEK cache %s unusable (%s): workers will ask "
		    "keysvc for every DEK", keysvc.conf->cache_path,
		    krx_strerror(r));
		keysvc.cache = NULL;
	}
	keysvc.ready = 1;
	krx_chan_send(keysvc.master, KRX_IPC_READY, 0, 0, NULL, 0, -1);
	log_info("ready");
	return 0;
}

static int
keysvc_channel(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	uint32_t	 slot;

	memcpy(&slot, p, 4);
	slot = ntohl(slot);
	if (slot >= KRX_MAX_ROWS) {
		close(fd);
		return -1;
	}
	if (keysvc.workers[slot] != NULL)
		krx_chan_free(keysvc.workers[slot]);
	keysvc.chan_gen[slot]++;
	keysvc.workers[slot] = krx_chan_new(keysvc.base, fd, KRX_IPC_MAX_KEYS,
	    0, keysvc_worker_msg, keysvc_worker_eof, (void *)(intptr_t)slot);
	log_debug("serving worker %u", slot);
	return 0;
}

static int
keysvc_admin(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	krx_keysvc_admin(&keysvc, h->id, p, len);
	return 0;
}

static int
keysvc_ping(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	krx_chan_send(keysvc.master, KRX_IPC_KS_PONG, h->id, 0, NULL, 0, -1);
	return 0;
}

/*
 * What keysvc accepts from the master (proto/ipc.h): INIT first and
 * once, the rest after it.
 */
static const struct krx_dispatch_row keysvc_master_rows[] = {
	{ KRX_IPC_KS_INIT, KRX_DISPATCH_S_START, KRX_DEKCACHE_SEAL_LEN,
	    KRX_DEKCACHE_SEAL_LEN, KRX_DISPATCH_FD_NONE, 1,
	    KRX_DISPATCH_S_READY, keysvc_init },
	{ KRX_IPC_KS_CHANNEL, KRX_DISPATCH_S_READY, 4, 4,
	    KRX_DISPATCH_FD_REQUIRED, 0, 0, keysvc_channel },
	{ KRX_IPC_KS_ADMIN, KRX_DISPATCH_S_READY, 0,
	    KRX_IPC_MAX_KEYS - KRX_IPC_HDR_LEN, KRX_DISPATCH_FD_NONE, 0, 0,
	    keysvc_admin },
	{ KRX_IPC_KS_PING, KRX_DISPATCH_S_READY, 0, 0, KRX_DISPATCH_FD_NONE,
	    0, 0, keysvc_ping },
};
static const struct krx_dispatch_table keysvc_master_table =
    KRX_DISPATCH_TABLE("master -> keysvc", keysvc_master_rows);

/* The master broke the contract: exit KRX_EXIT_IPC (respawned). */
static void
keysvc_master_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd, void *arg)
{
	int	 v;

	log_fatal_status(KRX_EXIT_IPC);
	v = krx_dispatch_run(&keysvc_master_table, &keysvc_master_peer,
	    NULL, h, p, len, fd);
	if (v != KRX_DISPATCH_OK)
		fatalx("bad message %u from master: %s", h->type,
		    krx_dispatch_strerror(v));
	log_fatal_status(KRX_EXIT_SOFTWARE);
}

static void
keysvc_master_eof(struct krx_chan *c, int err, void *arg)
{
	log_debug("master channel closed (%s); exiting", err ?
	    krx_strerror(err) : "eof");
	event_base_loopexit(keysvc.base, NULL);
}

static void
keysvc_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopexit(keysvc.base, NULL);
}

/* common/privdrop.c: keysvc_user, no_new_privs (issue 11). */
static void
keysvc_drop_privileges(const char *user)
{
	const char	*step = "?";
	int		 r;

	if ((r = krx_privdrop(user, &step)) == KRX_E_NOTFOUND)
		fatalx("keysvc_user %s does not exist", user);
	if (r != KRX_OK)
		fatal("cannot switch to user %s (%s)", user != NULL ? user :
		    "(none)", step);
}

/*
 * After the uid change (which resets the dumpable flag to
 * fs.suid_dumpable): no core file, no ptrace by our own uid (issue 9,
 * finding 11).
 */
static void
keysvc_harden(void)
{
	const char	*step = "?";

	if (krx_privdrop_undumpable(&step) != KRX_OK)
		fatal("%s", step);
}

/*
 * The configuration text the master wrote at KRX_IPC_KEYSVC_CONF_FD
 * (its generation's, as the master parsed it), at most
 * KEYSVC_CONF_MAX bytes; NUL-terminated.
 */
static char *
keysvc_read_conf(void)
{
	struct krx_buf	 b;
	ssize_t		 n;
	char		*text;

	krx_buf_init(&b, 4096);
	for (;;) {
		if (krx_buf_reserve(&b, 4096) != KRX_OK)
			fatalx("out of memory for the configuration");
		n = read(KRX_IPC_KEYSVC_CONF_FD, b.data + b.len, 4096);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatal("reading the configuration from the master");
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > KEYSVC_CONF_MAX)
			fatalx("configuration over %d bytes", KEYSVC_CONF_MAX);
	}
	close(KRX_IPC_KEYSVC_CONF_FD);
	text = xmalloc(b.len + 1);
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	krx_buf_free(&b);
	return text;
}

/* The metrics row at KRX_IPC_KEYSVC_STATS_FD, when the master gave one. */
static void
keysvc_map_metrics(void)
{
	struct stat	 st;

	if (fstat(KRX_IPC_KEYSVC_STATS_FD, &st) == -1)
		return;
	if ((size_t)st.st_size >= sizeof(struct krx_kmrow) &&
	    (krx_kms_mrow = krx_kmrow_map(KRX_IPC_KEYSVC_STATS_FD)) == NULL)
		log_warn("keysvc metrics");
	close(KRX_IPC_KEYSVC_STATS_FD);
}

static void
keysvc_load(const char *path)
{
	struct krx_conf_errors	 errs;
	size_t			 i;
	char			*text = keysvc_read_conf();

	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load_string(text, path, &keysvc.conf, &errs) != KRX_OK) {
		for (i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		krx_conf_errors_free(&errs);
		exit(KRX_EXIT_CONFIG);
	}
	free(text);
	krx_conf_errors_free(&errs);
	log_setlevel(keysvc.conf->log_level);
}

static void
keysvc_open_kms(void)
{
	const struct krx_conf_vcluster	*vc;
	const char			*why;
	size_t				 i;

	keysvc.kms = xcalloc(keysvc.conf->n_vclusters, sizeof(*keysvc.kms));
	for (i = 0; i < keysvc.conf->n_vclusters; i++) {
		vc = &keysvc.conf->vclusters[i];
		if (!vc->enc.enabled)
			continue;
		keysvc.kms[i] = krx_kms_open(keysvc.base, vc->name, &vc->enc,
		    &why);
		if (keysvc.kms[i] == NULL) {
			log_err("virtual cluster %s: %s %s", vc->name,
			    vc->enc.kms, why);
			exit(KRX_EXIT_CONFIG);
		}
	}
}

static void
keysvc_free(void)
{
	size_t	 i;

	for (i = 0; i < KRX_MAX_ROWS; i++)
		krx_chan_free(keysvc.workers[i]);
	krx_chan_free(keysvc.master);
	for (i = 0; i < keysvc.conf->n_vclusters; i++)
		krx_kms_close(keysvc.kms[i]);
	krx_keysvc_admin_free();	/* no KMS left to answer them */
	free(keysvc.kms);
	krx_dekcache_close(keysvc.cache);
	krx_secret_free(keysvc.cache_key);
	event_base_free(keysvc.base);
	krx_conf_free(keysvc.conf);
}

void
krx_keysvc_main(const char *conf_path, int foreground)
{
	struct event	*sigterm;

	log_procname("keysvc");
	log_init(foreground, KRX_LOG_INFO);
	log_fatal_status(KRX_EXIT_SOFTWARE);
	keysvc_harden();	/* before the configuration is read... */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);	/* the master stops us */
	keysvc_load(conf_path);
	keysvc_map_metrics();
	keysvc_drop_privileges(keysvc.conf->keysvc_user);
	keysvc_harden();	/* ...and again: setresuid reset it */
	if ((keysvc.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	keysvc_open_kms();
	sigterm = evsignal_new(keysvc.base, SIGTERM, keysvc_signal, NULL);
	evsignal_add(sigterm, NULL);
	krx_dispatch_peer_init(&keysvc_master_peer);
	keysvc.master = krx_chan_new(keysvc.base, KEYSVC_MASTER_FD,
	    KRX_IPC_MAX_KEYS, KRX_CHAN_FD_IN, keysvc_master_msg,
	    keysvc_master_eof, NULL);
	event_base_dispatch(keysvc.base);
	event_free(sigterm);
	keysvc_free();
	exit(0);
}
