/*
 * fuzz_keysvc.c: libFuzzer harness for keysvc's request dispatch
 * (keysvc/dispatch.c krx_keysvc_dispatch, with kms.c, kms_local.c and
 * the DEK cache writes of keysvc.c), the key service's side of the
 * privilege boundary: a compromised worker sends it anything.
 *
 * Setup, once: a keysvc (struct krx_keysvc) with a configuration of four
 * virtual clusters: 0 LocalKms over the fixed keystore of fuzz_edek.c
 * (a memfd, mode 0600), 1 without record encryption (INVALID), 2
 * LocalKms over a keystore file that does not exist and 3 over a path
 * that is a directory (both UNAVAILABLE); a writable LMDB DEK cache of
 * 64 KiB (so that it fills up); worker slot 0 connected through a
 * krx_chan over a socketpair, whose other end the harness reads.
 *
 * Input: a 16-byte IPC header (proto/ipc.h, host byte order; its type,
 * id and flags are used, the length and version are set as the channel
 * guarantees) and the payload. Besides "no crash, no leak" it checks:
 *   - dispatch accepts exactly the requests that decode (fz_valid: the
 *     request formats of proto/ipc.h, dispatch.c's framing bounds, a
 *     virtual cluster of the configuration; an EDEK's size is data,
 *     answered INVALID); a refused one gets no reply;
 *   - an accepted one gets exactly one reply, at once (LocalKms answers
 *     synchronously), of type KEY_REPLY with the request's id, which
 *     decodes to the end and answers what the keystore says: resolve
 *     gives the alias back for a KEK that exists; generate gives an EDEK
 *     under the current KEK version that decrypts to the DEK it sent;
 *     decrypt gives, per EDEK, the DEK krx_localkms_decrypt gives, or
 *     NOT_FOUND / INVALID (malformed or tampered) / UNAVAILABLE
 *     (unreadable keystore); stats gives KRX_KS_N counters;
 *   - every DEK handed out is in the DEK cache under the request's EDEK
 *     (unless the cache is full).
 * The per-worker token bucket is refilled before each input: the rate
 * cap is not what this harness tests.
 *
 * Seeds (tests/fuzz/corpus/keysvc, made by mkcorpus.py): each request
 * type for each virtual cluster, with known and unknown KEKs and the
 * EDEK seeds of fuzz_edek.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "crypto/dekcache.h"
#include "crypto/localkms.h"
#include "crypto/secret.h"
#include "keysvc/keysvc.h"
#include "keysvc/kms.h"
#include "proto/ipc.h"
#include "tests/fuzz/fuzz_common.h"

#define FZ_VCS		4
#define FZ_MAX_NAME	512	/* dispatch.c's bounds */
#define FZ_MAX_EDEK	4096
#define FZ_MAX_BATCH	64

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct krx_keysvc	 fz_ks;
static struct krx_keystore	*fz_keys;	/* vc 0's keys */
static int			 fz_peer = -1;	/* the worker's end */
static char			 fz_dir[256];

/* The scratch directory and all in it, at exit. */
static void
fz_cleanup(void)
{
	fz_rmtree(fz_dir);
}

static void
fz_chan_msg(struct krx_chan *c, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd, void *arg)
{
	abort();	/* the loop never runs */
}

static void
fz_chan_eof(struct krx_chan *c, int err, void *arg)
{
	abort();
}

static void
fz_conf(const char *keystore)
{
	struct krx_conf_errors	 errs;
	char			 text[4096];
	int			 n;

#define FZ_ENC(path) "  record_encryption = { kms = \"LocalKms\";\n" \
	"    kmsConfig = { keystore = \"" path "\"; };\n" \
	"    selector = \"TemplateKekSelector\";\n" \
	"    selectorConfig = { template = \"KEK-$(topicName)\"; }; };\n"
#define FZ_VC(name, port, enc) "{ name = \"" name "\"; bootstrap = " \
	"\"127.0.0.1:" port "\";\n  upstream = { bootstrap = " \
	"\"127.0.0.1:9092\"; };\n" enc "}"

	n = snprintf(text, sizeof(text), "virtual_clusters = (\n"
	    FZ_VC("local", "9100", FZ_ENC("%s")) ",\n"
	    FZ_VC("plain", "9200", "") ",\n"
	    FZ_VC("missing", "9300", FZ_ENC("%s/missing")) ",\n"
	    FZ_VC("broken", "9400", FZ_ENC("%s")) " );\n",
	    keystore, fz_dir, fz_dir);
	fz_check(n > 0 && (size_t)n < sizeof(text));
	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load_string(text, "fuzz.conf", &fz_ks.conf, &errs) !=
	    KRX_OK) {
		fprintf(stderr, "%s\n", errs.n ? errs.msg[0] : "?");
		abort();
	}
	krx_conf_errors_free(&errs);
	fz_check(fz_ks.conf->n_vclusters == FZ_VCS);
}

