/*
 * dispatch_test.c: the checked dispatch table (common/dispatch.c) and
 * every channel's table, built in with the files that own them
 * (master/spawn.c: worker -> master and keysvc -> master; keysvc/
 * keysvc.c: master -> keysvc; keysvc/dispatch.c: worker -> keysvc;
 * worker/worker.c: master -> worker; worker/keyclient.c: keysvc ->
 * worker). For each table: a message type it does not allow, a length
 * outside a row's bounds, an fd (or the F_FD flag) where none is
 * allowed, a missing fd where one is required, a message outside its
 * channel state and a second once-only message are refused, and the
 * row's handler does not run. The tables are checked with their real
 * rules and a counting handler in place of each real one; then each
 * channel's receive path is driven with a refused message through its
 * real handlers: the master kills the child, keysvc answers nothing and
 * counts nothing, the worker exits KRX_EXIT_IPC, the key client flushes
 * nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "master/spawn.c"
#include "keysvc/keysvc.c"
#include "keysvc/dispatch.c"
#include "worker/worker.c"
#include "worker/keyclient.c"

/* What the included files call outside themselves: counted stubs. */
static int	 st_child_ready, st_reload_ready, st_maps, st_ks_msg;
static int	 st_admin, st_flush;

int
krx_confload_encrypts(const struct krx_conf *conf)
{
	return 0;
}

void
krx_control_relay_fail(struct krx_master *m, const struct krx_slot *ks,
    const char *why)
{
}

void
krx_cycle_forget_secrets(struct krx_cycle *cy)
{
}

void
krx_cycle_free(struct krx_cycle *cy, const struct krx_cycle *keep)
{
}

size_t
krx_encpool_flush(struct krx_worker *w, size_t vc, const char *kek,
    size_t len)
{
	st_flush++;
	return 0;
}

int
krx_control_fanout_worker(struct krx_master *m, struct krx_slot *s,
    uint32_t id, const uint8_t *p, size_t len)
{
	return 0;
}

int
krx_worker_on_dek_drop(void *ctx, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd)
{
	return 0;
}

void
krx_keysvc_admin(struct krx_keysvc *ks, uint32_t id, const uint8_t *p,
    size_t len)
{
	st_admin++;
}

void
krx_keysvc_admin_free(void)
{
}

void
krx_keysvc_exec(struct krx_master *m, struct krx_slot *ks, int chan,
    int keys)
{
	_exit(0);
}

int
krx_keysvc_link(struct krx_master *m, struct krx_slot *s)
{
	return -1;
}

/* Metrics (issue 13): not under test here. */
struct krx_kmrow	*krx_kms_mrow;
void krx_kms_count(struct krx_kms_counters *c, enum krx_kms_op op,
    enum krx_key_status st) { }
void krx_mstatus_sync(struct krx_master *m) { }
void krx_mstatus_child_gone(struct krx_master *m, const struct krx_slot *s) { }
void krx_worker_metrics_init(struct krx_worker *w) { }

void
krx_keysvc_message(struct krx_master *m, struct krx_slot *ks,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	st_ks_msg++;
}

void
krx_keysvc_spawn(struct krx_master *m, struct krx_slot *ks)
{
}

void
krx_kms_close(struct krx_kms *k)
{
}

struct krx_kms *
krx_kms_open(struct event_base *base, const char *vcluster,
    const struct krx_conf_encryption *conf, const char **why)
{
	*why = "not in this test";
	return NULL;
}

void
krx_limit_free(struct krx_worker *w)
{
}

void
krx_limit_init(struct krx_worker *w)
{
}

int
krx_maps_message(struct krx_master *m, struct krx_slot *s,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	st_maps++;
	return 0;
}

void
krx_master_child_ready(struct krx_master *m, struct krx_slot *s)
{
	st_child_ready++;
}

void
krx_master_stop(struct krx_master *m, int graceful)
{
}

void
krx_reload_child_gone(struct krx_master *m, struct krx_gen *g, int status)
{
}

void
krx_reload_child_ready(struct krx_master *m, struct krx_gen *g)
{
	st_reload_ready++;
}

