/*
 * keysvc_bench.c: throughput of a real key service (krxd -K) with
 * LocalKms, and of DEK lookups in the shared LMDB cache. Prints, asserts
 * only that answers are right; not run by the tests.
 *
 *   make
 *   cc -std=c17 -D_GNU_SOURCE -O2 -g -I. -o build/keysvc_bench \
 *       bench/keysvc_bench.c build/libkrx.a $(pkg-config --libs openssl \
 *       libevent libevent_openssl libconfig lmdb libcurl zlib libzstd \
 *       liblz4 snappy) -lm
 *   build/keysvc_bench [requests, default 20000] [lookups, default
 *       1000000] [krxd, default $KRXD or build/krxd]
 *
 * The program plays the master and one worker. It makes a keystore with
 * one KEK (crypto/localkms.h) and a config in a temporary directory,
 * fork+execs `krxd -K -c CONF -g` with its master channel on fd 3 (and
 * CONF on fd 4, as the master hands it over), sends
 * KRX_IPC_KS_INIT (a random 32-byte cache key) and KRX_IPC_KS_CHANNEL
 * (slot 0, with keysvc's end of a socketpair), waits for READY, then over
 * the worker channel keeps WINDOW requests in flight:
 *
 *   generate   N x KRX_IPC_KEY_GENERATE (keysvc: RAND_bytes, wrap under
 *              the KEK, LMDB put, reply)
 *   decrypt    N x KRX_IPC_KEY_DECRYPT of one EDEK each (unwrap, LMDB
 *              put, reply); every DEK is checked against the generated
 *   decrypt64  N/64 x KRX_IPC_KEY_DECRYPT of 64 EDEKs each
 *
 * then opens the LMDB cache as a worker does (read-only, same cache key)
 * and times M krx_dekcache_get of those EDEKs' entries, with and without
 * computing the LMDB key (SHA-256 of KMS id and EDEK) each time. One
 * client, so the key service figures are those of one keysvc process
 * (one core) including the socket round trip.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/buf.h"
#include "conf/conf.h"
#include "crypto/dekcache.h"
#include "crypto/localkms.h"
#include "proto/ipc.h"

#define WINDOW		256
#define BATCH		64
#define KEK_NAME	"KEK-bench"

struct bench {
	int		 master;	/* our end of keysvc's fd 3 */
	int		 chan;		/* our end of the worker channel */
	size_t		 n;
	uint8_t		**edek;
	size_t		*edek_len;
	uint8_t		(*dek)[KRX_DEK_LEN];
	size_t		 bad;
};

/* A phase: request i into b; its reply checked. */
struct phase {
	const char	*name;
	size_t		 requests;
	size_t		 per_request;	/* keys per request, for the rate */
	uint32_t	 type;
	void		(*build)(struct bench *, size_t, struct krx_buf *);
	int		(*check)(struct bench *, size_t, struct krx_cur *);
};

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "keysvc_bench: %s%s%s\n", what, errno ? ": " : "",
	    errno ? strerror(errno) : "");
	exit(1);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
send_msg(int fd, uint32_t type, const void *p, size_t len, int pass_fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	struct krx_buf	 b;
	struct msghdr	 mh;
	struct iovec	 iov;

	krx_buf_init(&b, 0);
	if (krx_ipc_compose(&b, type, 0, pass_fd != -1 ? KRX_IPC_F_FD : 0,
	    p, len) != KRX_OK)
		die("compose");
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pass_fd != -1) {
		memset(&cmsg, 0, sizeof(cmsg));
		mh.msg_control = cmsg.buf;
		mh.msg_controllen = sizeof(cmsg.buf);
		cmsg.hdr.cmsg_level = SOL_SOCKET;
		cmsg.hdr.cmsg_type = SCM_RIGHTS;
		cmsg.hdr.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cmsg.hdr), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)b.len)
		die("sendmsg to keysvc");
	krx_buf_free(&b);
}

static void
wait_ready(int fd)
{
	struct krx_ipc_hdr	 h;
	uint8_t			 raw[KRX_IPC_HDR_LEN];
	size_t			 got = 0;
	ssize_t			 n;

	while (got < sizeof(raw)) {
		if ((n = read(fd, raw + got, sizeof(raw) - got)) <= 0)
			die("keysvc exited before READY (see its log above)");
		got += (size_t)n;
	}
	if (krx_ipc_hdr_parse(raw, sizeof(raw), KRX_IPC_MAX_KEYS, &h) !=
	    KRX_OK || h.type != KRX_IPC_READY || h.len != KRX_IPC_HDR_LEN)
		die("unexpected first message from keysvc");
}