static void
fz_init(void)
{
	const char	*base = "/dev/shm", *why;
	char		 path[64], cache[300];
	uint8_t		 key[32];
	size_t		 i, n = sizeof(fz_keystore_text) - 1;
	int		 fd, sv[2];

	log_setlevel(0);	/* quiet: every KMS error logs a warning */
	if (access(base, W_OK) != 0 && (base = getenv("TMPDIR")) == NULL)
		base = "/tmp";
	snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_keysvc.XXXXXX", base);
	fz_check(mkdtemp(fz_dir) != NULL);
	atexit(fz_cleanup);
	fz_check((fd = memfd_create("fuzz_keysvc", MFD_CLOEXEC)) != -1 &&
	    fchmod(fd, 0600) == 0 &&
	    write(fd, fz_keystore_text, n) == (ssize_t)n);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fz_check(krx_keystore_load(path, &fz_keys, NULL) == KRX_OK);
	fz_conf(path);

	fz_check((fz_ks.base = event_base_new()) != NULL);
	fz_ks.kms = calloc(FZ_VCS, sizeof(*fz_ks.kms));
	fz_check(fz_ks.kms != NULL);
	for (i = 0; i < FZ_VCS; i++)
		if (fz_ks.conf->vclusters[i].enc.enabled)
			fz_check((fz_ks.kms[i] = krx_kms_open(fz_ks.base,
			    fz_ks.conf->vclusters[i].name,
			    &fz_ks.conf->vclusters[i].enc, &why)) != NULL);
	snprintf(cache, sizeof(cache), "%s/dekcache", fz_dir);
	fz_check(krx_dekcache_open(cache, KRX_DEKCACHE_MIN_BYTES, 1,
	    &fz_ks.cache) == KRX_OK);
	memset(key, 0x5c, sizeof(key));
	fz_check((fz_ks.cache_key = krx_secret_new_copy(key,
	    sizeof(key))) != NULL);
	fz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	fz_ks.workers[0] = krx_chan_new(fz_ks.base, sv[0], KRX_IPC_MAX_KEYS,
	    0, fz_chan_msg, fz_chan_eof, NULL);
	fz_peer = sv[1];
	fz_ks.ready = 1;
}

/* A u32 length-prefixed string of 1..max bytes. */
static int
fz_get_str(struct krx_cur *c, size_t max, const uint8_t **p, size_t *len)
{
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) != KRX_OK || n == 0 || n > max ||
	    krx_cur_get_ref(c, n, p) != KRX_OK)
		return -1;
	*len = n;
	return 0;
}

/*
 * Does the request decode (proto/ipc.h's formats with dispatch.c's
 * bounds)? *vc is its virtual cluster.
 */
static int
fz_valid(const struct krx_ipc_hdr *h, const uint8_t *p, size_t len,
    uint32_t *vc)
{
	struct krx_cur	 c;
	const uint8_t	*s;
	size_t		 n;
	uint32_t	 k, i, n32;

	if (h->flags & KRX_IPC_F_FD)
		return 0;
	krx_cur_init(&c, p, len);
	if (h->type == KRX_IPC_KEY_STATS)
		return len == 0;
	if (h->type != KRX_IPC_KEY_RESOLVE && h->type != KRX_IPC_KEY_GENERATE &&
	    h->type != KRX_IPC_KEY_DECRYPT)
		return 0;
	if (krx_cur_get_be32(&c, vc) != KRX_OK || *vc >= FZ_VCS)
		return 0;
	if (h->type != KRX_IPC_KEY_DECRYPT)
		return fz_get_str(&c, FZ_MAX_NAME, &s, &n) == 0 &&
		    krx_cur_end(&c) == KRX_OK;
	if (krx_cur_get_be32(&c, &k) != KRX_OK || k == 0 || k > FZ_MAX_BATCH)
		return 0;
	/* An EDEK's size is data (answered INVALID), not framing. */
	for (i = 0; i < k; i++)
		if (krx_cur_get_be32(&c, &n32) != KRX_OK ||
		    krx_cur_get_ref(&c, n32, &s) != KRX_OK)
			return 0;
	return krx_cur_end(&c) == KRX_OK;
}

