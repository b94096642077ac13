/*
 * fuzz_keyreply.c: libFuzzer harness for the worker's decoder of key
 * service replies (worker/keyclient.c: kc_chan_msg, kc_parse_reply,
 * kc_remember), the worker's side of the privilege boundary. The
 * decoder is static: the harness drives it through keyclient.h, as a
 * worker does.
 *
 * Setup, once: a worker (struct krx_worker with a cycle, a
 * configuration of two virtual clusters, an event base; the DEK cache
 * directory does not exist). Per input: a new keyclient whose keysvc
 * channel is one end of a socketpair; one request (resolve, generate or
 * decrypt, picked by the input) so that a pending entry (id 1) exists;
 * the reply written into the other end; one pass of the event loop
 * (EVLOOP_NONBLOCK); then the other end closed and one more pass, so
 * that a request still pending fails.
 *
 * The first input byte picks:
 *   bits 0-1  the request: 0 resolve, 1 generate, 2 decrypt, 3 decrypt
 *             on virtual cluster 1
 *   bit 2     raw: the rest of the input goes to the socket as it is
 *             (header, framing and any number of messages); otherwise
 *             it is the payload of one KEY_REPLY message to request 1
 * Besides "no crash, no leak" it checks: the request's callback runs
 * exactly once; its answer's views are readable for their lengths (ASan
 * checks the copies), a DEK is 32 bytes, a decrypt answer names the
 * EDEK asked; not raw, the answer is the reply's status exactly when the
 * reply decodes (fz_decodes: proto/ipc.h's reply formats with
 * keyclient.c's bounds), UNAVAILABLE otherwise; not raw, an answer is
 * remembered as keyclient.h says (an alias answer is given again at
 * once, a DEK's AES context exists). Helper KC may tighten the decoder:
 * fz_decodes is where to follow.
 *
 * Seeds (tests/fuzz/corpus/keyreply, made by mkcorpus.py): well-formed
 * replies of each kind and status, and raw frames.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "common/cycle.h"
#include "proto/ipc.h"
#include "worker/keyclient.h"
#include "worker/session.h"

#define FZ_MAX_KEK	512	/* keyclient.c's bounds */
#define FZ_MAX_EDEK	4096
#define FZ_MAX_RAW	(96 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char	 fz_alias[] = "KEK-a";
static const uint8_t	 fz_edek[] = { 1, 5, 'K', 'E', 'K', '-', 'a', 0, 0,
	0, 2 };

static struct krx_cycle	 fz_cy;
static struct krx_worker	 fz_w;
static struct krx_conf		*fz_conf;

struct fz_answer {
	int			 calls;
	enum krx_key_status	 status;
	uint8_t			 kek[FZ_MAX_KEK];
	size_t			 kek_len;
	uint8_t			 edek[FZ_MAX_EDEK];
	size_t			 edek_len;
	uint8_t			 dek[KRX_DEK_LEN];
	int			 has_dek;
};

static void
fz_check(int ok)
{
	if (!ok)
		abort();
}

static void
fz_init(void)
{
	struct krx_conf_errors	 errs;
	static const char	 text[] =
	    "cache = { path = \"/nonexistent/krx-fuzz-dekcache\"; };\n"
	    "virtual_clusters = (\n"
	    "{ name = \"enc\"; bootstrap = \"127.0.0.1:9100\";\n"
	    "  upstream = { bootstrap = \"127.0.0.1:9092\"; };\n"
	    "  record_encryption = { kms = \"LocalKms\";\n"
	    "    kmsConfig = { keystore = \"/nonexistent/keks\"; };\n"
	    "    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"KEK-$(topicName)\"; }; }; },\n"
	    "{ name = \"other\"; bootstrap = \"127.0.0.1:9200\";\n"
	    "  upstream = { bootstrap = \"127.0.0.1:9092\"; };\n"
	    "  record_encryption = { kms = \"LocalKms\";\n"
	    "    kmsConfig = { keystore = \"/nonexistent/keks2\"; };\n"
	    "    selector = \"TemplateKekSelector\";\n"
	    "    selectorConfig = { template = \"$(topicName)\"; }; }; } );\n";

	log_setlevel(0);	/* quiet: every bad reply logs an error */
	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load_string(text, "fuzz.conf", &fz_conf, &errs) !=
	    KRX_OK) {
		fprintf(stderr, "%s\n", errs.n ? errs.msg[0] : "?");
		abort();
	}
	krx_conf_errors_free(&errs);
	fz_cy.conf = fz_conf;
	fz_check((fz_w.base = event_base_new()) != NULL);
	fz_w.cy = &fz_cy;
	fz_w.conf = fz_conf;
	fz_w.slot = 0;
}