struct krx_gen *
krx_reload_other(struct krx_master *m)
{
	return NULL;
}

void
krx_session_accept(struct krx_worker *w, const struct krx_listener *l,
    int fd, const struct sockaddr *sa, int salen)
{
}

void
krx_session_close_after_flush(struct krx_session *s)
{
}

void
krx_session_free(struct krx_session *s)
{
}

void
krx_proxyhdr_start(struct krx_worker *w, const struct krx_listener *l,
    int fd, const struct sockaddr *sa, int salen)
{
}

void
krx_proxyhdr_free_all(struct krx_worker *w)
{
}

void
krx_topiclimit_free(struct krx_topiclimit *tl)
{
}

struct krx_httpd *krx_httpd_new(struct krx_worker *w, int fd) { return NULL; }
void krx_httpd_drain(struct krx_httpd *h) { }
int krx_httpd_idle(const struct krx_httpd *h) { return 1; }
void krx_httpd_free(struct krx_httpd *h) { }

struct krx_topiclimit *
krx_topiclimit_new(void)
{
	return NULL;
}

/* krx-ctl scan (worker/scan.c, master/control_scan.c) */
void
krx_scan_start(struct krx_worker *w, uint32_t id, const uint8_t *p,
    size_t len)
{
}

void
krx_scan_cancel(struct krx_worker *w, uint32_t id)
{
}

void
krx_scan_free_all(struct krx_worker *w)
{
}

int
krx_control_scan_message(struct krx_master *m, struct krx_slot *s,
    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len)
{
	return 0;
}

/* ---- the tables, with a counting handler in place of each real one */

#define TD_MAX_ROWS	16

static int		 td_calls;
static uint8_t		 td_payload[512 * 1024];	/* over every row max */

static int
td_count(void *ctx, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd)
{
	td_calls++;
	if (fd != -1)
		close(fd);
	return 0;
}

/* t's rules with td_count as every handler, in rows. */
static struct krx_dispatch_table
td_copy(const struct krx_dispatch_table *t, struct krx_dispatch_row *rows)
{
	struct krx_dispatch_table	 c = *t;
	size_t				 i;

	cr_assert_leq(t->n, TD_MAX_ROWS);
	for (i = 0; i < t->n; i++) {
		rows[i] = t->rows[i];
		rows[i].fn = td_count;
	}
	c.rows = rows;
	return c;
}

/* A pipe's read end: an fd to send along. */
static int
td_fd(void)
{
	int	 p[2];

	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	return p[0];
}

static void
td_assert_closed(int fd)
{
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "fd %d left open", fd);
	cr_assert_eq(errno, EBADF);
}

static int
td_run(const struct krx_dispatch_table *t, struct krx_dispatch_peer *peer,
    uint32_t type, uint16_t flags, size_t len, int fd)
{
	struct krx_ipc_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.flags = flags | (fd != -1 ? KRX_IPC_F_FD : 0);
	h.len = (uint32_t)(KRX_IPC_HDR_LEN + len);
	h.version = KRX_IPC_VERSION;
	cr_assert_leq(len, sizeof(td_payload));
	return krx_dispatch_run(t, peer, NULL, &h, td_payload, len, fd);
}

static struct krx_dispatch_peer
td_peer(uint32_t state)
{
	struct krx_dispatch_peer	 p;

	krx_dispatch_peer_init(&p);
	p.state = state;
	return p;
}

/* The lowest state bit a row is allowed in. */
static uint32_t
td_state(const struct krx_dispatch_row *r)
{
	return r->states & KRX_DISPATCH_S_START ? KRX_DISPATCH_S_START :
	    KRX_DISPATCH_S_READY;
}

/* A well-formed message for r: accepted, its handler runs once. */
static void
td_accepted(const struct krx_dispatch_table *t,
    const struct krx_dispatch_row *r)
{
	struct krx_dispatch_peer	 p = td_peer(td_state(r));
	int				 fd = -1;

	if (r->fd == KRX_DISPATCH_FD_REQUIRED)
		fd = td_fd();
	td_calls = 0;
	cr_assert_eq(td_run(t, &p, r->type, 0, r->min, fd), KRX_DISPATCH_OK,
	    "%s: type %u", t->name, r->type);
	cr_assert_eq(td_calls, 1);
}