/* Run one phase with WINDOW requests in flight; returns seconds. */
static double
run(struct bench *bn, const struct phase *ph)
{
	struct krx_buf		 out, in, req;
	struct krx_ipc_hdr	 h;
	struct krx_cur		 c;
	struct pollfd		 pfd;
	size_t			 sent = 0, done = 0, off;
	ssize_t			 n;
	double			 t0;

	krx_buf_init(&out, 1 << 20);
	krx_buf_init(&in, 1 << 20);
	krx_buf_init(&req, 4096);
	t0 = now();
	while (done < ph->requests) {
		while (sent < ph->requests && sent - done < WINDOW) {
			krx_buf_reset(&req);
			ph->build(bn, sent, &req);
			if (krx_ipc_compose(&out, ph->type, (uint32_t)sent + 1, 0,
			    req.data, req.len) != KRX_OK)
				die("compose");
			sent++;
		}
		pfd.fd = bn->chan;
		pfd.events = POLLIN | (out.len > 0 ? POLLOUT : 0);
		if (poll(&pfd, 1, 30000) <= 0)
			die("keysvc stopped answering");
		if ((pfd.revents & POLLOUT) && out.len > 0) {
			if ((n = send(bn->chan, out.data, out.len,
			    MSG_NOSIGNAL | MSG_DONTWAIT)) == -1 &&
			    errno != EAGAIN)
				die("send");
			if (n > 0) {
				memmove(out.data, out.data + n, out.len - n);
				out.len -= (size_t)n;
			}
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (krx_buf_reserve(&in, 1 << 16) != KRX_OK)
			die("memory");
		if ((n = recv(bn->chan, in.data + in.len, in.cap - in.len,
		    MSG_DONTWAIT)) == 0)
			die("keysvc closed the worker channel");
		if (n == -1) {
			if (errno == EAGAIN)
				continue;
			die("recv");
		}
		in.len += (size_t)n;
		off = 0;
		while (krx_ipc_hdr_parse(in.data + off, in.len - off,
		    KRX_IPC_MAX_KEYS, &h) == KRX_OK && in.len - off >= h.len) {
			if (h.type != KRX_IPC_KEY_REPLY || h.id == 0 ||
			    h.id > sent)
				die("unexpected reply");
			krx_cur_init(&c, in.data + off + KRX_IPC_HDR_LEN,
			    h.len - KRX_IPC_HDR_LEN);
			if (ph->check(bn, h.id - 1, &c) != 0 ||
			    krx_cur_end(&c) != KRX_OK)
				bn->bad++;
			off += h.len;
			done++;
		}
		memmove(in.data, in.data + off, in.len - off);
		in.len -= off;
	}
	t0 = now() - t0;
	krx_buf_free(&out);
	krx_buf_free(&in);
	krx_buf_free(&req);
	return t0;
}

static void
gen_build(struct bench *bn, size_t i, struct krx_buf *b)
{
	krx_buf_put_be32(b, 0);
	krx_buf_put_be32(b, sizeof(KEK_NAME) - 1);
	krx_buf_put(b, KEK_NAME, sizeof(KEK_NAME) - 1);
}

static int
gen_check(struct bench *bn, size_t i, struct krx_cur *c)
{
	const uint8_t	*p;
	uint32_t	 len;
	uint8_t		 st;

	if (krx_cur_get_u8(c, &st) || st != KRX_KEY_OK ||
	    krx_cur_get_be32(c, &len) || len == 0 || len > 4096 ||
	    krx_cur_get_ref(c, len, &p))
		return -1;
	bn->edek[i] = malloc(len);
	memcpy(bn->edek[i], p, len);
	bn->edek_len[i] = len;
	if (krx_cur_get_be32(c, &len) || len != KRX_DEK_LEN ||
	    krx_cur_get(c, bn->dek[i], KRX_DEK_LEN))
		return -1;
	return 0;
}

static void
dec_build(struct bench *bn, size_t i, struct krx_buf *b)
{
	krx_buf_put_be32(b, 0);
	krx_buf_put_be32(b, 1);
	krx_buf_put_be32(b, (uint32_t)bn->edek_len[i]);
	krx_buf_put(b, bn->edek[i], bn->edek_len[i]);
}

static int
dec_one(struct bench *bn, size_t k, struct krx_cur *c)
{
	uint8_t		 st, dek[KRX_DEK_LEN];
	uint32_t	 len;

	if (krx_cur_get_u8(c, &st) || st != KRX_KEY_OK ||
	    krx_cur_get_be32(c, &len) || len != KRX_DEK_LEN ||
	    krx_cur_get(c, dek, sizeof(dek)))
		return -1;
	return memcmp(dek, bn->dek[k], sizeof(dek)) == 0 ? 0 : -1;
}

static int
dec_check(struct bench *bn, size_t i, struct krx_cur *c)
{
	uint32_t	 n;

	if (krx_cur_get_be32(c, &n) || n != 1)
		return -1;
	return dec_one(bn, i, c);
}

static void
batch_build(struct bench *bn, size_t i, struct krx_buf *b)
{
	size_t	 k;

	krx_buf_put_be32(b, 0);
	krx_buf_put_be32(b, BATCH);
	for (k = i * BATCH; k < (i + 1) * BATCH; k++) {
		krx_buf_put_be32(b, (uint32_t)bn->edek_len[k]);
		krx_buf_put(b, bn->edek[k], bn->edek_len[k]);
	}
}

static int
batch_check(struct bench *bn, size_t i, struct krx_cur *c)
{
	uint32_t	 n;
	size_t		 k;

	if (krx_cur_get_be32(c, &n) || n != BATCH)
		return -1;
	for (k = i * BATCH; k < (i + 1) * BATCH; k++)
		if (dec_one(bn, k, c) != 0)
			return -1;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path);
}