static void
fz_answer_cb(void *arg, const struct krx_key_answer *a)
{
	struct fz_answer	*f = arg;

	f->calls++;
	f->status = a->status;
	fz_check(a->status <= KRX_KEY_INVALID);
	fz_check(a->kek_len <= FZ_MAX_KEK && a->edek_len <= FZ_MAX_EDEK);
	/* Copies: ASan checks that every view is readable. */
	if (a->kek_len > 0)
		memcpy(f->kek, a->kek_id, a->kek_len);
	f->kek_len = a->kek_len;
	if (a->edek_len > 0)
		memcpy(f->edek, a->edek, a->edek_len);
	f->edek_len = a->edek_len;
	f->has_dek = a->dek != NULL;
	if (a->dek != NULL)
		memcpy(f->dek, a->dek, KRX_DEK_LEN);
}

/* A u32 length-prefixed byte string of at most max bytes. */
static int
fz_bytes(struct krx_cur *c, size_t max, size_t *len)
{
	const uint8_t	*p;
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) != KRX_OK || n > max ||
	    krx_cur_get_ref(c, n, &p) != KRX_OK)
		return -1;
	*len = n;
	return 0;
}

/*
 * Does the reply payload decode for a request of type (proto/ipc.h):
 * resolve: u8 status | str kek_id (<= 512); generate: u8 status | bytes
 * edek (<= 4096, not empty when OK) | bytes dek (32 when OK); decrypt:
 * u32 n (1) | u8 status | bytes dek (32 when OK); to the end. *st is
 * the status.
 */
static int
fz_decodes(uint32_t type, const uint8_t *p, size_t len, uint8_t *st)
{
	struct krx_cur	 c;
	uint32_t	 n;
	size_t		 elen = 0, dlen = 0;

	krx_cur_init(&c, p, len);
	if (type == KRX_IPC_KEY_DECRYPT &&
	    (krx_cur_get_be32(&c, &n) != KRX_OK || n != 1))
		return 0;
	if (krx_cur_get_u8(&c, st) != KRX_OK || *st > KRX_KEY_INVALID)
		return 0;
	if (type == KRX_IPC_KEY_RESOLVE)
		return fz_bytes(&c, FZ_MAX_KEK, &elen) == 0 &&
		    krx_cur_end(&c) == KRX_OK;
	if (type == KRX_IPC_KEY_GENERATE &&
	    fz_bytes(&c, FZ_MAX_EDEK, &elen) != 0)
		return 0;
	if (fz_bytes(&c, KRX_DEK_LEN, &dlen) != 0 ||
	    krx_cur_end(&c) != KRX_OK)
		return 0;
	return *st != KRX_KEY_OK || (dlen == KRX_DEK_LEN &&
	    (type != KRX_IPC_KEY_GENERATE || elen > 0));
}

/* Ask; returns the request's IPC type. */
static uint32_t
fz_ask(struct krx_keyclient *kc, int kind, struct fz_answer *f)
{
	struct krx_key_answer	 a;
	int			 r;

	switch (kind) {
	case 0:
		r = krx_keyclient_resolve(kc, 0, fz_alias, strlen(fz_alias),
		    fz_answer_cb, f, &a);
		fz_check(r == 0);
		return KRX_IPC_KEY_RESOLVE;
	case 1:
		r = krx_keyclient_generate(kc, 0, fz_alias, strlen(fz_alias),
		    fz_answer_cb, f, &a);
		fz_check(r == 0);
		return KRX_IPC_KEY_GENERATE;
	default:
		r = krx_keyclient_decrypt(kc, kind == 2 ? 0 : 1, fz_edek,
		    sizeof(fz_edek), fz_answer_cb, f, &a);
		fz_check(r == 0);
		return KRX_IPC_KEY_DECRYPT;
	}
}