static void
td_refused(const struct krx_dispatch_table *t, struct krx_dispatch_peer *p,
    uint32_t type, uint16_t flags, size_t len, int fd, int verdict)
{
	int	 calls = td_calls;

	cr_assert_eq(td_run(t, p, type, flags, len, fd), verdict,
	    "%s: type %u, %zu bytes, fd %d: want %s", t->name, type, len, fd,
	    krx_dispatch_strerror(verdict));
	cr_assert_eq(td_calls, calls, "%s: handler ran for type %u", t->name,
	    type);
	if (fd != -1)
		td_assert_closed(fd);
}

/* Lengths, fds and states of row r. */
static void
td_check_row(const struct krx_dispatch_table *t,
    const struct krx_dispatch_row *r)
{
	struct krx_dispatch_peer	 p = td_peer(td_state(r));
	int				 fd = -1;

	if (r->fd == KRX_DISPATCH_FD_REQUIRED) {
		td_refused(t, &p, r->type, 0, r->min, -1,
		    KRX_DISPATCH_E_NOFD);
		fd = td_fd();
	} else {
		td_refused(t, &p, r->type, 0, r->min, td_fd(),
		    KRX_DISPATCH_E_FD);
		td_refused(t, &p, r->type, KRX_IPC_F_FD, r->min, -1,
		    KRX_DISPATCH_E_FD);
	}
	if (r->min > 0)
		td_refused(t, &p, r->type, 0, r->min - 1,
		    fd == -1 ? -1 : dup(fd), KRX_DISPATCH_E_LENGTH);
	td_refused(t, &p, r->type, 0, r->max + 1, fd == -1 ? -1 : dup(fd),
	    KRX_DISPATCH_E_LENGTH);
	if (r->states != KRX_DISPATCH_S_ANY) {
		p = td_peer(KRX_DISPATCH_S_ANY & ~r->states);
		td_refused(t, &p, r->type, 0, r->min, fd == -1 ? -1 : dup(fd),
		    KRX_DISPATCH_E_STATE);
	}
	if (fd != -1)
		close(fd);
}

/* A once-only row: accepted once, refused the second time. */
static void
td_check_once(const struct krx_dispatch_table *t,
    const struct krx_dispatch_row *r)
{
	struct krx_dispatch_peer	 p = td_peer(td_state(r));
	int				 fd = -1;

	if (r->fd == KRX_DISPATCH_FD_REQUIRED)
		fd = td_fd();
	td_calls = 0;
	cr_assert_eq(td_run(t, &p, r->type, 0, r->min, fd), KRX_DISPATCH_OK);
	cr_assert_eq(td_calls, 1);
	if (r->next != 0)
		cr_assert_eq(p.state, r->next);
	fd = r->fd == KRX_DISPATCH_FD_REQUIRED ? td_fd() : -1;
	td_refused(t, &p, r->type, 0, r->min, fd, KRX_DISPATCH_E_ONCE);
	cr_assert_eq(td_calls, 1);
}

/*
 * Every rule of t: foreign, a type from another channel, is refused;
 * so is each row's message with a wrong length, a wrong fd or outside
 * its state, and a once-only row's second message. Returns the number
 * of once-only rows.
 */
static int
td_check_table(const struct krx_dispatch_table *real, uint32_t foreign)
{
	struct krx_dispatch_row		 rows[TD_MAX_ROWS];
	struct krx_dispatch_table	 t = td_copy(real, rows);
	struct krx_dispatch_peer	 p = td_peer(KRX_DISPATCH_S_READY);
	size_t				 i;
	int				 once = 0;

	cr_assert_null(krx_dispatch_find(&t, foreign));
	td_calls = 0;
	td_refused(&t, &p, foreign, 0, 0, -1, KRX_DISPATCH_E_TYPE);
	p = td_peer(KRX_DISPATCH_S_START);
	td_refused(&t, &p, foreign, 0, 4, td_fd(), KRX_DISPATCH_E_TYPE);
	td_refused(&t, &p, 0xdead, 0, 0, -1, KRX_DISPATCH_E_TYPE);
	for (i = 0; i < t.n; i++) {
		td_accepted(&t, &rows[i]);
		td_calls = 0;
		td_check_row(&t, &rows[i]);
		cr_assert_eq(td_calls, 0);
		if (rows[i].once) {
			td_check_once(&t, &rows[i]);
			once++;
		}
	}
	return once;
}