static void
write_setup(const char *dir, char *conf, size_t conflen)
{
	struct krx_keystore	*ks;
	char			 path[512];
	FILE			*f;

	snprintf(path, sizeof(path), "%s/keks", dir);
	if (mkdir(path, 0700) == -1)
		die("mkdir keks");
	snprintf(path, sizeof(path), "%s/keks/keystore", dir);
	if ((ks = krx_keystore_new()) == NULL ||
	    krx_keystore_create(ks, KEK_NAME) != KRX_OK ||
	    krx_keystore_save(ks, path) != KRX_OK)
		die("keystore");
	krx_keystore_free(ks);
	snprintf(conf, conflen, "%s/krxd.conf", dir);
	if ((f = fopen(conf, "w")) == NULL)
		die("config");
	fprintf(f,
	    "workers = 1;\n"
	    "pid_file = \"%s/krxd.pid\";\n"
	    "control_socket = \"%s/control.sock\";\n"
	    "log = { level = \"info\"; };\n"
	    "cache = { path = \"%s/dekcache\"; max_bytes = 268435456; };\n"
	    "virtual_clusters = (\n"
	    "  { name = \"bench\";\n"
	    "    bootstrap = \"127.0.0.1:19092\";\n"
	    "    advertised_host = \"127.0.0.1\";\n"
	    "    node_start_port = 19093;\n"
	    "    upstream = { bootstrap = \"127.0.0.1:9092\"; };\n"
	    "    record_encryption = {\n"
	    "      kms = \"LocalKms\";\n"
	    "      kmsConfig = { keystore = \"%s/keks/keystore\"; };\n"
	    "      selector = \"TemplateKekSelector\";\n"
	    "      selectorConfig = { template = \"KEK-$(topicName)\"; };\n"
	    "    };\n"
	    "  } );\n", dir, dir, dir, dir);
	if (fclose(f) != 0)
		die("config");
}

static pid_t
spawn_keysvc(const char *krxd, const char *conf, int *master)
{
	int	 sv[2], cfd;
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die("socketpair");
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(sv[1], 3) == -1)
			_exit(70);
		/* fd 4: the configuration, as the master hands it over. */
		if ((cfd = open(conf, O_RDONLY)) == -1 ||
		    (cfd != 4 && (dup2(cfd, 4) == -1 || close(cfd) == -1)))
			_exit(70);
		execl(krxd, "krxd", "-K", "-c", conf, "-g", (char *)NULL);
		perror(krxd);
		_exit(70);
	}
	close(sv[1]);
	*master = sv[0];
	return pid;
}

static void
lmdb_bench(struct bench *bn, const struct krx_conf *conf,
    const uint8_t cache_key[32], size_t m)
{
	struct krx_dekcache	*c;
	uint8_t			(*keys)[KRX_DEKCACHE_KEY_LEN], dek[KRX_DEK_LEN];
	uint8_t			 key[KRX_DEKCACHE_KEY_LEN];
	char			 kms_id[1024];
	int64_t			 t = (int64_t)time(NULL);
	size_t			 i, k, bad = 0;
	double			 t0, t1, t2, best1, best2;
	int			 round;

	if (krx_conf_kms_id(&conf->vclusters[0].enc, kms_id,
	    sizeof(kms_id)) != KRX_OK ||
	    krx_dekcache_open(conf->cache_path, 0, 0, &c) != KRX_OK)
		die("open the DEK cache as a reader");
	keys = calloc(bn->n, sizeof(*keys));
	for (i = 0; i < bn->n; i++)
		if (krx_dekcache_key(kms_id, bn->edek[i], bn->edek_len[i],
		    keys[i]) != KRX_OK)
			die("cache key");
	/* Each figure: the best of 3 rounds, after one warm-up pass. */
	best1 = best2 = 1e30;
	for (round = 0; round < 4; round++) {
		t0 = now();
		for (i = 0; i < m; i++) {
			k = i % bn->n;
			if (krx_dekcache_get(c, cache_key, keys[k], t, dek) !=
			    KRX_OK || memcmp(dek, bn->dek[k], sizeof(dek)) != 0)
				bad++;
		}
		t1 = now();
		for (i = 0; i < m; i++) {
			k = i % bn->n;
			if (krx_dekcache_key(kms_id, bn->edek[k],
			    bn->edek_len[k], key) != KRX_OK ||
			    krx_dekcache_get(c, cache_key, key, t, dek) !=
			    KRX_OK || memcmp(dek, bn->dek[k], sizeof(dek)) != 0)
				bad++;
		}
		t2 = now();
		if (round > 0 && t1 - t0 < best1)
			best1 = t1 - t0;
		if (round > 0 && t2 - t1 < best2)
			best2 = t2 - t1;
	}
	printf("%-28s %10zu %10.0f /s %8.2f us\n", "lmdb get", m,
	    (double)m / best1, best1 / (double)m * 1e6);
	printf("%-28s %10zu %10.0f /s %8.2f us\n", "lmdb key + get", m,
	    (double)m / best2, best2 / (double)m * 1e6);
	if (bad)
		printf("  %zu lookups missed or gave another DEK\n", bad);
	bn->bad += bad;
	free(keys);
	krx_dekcache_close(c);
}