/* What keyclient.h promises to remember. */
static void
fz_remembered(struct krx_keyclient *kc, uint32_t type, size_t vc,
    const struct fz_answer *f)
{
	struct krx_key_answer	 a;
	struct fz_answer	 g;

	memset(&g, 0, sizeof(g));
	if (type == KRX_IPC_KEY_RESOLVE && (f->status == KRX_KEY_OK ||
	    f->status == KRX_KEY_NOT_FOUND)) {
		fz_check(krx_keyclient_resolve(kc, vc, fz_alias,
		    strlen(fz_alias), fz_answer_cb, &g, &a) == 1);
		fz_check(g.calls == 0 && a.status == f->status &&
		    a.kek_len == f->kek_len && (a.kek_len == 0 ||
		    memcmp(a.kek_id, f->kek, a.kek_len) == 0));
	} else if (type == KRX_IPC_KEY_GENERATE && f->status == KRX_KEY_OK)
		fz_check(krx_keyclient_aead(kc, vc, f->edek, f->edek_len) !=
		    NULL);
	else if (type == KRX_IPC_KEY_DECRYPT && f->status == KRX_KEY_OK)
		fz_check(krx_keyclient_aead(kc, vc, fz_edek,
		    sizeof(fz_edek)) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct krx_keyclient	*kc;
	struct fz_answer	 f;
	struct krx_buf		 msg;
	const uint8_t		*p;
	size_t			 len, vc;
	uint32_t		 type;
	uint8_t			 st = 0;
	int			 sv[2], kind, raw, ok = 0;

	if (fz_conf == NULL)
		fz_init();
	if (size < 1)
		return 0;
	kind = data[0] & 3;
	raw = (data[0] & 4) != 0;
	vc = kind == 3 ? 1 : 0;
	p = data + 1;
	len = size - 1;
	fz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	kc = krx_keyclient_new(&fz_w);
	krx_keyclient_set_channel(kc, sv[0]);
	memset(&f, 0, sizeof(f));
	type = fz_ask(kc, kind, &f);
	fz_check(f.calls == 0);

	krx_buf_init(&msg, 0);
	if (raw)	/* at most what the socket holds unread */
		krx_buf_put(&msg, p, len < FZ_MAX_RAW ? len : FZ_MAX_RAW);
	else {
		fz_check(krx_ipc_compose(&msg, KRX_IPC_KEY_REPLY, 1, 0, p,
		    len) == KRX_OK);
		ok = fz_decodes(type, p, len, &st);
	}
	/* Whatever keysvc would send first: a blocking write is fine. */
	fz_check(msg.len == 0 ||
	    write(sv[1], msg.data, msg.len) == (ssize_t)msg.len);
	krx_buf_free(&msg);
	event_base_loop(fz_w.base, EVLOOP_NONBLOCK);
	if (!raw) {
		fz_check(f.calls == 1);
		fz_check(f.status == (ok ? st : KRX_KEY_UNAVAILABLE));
	}
	close(sv[1]);
	event_base_loop(fz_w.base, EVLOOP_NONBLOCK);
	fz_check(f.calls == 1);
	if (f.status == KRX_KEY_OK && type != KRX_IPC_KEY_RESOLVE)
		fz_check(f.has_dek);
	if (type == KRX_IPC_KEY_DECRYPT)
		fz_check(f.edek_len == sizeof(fz_edek) &&
		    memcmp(f.edek, fz_edek, sizeof(fz_edek)) == 0);
	/* Raw bytes may hold more messages after the reply (a KEY_FLUSH
	 * from keysvc drops what was remembered): only one reply here. */
	if (!raw)
		fz_remembered(kc, type, vc, &f);
	krx_keyclient_free(kc);
	return 0;
}