Test(tables, worker_to_master)
{
	cr_assert_eq(td_check_table(&spawn_worker_table, KRX_IPC_KS_INIT), 1);
	cr_assert_eq(krx_proc_kinds[KRX_KIND_WORKER].rx, &spawn_worker_table);
}

Test(tables, keysvc_to_master)
{
	cr_assert_eq(td_check_table(&spawn_keysvc_table,
	    KRX_IPC_NODE_LEARNED), 1);
	cr_assert_eq(krx_proc_kinds[KRX_KIND_KEYSVC].rx, &spawn_keysvc_table);
}

Test(tables, master_to_keysvc)
{
	cr_assert_eq(td_check_table(&keysvc_master_table, KRX_IPC_DRAIN), 1);
}

Test(tables, worker_to_keysvc)
{
	/* Requests are not once-only: a worker asks many times. */
	cr_assert_eq(td_check_table(&ks_table, KRX_IPC_KS_ADMIN), 0);
}

Test(tables, master_to_worker)
{
	cr_assert_eq(td_check_table(&worker_master_table, KRX_IPC_KS_INIT),
	    0);
}

Test(tables, keysvc_to_worker)
{
	cr_assert_eq(td_check_table(&kc_table, KRX_IPC_KEY_RESOLVE), 0);
}

/* The process graph: each kind's channel cap and user field. */
Test(tables, process_kinds)
{
	struct krx_conf	 c;

	memset(&c, 0, sizeof(c));
	c.user = "w";
	c.keysvc_user = "k";
	cr_assert_eq(krx_proc_kinds[KRX_KIND_WORKER].chan_max,
	    KRX_IPC_MAX_WORKER);
	cr_assert_eq(krx_proc_kinds[KRX_KIND_KEYSVC].chan_max,
	    KRX_IPC_MAX_KEYS);
	cr_assert_eq(krx_proc_kinds[KRX_KIND_WORKER].exec, 0);
	cr_assert_eq(krx_proc_kinds[KRX_KIND_KEYSVC].exec, 1);
	cr_assert_str_eq(krx_spawn_user(KRX_KIND_WORKER, &c), "w");
	cr_assert_str_eq(krx_spawn_user(KRX_KIND_KEYSVC, &c), "k");
}

Test(dispatch, verdicts_have_names)
{
	int	 v;

	for (v = KRX_DISPATCH_E_PAYLOAD; v <= KRX_DISPATCH_OK; v++)
		cr_assert_neq(strcmp(krx_dispatch_strerror(v),
		    "unknown dispatch verdict"), 0);
}

/* ---- each channel's receive path, with its real handlers */

static struct krx_ipc_hdr
td_hdr(uint32_t type, uint32_t id, size_t len)
{
	struct krx_ipc_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.id = id;
	h.len = (uint32_t)(KRX_IPC_HDR_LEN + len);
	h.version = KRX_IPC_VERSION;
	return h;
}

/* A child that waits to be killed, in slot s of the given kind. */
static void
td_slot(struct krx_master *m, struct krx_slot *s, enum krx_child_kind kind)
{
	memset(m, 0, sizeof(*m));
	memset(s, 0, sizeof(*s));
	s->master = m;
	s->kind = kind;
	s->state = KRX_CHILD_STARTING;
	krx_dispatch_peer_init(&s->peer);
	if ((s->pid = fork()) == 0) {
		pause();
		_exit(0);
	}
	cr_assert_gt(s->pid, 0);
}