int
main(int argc, char *argv[])
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	struct bench		 bn;
	const char		*krxd;
	char			 dir[] = "/tmp/krx-ksbench-XXXXXX";
	char			 confpath[600];
	uint8_t			 cache_key[32];
	uint32_t		 slot = htonl(0);
	size_t			 n, m, i;
	int			 wp[2], status;
	pid_t			 pid;
	double			 t;
	const struct phase	 phases[] = {
		{ "generate", 0, 1, KRX_IPC_KEY_GENERATE, gen_build,
		    gen_check },
		{ "decrypt (1 EDEK/request)", 0, 1, KRX_IPC_KEY_DECRYPT,
		    dec_build, dec_check },
		{ "decrypt (64 EDEKs/request)", 0, BATCH, KRX_IPC_KEY_DECRYPT,
		    batch_build, batch_check },
	};
	struct phase		 ph;

	n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
	m = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	krxd = argc > 3 ? argv[3] : getenv("KRXD") ? getenv("KRXD") :
	    "build/krxd";
	n = (n + BATCH - 1) / BATCH * BATCH;
	if (n == 0 || m == 0)
		die("usage: keysvc_bench [requests] [lookups] [krxd]");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	write_setup(dir, confpath, sizeof(confpath));
	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load(confpath, &conf, &errs) != KRX_OK)
		die(errs.n ? errs.msg[0] : "config");

	memset(&bn, 0, sizeof(bn));
	bn.n = n;
	bn.edek = calloc(n, sizeof(*bn.edek));
	bn.edek_len = calloc(n, sizeof(*bn.edek_len));
	bn.dek = calloc(n, sizeof(*bn.dek));
	if (bn.edek == NULL || bn.edek_len == NULL || bn.dek == NULL)
		die("memory");
	pid = spawn_keysvc(krxd, confpath, &bn.master);
	if (RAND_bytes(cache_key, sizeof(cache_key)) != 1)
		die("RAND_bytes");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wp) == -1)
		die("socketpair");
	send_msg(bn.master, KRX_IPC_KS_INIT, cache_key, sizeof(cache_key), -1);
	send_msg(bn.master, KRX_IPC_KS_CHANNEL, &slot, sizeof(slot), wp[1]);
	close(wp[1]);
	bn.chan = wp[0];
	wait_ready(bn.master);

	printf("keysvc pid %d, LocalKms, %d requests in flight\n", (int)pid,
	    WINDOW);
	printf("%-28s %10s %12s %11s\n", "operation", "count", "rate",
	    "per key");
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		ph = phases[i];
		ph.requests = n / ph.per_request;
		t = run(&bn, &ph);
		printf("%-28s %10zu %10.0f /s %8.2f us\n", ph.name,
		    ph.requests * ph.per_request,
		    (double)(ph.requests * ph.per_request) / t,
		    t / (double)(ph.requests * ph.per_request) * 1e6);
		if (bn.bad)
			die("wrong answers from keysvc");
	}
	lmdb_bench(&bn, conf, cache_key, m);

	close(bn.chan);
	close(bn.master);	/* keysvc exits on its master channel's EOF */
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(stderr, "keysvc_bench: keysvc ended with status %#x\n",
		    status);
	for (i = 0; i < n; i++)
		free(bn.edek[i]);
	free(bn.edek);
	free(bn.edek_len);
	free(bn.dek);
	krx_conf_free(conf);
	krx_conf_errors_free(&errs);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return bn.bad ? 1 : 0;
}