/* The reply, read from the worker's end: its payload into *r. */
static int
fz_read_reply(struct krx_buf *r, struct krx_ipc_hdr *h)
{
	uint8_t	 buf[8192];
	ssize_t	 n;

	krx_buf_reset(r);
	while ((n = recv(fz_peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		krx_buf_put(r, buf, (size_t)n);
	fz_check(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
	if (r->len == 0)
		return 0;
	fz_check(krx_ipc_hdr_parse(r->data, r->len, KRX_IPC_MAX_KEYS, h) ==
	    KRX_OK && h->len == r->len);
	return 1;
}

/* Every DEK handed out is in the cache under its EDEK. */
static void
fz_cached(uint32_t vc, const uint8_t *edek, size_t len, const uint8_t *dek)
{
	uint8_t	 key[KRX_DEKCACHE_KEY_LEN], got[KRX_DEK_LEN];
	int	 r;

	fz_check(krx_dekcache_key(fz_ks.kms[vc]->id, edek, len, key) ==
	    KRX_OK);
	r = krx_dekcache_get(fz_ks.cache, fz_ks.cache_key->data, key,
	    time(NULL),
	    got);
	/* NOTFOUND: a later put emptied the full cache. */
	fz_check(r == KRX_E_NOTFOUND || (r == KRX_OK &&
	    memcmp(got, dek, KRX_DEK_LEN) == 0));
}

/* What vc's KMS answers for an EDEK, and its DEK. */
static enum krx_key_status
fz_expect(uint32_t vc, const uint8_t *edek, size_t len,
    uint8_t dek[KRX_DEK_LEN])
{
	int	 r;

	memset(dek, 0, KRX_DEK_LEN);
	if (len == 0 || len > FZ_MAX_EDEK || vc == 1)
		return KRX_KEY_INVALID;
	if (vc != 0)	/* keystore missing or unreadable */
		return KRX_KEY_UNAVAILABLE;
	r = krx_localkms_decrypt(fz_keys, edek, len, dek);
	if (r == KRX_OK)
		return KRX_KEY_OK;
	if (r == KRX_E_NOTFOUND)
		return KRX_KEY_NOT_FOUND;
	fz_check(r == KRX_E_MALFORMED || r == KRX_E_CRYPTO);
	return KRX_KEY_INVALID;
}

/* A u32 length-prefixed byte string of 0..max bytes. */
static void
fz_get_bytes(struct krx_cur *c, size_t max, const uint8_t **p, size_t *len)
{
	uint32_t	 n;

	fz_check(krx_cur_get_be32(c, &n) == KRX_OK && n <= max &&
	    krx_cur_get_ref(c, n, p) == KRX_OK);
	*len = n;
}

/* resolve and generate: u32 vc | str name. */
static void
fz_name_reply(uint32_t type, const uint8_t *req, size_t req_len,
    struct krx_cur *c)
{
	struct krx_cur	 q;
	const uint8_t	*name, *s, *d, *ename;
	size_t		 nlen, n, dlen, enlen;
	uint32_t	 vc, v, cur;
	uint8_t		 st, dek[KRX_DEK_LEN];
	int		 exists;

	krx_cur_init(&q, req, req_len);
	fz_check(krx_cur_get_be32(&q, &vc) == KRX_OK &&
	    fz_get_str(&q, FZ_MAX_NAME, &name, &nlen) == 0);
	exists = vc == 0 && krx_localkms_resolve(fz_keys,
	    (const char *)name, nlen) == KRX_OK;
	fz_check(krx_cur_get_u8(c, &st) == KRX_OK);
	fz_check(st == (vc == 1 ? KRX_KEY_INVALID : vc != 0 ?
	    KRX_KEY_UNAVAILABLE : exists ? KRX_KEY_OK : KRX_KEY_NOT_FOUND));
	fz_get_bytes(c, FZ_MAX_EDEK, &s, &n);
	if (type == KRX_IPC_KEY_RESOLVE) {
		fz_check(st == KRX_KEY_OK ? n == nlen &&
		    memcmp(s, name, n) == 0 : n == 0);
		return;
	}
	fz_get_bytes(c, KRX_DEK_LEN, &d, &dlen);
	if (st != KRX_KEY_OK) {
		fz_check(n == 0 && dlen == 0);
		return;
	}
	/* The EDEK is under the current version and holds the DEK. */
	cur = nlen == 5 ? 2 : 1;	/* KEK-a or KEK-orders */
	fz_check(dlen == KRX_DEK_LEN && krx_localkms_edek_parse(s, n, &ename,
	    &enlen, &v) == KRX_OK && enlen == nlen &&
	    memcmp(ename, name, nlen) == 0 && v == cur);
	fz_check(krx_localkms_decrypt(fz_keys, s, n, dek) == KRX_OK &&
	    memcmp(dek, d, KRX_DEK_LEN) == 0);
	fz_cached(vc, s, n, d);
}

/* decrypt: u32 vc | u32 n | n x str edek. */
static void
fz_decrypt_reply(const uint8_t *req, size_t req_len, struct krx_cur *c)
{
	struct krx_cur		 q;
	const uint8_t		*edek, *d;
	size_t			 len, dlen;
	uint32_t		 vc, n = 0, k, i;
	uint8_t			 st, dek[KRX_DEK_LEN];
	enum krx_key_status	 want;

	krx_cur_init(&q, req, req_len);
	fz_check(krx_cur_get_be32(&q, &vc) == KRX_OK &&
	    krx_cur_get_be32(&q, &n) == KRX_OK &&
	    krx_cur_get_be32(c, &k) == KRX_OK && k == n);
	for (i = 0; i < n; i++) {
		fz_get_bytes(&q, UINT32_MAX, &edek, &len);
		want = fz_expect(vc, edek, len, dek);
		fz_check(krx_cur_get_u8(c, &st) == KRX_OK && st == want);
		fz_get_bytes(c, KRX_DEK_LEN, &d, &dlen);
		if (st != KRX_KEY_OK) {
			fz_check(dlen == 0);
			continue;
		}
		fz_check(dlen == KRX_DEK_LEN &&
		    memcmp(d, dek, KRX_DEK_LEN) == 0);
		fz_cached(vc, edek, len, d);
	}
}

static void
fz_reply(const struct krx_ipc_hdr *h, const uint8_t *req, size_t req_len,
    struct krx_buf *r)
{
	struct krx_ipc_hdr	 rh;
	struct krx_cur		 c;
	uint64_t		 v;
	uint32_t		 n, i;

	fz_check(fz_read_reply(r, &rh));
	fz_check(rh.type == KRX_IPC_KEY_REPLY && rh.id == h->id &&
	    rh.flags == 0);
	krx_cur_init(&c, r->data + KRX_IPC_HDR_LEN,
	    r->len - KRX_IPC_HDR_LEN);
	switch (h->type) {
	case KRX_IPC_KEY_RESOLVE:
	case KRX_IPC_KEY_GENERATE:
		fz_name_reply(h->type, req, req_len, &c);
		break;
	case KRX_IPC_KEY_DECRYPT:
		fz_decrypt_reply(req, req_len, &c);
		break;
	default:
		fz_check(krx_cur_get_be32(&c, &n) == KRX_OK && n == KRX_KS_N);
		for (i = 0; i < n; i++)
			fz_check(krx_cur_get_be64(&c, &v) == KRX_OK);
		break;
	}
	fz_check(krx_cur_end(&c) == KRX_OK);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct krx_buf	 reply;
	struct krx_ipc_hdr	 h, rh;
	const uint8_t		*p;
	size_t			 len;
	uint32_t		 vc;
	int			 r, valid;

	if (fz_peer == -1) {
		fz_init();
		krx_buf_init(&reply, 0);
	}
	if (size < KRX_IPC_HDR_LEN)
		return 0;
	memcpy(&h.type, data, 4);
	memcpy(&h.id, data + 8, 4);
	memcpy(&h.flags, data + 12, 2);
	p = data + KRX_IPC_HDR_LEN;
	len = size - KRX_IPC_HDR_LEN;
	h.len = (uint32_t)size;
	h.version = KRX_IPC_VERSION;
	valid = fz_valid(&h, p, len, &vc);
	/* A full token bucket each time: the rate cap is not under test. */
	memset(&fz_ks.limits[0], 0, sizeof(fz_ks.limits[0]));
	r = krx_keysvc_dispatch(&fz_ks, 0, &h, p, len);
	fz_check(r == 0 || r == -1);
	fz_check(valid == (r == 0));
	if (r != 0) {
		fz_check(!fz_read_reply(&reply, &rh));
		return 0;
	}
	fz_reply(&h, p, len, &reply);
	krx_buf_reset(&reply);
	return 0;
}