/* Whether s's child was killed; polls for 2 s, then ends it itself. */
static int
td_killed(struct krx_slot *s)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	pid_t		 r;
	int		 i, status;

	for (i = 0; i < 200; i++) {
		if ((r = waitpid(s->pid, &status, WNOHANG)) == s->pid)
			return WIFSIGNALED(status) && WTERMSIG(status) ==
			    SIGKILL;
		cr_assert_eq(r, 0);
		nanosleep(&ts, NULL);
	}
	kill(s->pid, SIGTERM);
	waitpid(s->pid, &status, 0);
	return 0;
}

/* The master: READY once, then a second READY kills the worker. */
Test(master, second_ready_kills_the_worker)
{
	struct krx_master	 m;
	struct krx_slot		 s;
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_READY, 0, 0);

	td_slot(&m, &s, KRX_KIND_WORKER);
	st_child_ready = 0;
	spawn_chan_msg(NULL, &h, td_payload, 0, -1, &s);
	cr_assert_eq(st_child_ready, 1);
	cr_assert_eq(s.state, KRX_CHILD_RUNNING);
	spawn_chan_msg(NULL, &h, td_payload, 0, -1, &s);
	cr_assert_eq(st_child_ready, 1);
	cr_assert(td_killed(&s));
}

/* A keysvc message from a worker, a bad length, an fd: killed. */
Test(master, worker_breaking_its_table_is_killed)
{
	struct krx_master	 m;
	struct krx_slot		 s;
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_KS_PONG, 0, 0);

	td_slot(&m, &s, KRX_KIND_WORKER);
	st_ks_msg = 0;
	spawn_chan_msg(NULL, &h, td_payload, 0, -1, &s);
	cr_assert_eq(st_ks_msg, 0);
	cr_assert(td_killed(&s));

	td_slot(&m, &s, KRX_KIND_WORKER);
	h = td_hdr(KRX_IPC_NODE_LEARNED, 0, KRX_NODEMAP_MSG_MAX + 1);
	st_maps = 0;
	spawn_chan_msg(NULL, &h, td_payload, KRX_NODEMAP_MSG_MAX + 1, -1, &s);
	cr_assert_eq(st_maps, 0);
	cr_assert(td_killed(&s));

	td_slot(&m, &s, KRX_KIND_WORKER);
	h = td_hdr(KRX_IPC_KS_RELINK, 0, 0);
	h.flags = KRX_IPC_F_FD;
	spawn_chan_msg(NULL, &h, td_payload, 0, td_fd(), &s);
	cr_assert(td_killed(&s));
}

/* keysvc's answers only after its READY; a short VIOLATION kills it. */
Test(master, keysvc_breaking_its_table_is_killed)
{
	struct krx_master	 m;
	struct krx_slot		 s;
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_KS_PONG, 1, 0);

	td_slot(&m, &s, KRX_KIND_KEYSVC);
	st_ks_msg = 0;
	spawn_chan_msg(NULL, &h, td_payload, 0, -1, &s);	/* before READY */
	cr_assert_eq(st_ks_msg, 0);
	cr_assert(td_killed(&s));

	td_slot(&m, &s, KRX_KIND_KEYSVC);
	h = td_hdr(KRX_IPC_READY, 0, 0);
	spawn_chan_msg(NULL, &h, td_payload, 0, -1, &s);
	h = td_hdr(KRX_IPC_KS_VIOLATION, 0, 3);
	spawn_chan_msg(NULL, &h, td_payload, 3, -1, &s);
	cr_assert_eq(st_ks_msg, 0);
	cr_assert(td_killed(&s));
}

/* keysvc: refused worker requests get no handler, no count, no reply. */
Test(keysvc, refused_requests_run_nothing)
{
	static struct krx_keysvc	 ks;
	struct krx_ipc_hdr		 h;
	uint64_t			 zero[KRX_KS_N];

	memset(zero, 0, sizeof(zero));
	h = td_hdr(KRX_IPC_KEY_RESOLVE, 1, 9);
	cr_assert_eq(krx_keysvc_dispatch(&ks, 0, &h, td_payload, 9), -1,
	    "a request before INIT");
	ks.ready = 1;
	h = td_hdr(KRX_IPC_KS_ADMIN, 1, 0);
	cr_assert_eq(krx_keysvc_dispatch(&ks, 0, &h, td_payload, 0), -1);
	h = td_hdr(KRX_IPC_KEY_RESOLVE, 1, 8);
	cr_assert_eq(krx_keysvc_dispatch(&ks, 0, &h, td_payload, 8), -1);
	h = td_hdr(KRX_IPC_KEY_STATS, 1, 0);
	h.flags = KRX_IPC_F_FD;
	cr_assert_eq(krx_keysvc_dispatch(&ks, 0, &h, td_payload, 0), -1);
	cr_assert_arr_eq(ks.stats, zero, sizeof(zero));
	cr_assert_eq(ks.limits[0].outstanding, 0);
}

/* keysvc from the master: a second INIT is fatal, KRX_EXIT_IPC. */
Test(keysvc, second_init_exits, .exit_code = KRX_EXIT_IPC)
{
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_KS_INIT, 0,
				    KRX_DEKCACHE_SEAL_LEN);

	krx_dispatch_peer_init(&keysvc_master_peer);
	keysvc_master_peer.state = KRX_DISPATCH_S_READY;
	keysvc_master_peer.seen = 1;		/* row 0, INIT, handled */
	keysvc_master_msg(NULL, &h, td_payload, KRX_DEKCACHE_SEAL_LEN, -1,
	    NULL);
	cr_assert_fail("keysvc accepted a second INIT");
}

/* A PING before INIT: fatal too. */
Test(keysvc, ping_before_init_exits, .exit_code = KRX_EXIT_IPC)
{
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_KS_PING, 1, 0);

	krx_dispatch_peer_init(&keysvc_master_peer);
	keysvc_master_msg(NULL, &h, td_payload, 0, -1, NULL);
	cr_assert_fail("keysvc answered a PING before INIT");
}

/* The worker from the master: an fd with DRAIN is fatal, KRX_EXIT_IPC. */
Test(worker, drain_with_fd_exits, .exit_code = KRX_EXIT_IPC)
{
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_DRAIN, 0, 0);

	h.flags = KRX_IPC_F_FD;
	krx_dispatch_peer_init(&worker_master_peer);
	worker_chan_msg(NULL, &h, td_payload, 0, td_fd(), NULL);
	cr_assert_fail("the worker took an fd with DRAIN");
}

Test(worker, foreign_type_exits, .exit_code = KRX_EXIT_IPC)
{
	struct krx_ipc_hdr	 h = td_hdr(KRX_IPC_KS_INIT, 0, 32);

	krx_dispatch_peer_init(&worker_master_peer);
	worker_chan_msg(NULL, &h, td_payload, 32, -1, NULL);
	cr_assert_fail("the worker took a keysvc message");
}

/* The key client: a refused flush flushes nothing; a good one does. */
Test(keyclient, refused_flush_flushes_nothing)
{
	static struct krx_worker	 w;
	static struct krx_conf		 conf;
	struct krx_keyclient		*kc;
	struct krx_ipc_hdr		 h;
	uint8_t				 flush[12];

	conf.n_vclusters = 1;
	w.conf = &conf;
	cr_assert_not_null(w.base = event_base_new());
	kc = krx_keyclient_new(&w);
	memset(flush, 0, sizeof(flush));	/* vc 0, op 0, all KEKs */
	flush[7] = KRX_KEY_FLUSH_ROTATE;
	st_flush = 0;
	h = td_hdr(KRX_IPC_KEY_FLUSH, 0, 11);
	kc_chan_msg(NULL, &h, flush, 11, -1, kc);
	h = td_hdr(KRX_IPC_KEY_FLUSH, 0, 12);
	h.flags = KRX_IPC_F_FD;
	kc_chan_msg(NULL, &h, flush, 12, -1, kc);
	h = td_hdr(KRX_IPC_KEY_GENERATE, 0, 12);
	kc_chan_msg(NULL, &h, flush, 12, -1, kc);
	cr_assert_eq(st_flush, 0);
	h = td_hdr(KRX_IPC_KEY_FLUSH, 0, 12);
	kc_chan_msg(NULL, &h, flush, 12, -1, kc);
	cr_assert_eq(st_flush, 1);
	krx_keyclient_free(kc);
	event_base_free(w.base);
}
