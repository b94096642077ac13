/*
 * http_test.c: keysvc's HTTP client (keysvc/http.c, built into this
 * test) against loopback servers in a thread of the test
 * (http_testsrv.h): requests as sent, timeouts, retries and their
 * backoff, the classifier, the concurrency cap and the queue bound, size
 * bounds, cancel and free (also from callbacks), connection reuse,
 * SigV4, TLS verification of the peer and of the host name.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>

#include "keysvc/http.c"
#include "tests/unit/http_testsrv.h"

/* ---- the client side ---- */

struct result {
	int			 called;
	long			 status;
	enum krx_http_error	 error;
	char			 why[CURL_ERROR_SIZE];
	char			 body[64];
	size_t			 body_len;
	char			 xreply[16];
	int			 attempt;
	uint64_t		 at;
};

static struct event_base	*base;
static struct krx_http		*H;
static int			 want, got;

static void
on_done(void *arg, const struct krx_http_resp *r)
{
	struct result	*res = arg;
	const char	*v;
	size_t		 len;

	res->called++;
	res->status = r->status;
	res->error = r->error;
	res->attempt = r->attempt;
	res->at = now_ms();
	snprintf(res->why, sizeof(res->why), "%s", r->why);
	res->body_len = r->body_len;
	cr_assert_eq(r->body[r->body_len], '\0');
	snprintf(res->body, sizeof(res->body), "%s", (const char *)r->body);
	if ((v = krx_http_resp_header(r, "x-REPLY", &len)) != NULL)
		snprintf(res->xreply, sizeof(res->xreply), "%.*s", (int)len,
		    v);
	if (++got >= want)
		event_base_loopbreak(base);
}

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

/* Run the loop until n more callbacks came (n 0: none), or for ms. */
static void
run(int n, int ms)
{
	struct event	*guard = evtimer_new(base, on_guard, NULL);
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	want = got + n;
	evtimer_add(guard, &tv);
	if (n == 0 || got < want)
		event_base_dispatch(base);
	event_free(guard);
}

static char	 url[256];

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *
at(const char *path)
{
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", S.port, path);
	return url;
}

static struct krx_http_call *
get(const char *path, struct result *res)
{
	struct krx_http_req	 r = { .method = KRX_HTTP_GET };

	r.url = at(path);
	return krx_http_request(H, &r, on_done, res);
}

static void
setup(void)
{
	static const char *const proxies[] = { "http_proxy", "https_proxy",
	    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy", NULL };
	int	 i;

	for (i = 0; proxies[i] != NULL; i++)
		unsetenv(proxies[i]);
	/* The servers write to peers that may have gone (keysvc too). */
	signal(SIGPIPE, SIG_IGN);
	memset(&S, 0, sizeof(S));
	base = event_base_new();
	cr_assert_not_null(base);
}

static void
teardown(void)
{
	krx_http_free(H);
	H = NULL;
	event_base_free(base);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 30);

static struct krx_http *
client(const struct krx_http_opts *o)
{
	H = krx_http_new(base, o);
	cr_assert_not_null(H);
	return H;
}

static void
client_free(void)
{
	krx_http_free(H);
	H = NULL;
}

Test(http, post_get_put_reach_the_server)
{
	static const char *const hdrs[] = { "X-Test: one",
	    "Content-Type: application/json" };
	struct krx_http_req	 r = { .method = KRX_HTTP_POST,
	    .headers = hdrs, .nheaders = 2, .body = "{\"k\":1}",
	    .body_len = 7 };
	struct result		 res = { 0 };
	struct srv_seen		 s;

	srv_start();
	client(NULL);
	r.url = at("/v1/transit/decrypt/k");
	cr_assert_not_null(krx_http_request(H, &r, on_done, &res));
	run(1, 5000);
	s = seen();
	cr_assert_eq(res.called, 1);
	cr_assert_eq(res.error, KRX_HTTP_OK, "%s", res.why);
	cr_assert_eq(res.status, 200);
	cr_assert_str_eq(res.body, "hello");
	cr_assert_eq(res.body_len, 5);
	cr_assert_str_eq(res.xreply, "yes");
	cr_assert_eq(res.attempt, 1);
	cr_assert(starts(s.last, "POST /v1/transit/decrypt/k HTTP/1.1\r\n"),
	    "%s", s.last);
	cr_assert_not_null(strstr(s.last, "\r\nX-Test: one\r\n"));
	cr_assert_not_null(strstr(s.last,
	    "\r\nContent-Type: application/json\r\n"));
	cr_assert_not_null(strstr(s.last, "\r\nContent-Length: 7\r\n"));
	cr_assert_null(strcasestr(s.last, "Expect"));
	cr_assert_str_eq(strstr(s.last, "\r\n\r\n") + 4, "{\"k\":1}");

	memset(&res, 0, sizeof(res));
	cr_assert_not_null(get("/v1/transit/keys/a", &res));
	run(1, 5000);
	s = seen();
	cr_assert_eq(res.status, 200);
	cr_assert(starts(s.last, "GET /v1/transit/keys/a HTTP/1.1\r\n"),
	    "%s", s.last);

	memset(&res, 0, sizeof(res));
	r.method = KRX_HTTP_PUT;
	r.url = at("/latest/api/token");
	r.body = NULL;
	r.body_len = 0;
	cr_assert_not_null(krx_http_request(H, &r, on_done, &res));
	run(1, 5000);
	s = seen();
	cr_assert_eq(res.status, 200);
	cr_assert(starts(s.last, "PUT /latest/api/token HTTP/1.1\r\n"),
	    "%s", s.last);
	cr_assert_not_null(strstr(s.last, "\r\nContent-Length: 0\r\n"));
	srv_stop();
}

Test(http, timeout_fires)
{
	struct krx_http_opts	 o = { .timeout_ms = 1000, .attempts = 1 };
	struct result		 res = { 0 };
	uint64_t		 t0;

	S.never = 1;
	srv_start();
	client(&o);
	t0 = now_ms();
	cr_assert_not_null(get("/", &res));
	run(1, 5000);
	cr_assert_eq(res.called, 1);
	cr_assert_eq(res.error, KRX_HTTP_E_TIMEOUT, "%d %s", res.error,
	    res.why);
	cr_assert_eq(res.status, 0);
	cr_assert(res.at - t0 >= 950 && res.at - t0 < 2500, "%llu ms",
	    (unsigned long long)(res.at - t0));
	cr_assert_eq(seen().requests, 1);
	srv_stop();
}

/*
 * A request's deadline bounds every attempt and backoff: keysvc answers
 * the worker (which waits KRX_KEY_DEADLINE) before the worker gives up.
 */
Test(http, deadline_bounds_attempts)
{
	struct krx_http_opts	 o = { .timeout_ms = 3000, .attempts = 3,
	    .deadline_ms = 2500 };
	struct result		 res = { 0 };
	uint64_t		 t0;

	S.never = 1;
	srv_start();
	client(&o);
	t0 = now_ms();
	cr_assert_not_null(get("/", &res));
	run(1, 10000);
	cr_assert_eq(res.called, 1);
	cr_assert_eq(res.error, KRX_HTTP_E_TIMEOUT, "%d %s", res.error,
	    res.why);
	/* The attempt's 3 s timeout was cut to the 2.5 s left, and no
	 * second attempt was started without time for it. */
	cr_assert(res.at - t0 >= 2400 && res.at - t0 < 3000, "%llu ms",
	    (unsigned long long)(res.at - t0));
	cr_assert_eq(res.attempt, 1);
	cr_assert_eq(seen().requests, 1);
	srv_stop();
}

Test(http, deadline_cuts_the_last_attempt)
{
	struct krx_http_opts	 o = { .timeout_ms = 1500, .attempts = 5,
	    .backoff_ms = 100, .backoff_max_ms = 100, .deadline_ms = 4000 };
	struct result		 res = { 0 };
	uint64_t		 t0;

	S.never = 1;
	srv_start();
	client(&o);
	t0 = now_ms();
	cr_assert_not_null(get("/", &res));
	run(1, 15000);
	cr_assert_eq(res.called, 1);
	cr_assert_eq(res.error, KRX_HTTP_E_TIMEOUT);
	/* 1.5 s, about 0.1 s, 1.5 s, then no time for a third. */
	cr_assert(res.at - t0 >= 2900 && res.at - t0 < 4300, "%llu ms",
	    (unsigned long long)(res.at - t0));
	cr_assert_eq(res.attempt, 2);
	cr_assert_eq(seen().requests, 2);
	srv_stop();
}

Test(http, connect_refused)
{
	struct krx_http_opts	 o = { .attempts = 1 };
	struct result		 res = { 0 };
	int			 fd, port;

	fd = listen_loopback(&port);
	close(fd);
	client(&o);
	S.port = port;
	cr_assert_not_null(get("/", &res));
	run(1, 5000);
	cr_assert_eq(res.error, KRX_HTTP_E_CONNECT, "%d %s", res.error,
	    res.why);
	cr_assert_eq(res.status, 0);
	cr_assert_gt(strlen(res.why), 0);
}

/* Kroxylicious' bounds: 500 ms, doubling, +-(b(n) - b(n-1)), 5 s cap. */
Test(http, backoff_bounds)
{
	static const long	 lo[] = { 0, 0, 500, 1000, 2000, 4000, 5000,
	    5000 };
	static const long	 hi[] = { 0, 1000, 1500, 3000, 5000, 5000,
	    5000, 5000 };
	long			 d, min[8], max[8];
	int			 n, i;

	for (n = 1; n < 8; n++) {
		min[n] = 1L << 30;
		max[n] = -1;
		for (i = 0; i < 20000; i++) {
			d = http_backoff(500, 5000, n, http_random());
			cr_assert(d >= lo[n] && d <= hi[n], "n=%d d=%ld", n, d);
			min[n] = d < min[n] ? d : min[n];
			max[n] = d > max[n] ? d : max[n];
		}
	}
	/* Jittered across its range, not a constant. */
	for (n = 1; n <= 3; n++)
		cr_assert(min[n] < lo[n] + 50 && max[n] > hi[n] - 50,
		    "n=%d %ld..%ld", n, min[n], max[n]);
	cr_assert_eq(http_backoff(500, 5000, 1, 0), 0);
	cr_assert_eq(http_backoff(500, 5000, 2, 1000), 1500);
	cr_assert_eq(http_backoff(500, 5000, 40, 7), 5000);
}

Test(http, retries_500_then_200_with_backoff)
{
	struct result	 res = { 0 };
	struct srv_seen	 s;
	struct krx_http_stats st;

	S.status[0] = 500;
	S.status[1] = 503;
	S.status[2] = 200;
	S.nstatus = 3;
	srv_start();
	client(NULL);
	cr_assert_not_null(get("/", &res));
	run(1, 10000);
	s = seen();
	cr_assert_eq(res.called, 1);
	cr_assert_eq(res.status, 200);
	cr_assert_eq(res.attempt, 3);
	cr_assert_eq(s.requests, 3);
	/* First retry within [0, 1000] ms, second within [500, 1500]. */
	cr_assert(s.at[1] - s.at[0] <= 1150, "%llu",
	    (unsigned long long)(s.at[1] - s.at[0]));
	cr_assert(s.at[2] - s.at[1] >= 490 && s.at[2] - s.at[1] <= 1650,
	    "%llu", (unsigned long long)(s.at[2] - s.at[1]));
	krx_http_stats(H, &st);
	cr_assert_eq(st.requests, 1);
	cr_assert_eq(st.attempts, 3);
	cr_assert_eq(st.retries, 2);
	cr_assert_eq(st.admitted, 0);
	srv_stop();
}

Test(http, attempts_run_out)
{
	struct krx_http_opts	 o = { .backoff_ms = 20 };
	struct result		 res = { 0 };

	S.status[0] = 500;
	S.nstatus = 1;
	srv_start();
	client(&o);
	cr_assert_not_null(get("/", &res));
	run(1, 5000);
	cr_assert_eq(res.status, 500);
	cr_assert_eq(res.error, KRX_HTTP_OK);
	cr_assert_eq(res.attempt, 3);
	cr_assert_eq(seen().requests, 3);
	srv_stop();
}

static int	classified;

static enum krx_http_verdict
retry_unless_404(void *arg, const struct krx_http_resp *r)
{
	classified++;
	return r->status == 404 ? KRX_HTTP_DONE : KRX_HTTP_RETRY;
}

Test(http, classifier_done_stops_retries)
{
	struct krx_http_opts	 o = { .backoff_ms = 20 };
	struct krx_http_req	 r = { .method = KRX_HTTP_GET,
	    .classify = retry_unless_404, .attempts = 5 };
	struct result		 res = { 0 }, res2 = { 0 };

	S.status[0] = 500;
	S.status[1] = 404;
	S.status[2] = 200;
	S.nstatus = 3;
	srv_start();
	client(&o);
	r.url = at("/v1/transit/keys/gone");
	cr_assert_not_null(krx_http_request(H, &r, on_done, &res));
	run(1, 5000);
	cr_assert_eq(res.status, 404);
	cr_assert_eq(res.attempt, 2);
	cr_assert_eq(classified, 2);
	cr_assert_eq(seen().requests, 2);
	/* The default classifier never retries a 404 either. */
	cr_assert_not_null(get("/", &res2));
	run(1, 5000);
	cr_assert_eq(res2.status, 200);
	S.status[2] = 404;
	memset(&res2, 0, sizeof(res2));
	cr_assert_not_null(get("/", &res2));
	run(1, 5000);
	cr_assert_eq(res2.status, 404);
	cr_assert_eq(res2.attempt, 1);
	cr_assert_eq(seen().requests, 4);
	srv_stop();
}

Test(http, concurrency_cap_queues)
{
	struct krx_http_opts	 o = { .max_active = 2 };
	struct result		 res[5];
	struct krx_http_stats	 st;
	uint64_t		 t0;
	int			 i;

	memset(res, 0, sizeof(res));
	S.delay_ms = 200;
	srv_start();
	client(&o);
	t0 = now_ms();
	for (i = 0; i < 5; i++)
		cr_assert_not_null(get("/", &res[i]));
	krx_http_stats(H, &st);
	cr_assert_eq(st.running, 2);
	cr_assert_eq(st.admitted, 5);
	run(5, 10000);
	for (i = 0; i < 5; i++)
		cr_assert_eq(res[i].status, 200, "%d: %s", i, res[i].why);
	cr_assert_eq(seen().max_active, 2);
	cr_assert_eq(seen().requests, 5);
	/* Three rounds of 200 ms; FIFO: the first two finish first. */
	cr_assert_geq(now_ms() - t0, 590);
	cr_assert(res[4].at >= res[0].at && res[4].at >= res[1].at);
	/* At most max_active idle connections, reused. */
	cr_assert_leq(seen().conns, 2);
	srv_stop();
}

Test(http, queue_bound_refuses_at_once)
{
	struct krx_http_opts	 o = { .max_active = 1, .max_queue = 1 };
	struct result		 res[3];
	struct krx_http_stats	 st;

	memset(res, 0, sizeof(res));
	S.delay_ms = 100;
	srv_start();
	client(&o);
	cr_assert_not_null(get("/", &res[0]));
	cr_assert_not_null(get("/", &res[1]));
	cr_assert_null(get("/", &res[2]));
	krx_http_stats(H, &st);
	cr_assert_eq(st.refused, 1);
	run(2, 5000);
	cr_assert(res[0].status == 200 && res[1].status == 200);
	cr_assert_eq(res[2].called, 0);
	/* Room again. */
	cr_assert_not_null(get("/", &res[2]));
	run(1, 5000);
	cr_assert_eq(res[2].status, 200);
	srv_stop();
}

Test(http, oversize_body_fails)
{
	struct krx_http_opts	 o = { .max_body = 1000, .attempts = 1 };
	struct result		 res = { 0 };

	/* Announced by Content-Length. */
	S.body_size = 5000;
	srv_start();
	client(&o);
	cr_assert_not_null(get("/", &res));
	run(1, 5000);
	cr_assert_eq(res.error, KRX_HTTP_E_TOO_LARGE, "%d %s", res.error,
	    res.why);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(res.body_len, 0);

	/* Exactly the bound is fine. */
	S.body_size = 1000;
	memset(&res, 0, sizeof(res));
	cr_assert_not_null(get("/", &res));
	run(1, 5000);
	cr_assert_eq(res.error, KRX_HTTP_OK, "%s", res.why);
	cr_assert_eq(res.body_len, 1000);

	/* Unannounced: the body runs until the server closes. */
	S.body_size = 1001;
	S.no_length = 1;
	memset(&res, 0, sizeof(res));
	cr_assert_not_null(get("/", &res));
	run(1, 5000);
	cr_assert_eq(res.error, KRX_HTTP_E_TOO_LARGE, "%d %s", res.error,
	    res.why);
	cr_assert_str_eq(res.why, "response body over the size limit");
	srv_stop();
}

static struct krx_http_call	*backoff_call;

static enum krx_http_verdict
retry_and_stop(void *arg, const struct krx_http_resp *r)
{
	event_base_loopbreak(base);
	return KRX_HTTP_RETRY;
}

Test(http, cancel_means_no_callback)
{
	struct krx_http_opts	 o = { .max_active = 1, .backoff_ms = 300 };
	struct krx_http_req	 r = { .method = KRX_HTTP_GET,
	    .classify = retry_and_stop };
	struct krx_http_call	*c;
	struct result		 res[3];
	int			 n;

	memset(res, 0, sizeof(res));
	S.delay_ms = 200;
	srv_start();
	client(&o);
	/* Running, and queued behind it. */
	c = get("/", &res[0]);
	krx_http_cancel(get("/", &res[1]));
	krx_http_cancel(c);
	cr_assert_not_null(get("/", &res[2]));
	run(1, 3000);
	run(1, 400);
	cr_assert(res[0].called == 0 && res[1].called == 0);
	cr_assert_eq(res[2].called, 1);

	/* Waiting for its retry. */
	memset(res, 0, sizeof(res));
	r.url = at("/");
	backoff_call = krx_http_request(H, &r, on_done, &res[0]);
	cr_assert_not_null(backoff_call);
	run(1, 3000);
	cr_assert_eq(backoff_call->state, CALL_BACKOFF);
	n = seen().requests;
	krx_http_cancel(backoff_call);
	run(1, 1500);
	cr_assert_eq(res[0].called, 0);
	cr_assert_eq(seen().requests, n);
	cr_assert_eq(H->ncalls, 0);
	srv_stop();
}

static void
on_done_free(void *arg, const struct krx_http_resp *r)
{
	on_done(arg, r);
	client_free();
}

Test(http, free_cancels_everything)
{
	struct krx_http_opts	 o = { .max_active = 1 };
	struct krx_http_req	 r = { .method = KRX_HTTP_GET };
	struct result		 res[3];

	memset(res, 0, sizeof(res));
	S.delay_ms = 100;
	srv_start();
	client(NULL);
	cr_assert_not_null(get("/", &res[0]));
	cr_assert_not_null(get("/", &res[1]));
	run(0, 50);
	client_free();
	run(1, 400);
	cr_assert(res[0].called == 0 && res[1].called == 0);

	/* From within a callback: the queued ones are never called. */
	client(&o);
	r.url = at("/");
	cr_assert_not_null(krx_http_request(H, &r, on_done_free, &res[0]));
	cr_assert_not_null(get("/", &res[1]));
	cr_assert_not_null(get("/", &res[2]));
	run(1, 3000);
	cr_assert_eq(res[0].called, 1);
	cr_assert_null(H);
	run(1, 600);
	cr_assert(res[1].called == 0 && res[2].called == 0);
	srv_stop();
}

static struct result	 chain[3];
static int		 chained;

static void
on_done_next(void *arg, const struct krx_http_resp *r)
{
	struct krx_http_req	 next = { .method = KRX_HTTP_GET };

	on_done(arg, r);
	if (++chained < 3) {
		next.url = at("/next");
		cr_assert_not_null(krx_http_request(H, &next, on_done_next,
		    &chain[chained]));
	}
}

Test(http, connection_reused)
{
	struct krx_http_req	 r = { .method = KRX_HTTP_GET };
	int			 i;

	srv_start();
	client(NULL);
	/* Each request starts when the previous one has ended. */
	r.url = at("/first");
	cr_assert_not_null(krx_http_request(H, &r, on_done_next, &chain[0]));
	run(3, 5000);
	for (i = 0; i < 3; i++)
		cr_assert_eq(chain[i].status, 200, "%d: %s", i, chain[i].why);
	cr_assert_eq(seen().requests, 3);
	cr_assert_eq(seen().conns, 1);
	srv_stop();
}

/* Each header named in SignedHeaders= is a header line of the request. */
static int
every_signed_header_sent(const char *req)
{
	const char	*p, *end;
	char		 line[64];
	size_t		 n;

	if ((p = strstr(req, "SignedHeaders=")) == NULL)
		return 0;
	for (p += 14; *p != ',' && *p != '\0'; p = *end == ';' ? end + 1 :
	    end) {
		end = p + strcspn(p, ";,");
		n = (size_t)(end - p);
		if (n == 0 || n > 40)
			return 0;
		snprintf(line, sizeof(line), "\r\n%.*s:", (int)n, p);
		if (strcasestr(req, line) == NULL)
			return 0;
	}
	return 1;
}

Test(http, sigv4_signs)
{
	static const char *const hdrs[] = {
	    "Content-Type: application/x-amz-json-1.1",
	    "X-Amz-Target: TrentService.Decrypt" };
	struct krx_http_sigv4	 v = { .region = "eu-west-3",
	    .service = "kms", .access_key = "AKIDEXAMPLE",
	    .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	    .session_token = "FQoGZXIvYXdzEXAMPLETOKEN" };
	struct krx_http_req	 r = { .method = KRX_HTTP_POST,
	    .headers = hdrs, .nheaders = 2, .body = "{}", .body_len = 2,
	    .sigv4 = &v };
	struct result		 res = { 0 };
	struct srv_seen		 s;
	char			 scope[2][96];
	time_t			 t;
	struct tm		 tm;
	int			 i;

	srv_start();
	client(NULL);
	r.url = at("/");
	t = time(NULL);
	cr_assert_not_null(krx_http_request(H, &r, on_done, &res));
	run(1, 5000);
	cr_assert_eq(res.status, 200, "%s", res.why);
	s = seen();
	/* The scope carries the date of signing: before or after. */
	for (i = 0; i < 2; i++, t = time(NULL)) {
		gmtime_r(&t, &tm);
		strftime(scope[i], sizeof(scope[i]), "\r\nAuthorization: "
		    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%Y%m%d/"
		    "eu-west-3/kms/aws4_request, ", &tm);
	}
	cr_assert(strstr(s.last, scope[0]) != NULL ||
	    strstr(s.last, scope[1]) != NULL, "%s", s.last);
	cr_assert_not_null(strstr(s.last, ", Signature="));
	cr_assert(every_signed_header_sent(s.last), "%s", s.last);
	cr_assert_not_null(strstr(s.last, "x-amz-target"));
	cr_assert_not_null(strstr(s.last, "\r\nX-Amz-Date: "));
	cr_assert_not_null(strstr(s.last,
	    "\r\nX-Amz-Security-Token: FQoGZXIvYXdzEXAMPLETOKEN\r\n"));
	/* The secret itself never travels. */
	cr_assert_null(strstr(s.last, "wJalrXUtnFEMI"));

	/* Malformed settings are refused at once. */
	v.region = "eu:west";
	cr_assert_null(krx_http_request(H, &r, on_done, &res));
	srv_stop();
}

Test(http, invalid_requests_refused)
{
	static const char *const crlf[] = { "X-A: 1\r\nX-B: 2" };
	static const char *const nocolon[] = { "X-A 1" };
	struct krx_http_req	 r = { .method = KRX_HTTP_GET,
	    .url = "http://127.0.0.1:9/" };
	struct result		 res = { 0 };
	struct krx_http_stats	 st;

	client(NULL);
	r.headers = crlf;
	r.nheaders = 1;
	cr_assert_null(krx_http_request(H, &r, on_done, &res));
	r.headers = nocolon;
	cr_assert_null(krx_http_request(H, &r, on_done, &res));
	r.nheaders = 0;
	r.method = (enum krx_http_method)7;
	cr_assert_null(krx_http_request(H, &r, on_done, &res));
	r.method = KRX_HTTP_GET;
	r.url = NULL;
	cr_assert_null(krx_http_request(H, &r, on_done, &res));
	r.url = "http://127.0.0.1:9/a b";
	cr_assert_null(krx_http_request(H, &r, on_done, &res));
	krx_http_stats(H, &st);
	cr_assert_eq(st.refused, 5);
	cr_assert_eq(st.requests, 0);
}

/* ---- TLS ---- */

static int	hook_calls;

static int
trust_test_cert(void *arg, SSL_CTX *ctx)
{
	hook_calls++;
	return X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), tls_cert) ==
	    1 ? 0 : -1;
}

static int
refuse_tls(void *arg, SSL_CTX *ctx)
{
	return -1;
}

static void
tls_get(const char *host, struct result *res)
{
	struct krx_http_req	 r = { .method = KRX_HTTP_GET, .url = url };

	memset(res, 0, sizeof(*res));
	snprintf(url, sizeof(url), "https://%s:%d/", host, S.port);
	cr_assert_not_null(krx_http_request(H, &r, on_done, res));
	run(1, 10000);
	cr_assert_eq(res->called, 1);
}

Test(http, tls_verifies_peer_and_host_name)
{
	struct krx_http_opts	 o = { .tls_hook = trust_test_cert,
	    .attempts = 1 };
	struct result		 res;

	tls_start();
	client(&o);
	/* Trusted through the hook, name matches. */
	tls_get("127.0.0.1", &res);
	cr_assert_eq(res.error, KRX_HTTP_OK, "%s", res.why);
	cr_assert_eq(res.status, 200);
	cr_assert_str_eq(res.body, "tls ok");
	cr_assert_geq(hook_calls, 1);
	/* Trusted, but the host name is not in the certificate. */
	tls_get("localhost", &res);
	cr_assert_eq(res.error, KRX_HTTP_E_TLS, "%d %s", res.error, res.why);
	cr_assert_eq(res.status, 0);
	client_free();

	/* Not trusted at all (system store only). */
	o.tls_hook = NULL;
	client(&o);
	tls_get("127.0.0.1", &res);
	cr_assert_eq(res.error, KRX_HTTP_E_TLS, "%d %s", res.error, res.why);
	client_free();

	/* A hook that fails fails the attempt, TLS class. */
	o.tls_hook = refuse_tls;
	client(&o);
	tls_get("127.0.0.1", &res);
	cr_assert_eq(res.error, KRX_HTTP_E_TLS, "%d %s", res.error, res.why);
	client_free();

	/* insecure: neither the chain nor the name is checked. */
	o.tls_hook = NULL;
	o.insecure = 1;
	client(&o);
	tls_get("localhost", &res);
	cr_assert_eq(res.error, KRX_HTTP_OK, "%s", res.why);
	cr_assert_eq(res.status, 200);
	tls_stop();
}

Test(http, tls_ca_file)
{
	char			 path[] = "/tmp/krx-http-ca-XXXXXX";
	struct krx_http_opts	 o = { .attempts = 1 };
	struct result		 res;
	FILE			*fp;
	int			 fd;

	tls_start();
	cr_assert_neq(fd = mkstemp(path), -1);
	cr_assert_not_null(fp = fdopen(fd, "w"));
	cr_assert_eq(PEM_write_X509(fp, tls_cert), 1);
	fclose(fp);
	o.ca_file = path;
	client(&o);
	tls_get("127.0.0.1", &res);
	cr_assert_eq(res.error, KRX_HTTP_OK, "%s", res.why);
	cr_assert_eq(res.status, 200);
	unlink(path);
	tls_stop();
}

/*
 * A TLS 1.3 server refusing the client's certificate alerts after the
 * handshake: libcurl reports the alert as a receive (or send) error.
 * That is a TLS failure (not retried, logged as TLS); a reset or an EOF
 * under SSL_read stays a transport error.
 */
Test(http, post_handshake_alert_is_tls)
{
	struct krx_http_call	 c;

	memset(&c, 0, sizeof(c));
	snprintf(c.errbuf, sizeof(c.errbuf), "OpenSSL SSL_read: OpenSSL/3.0"
	    ".19: error:0A00045C:SSL routines::tlsv13 alert certificate "
	    "required, errno 0");
	cr_assert_eq(http_class_call(&c, CURLE_RECV_ERROR), KRX_HTTP_E_TLS);
	cr_assert_eq(http_class_call(&c, CURLE_SEND_ERROR), KRX_HTTP_E_TLS);
	snprintf(c.errbuf, sizeof(c.errbuf), "OpenSSL SSL_read: Connection "
	    "reset by peer, errno 104");
	cr_assert_eq(http_class_call(&c, CURLE_RECV_ERROR), KRX_HTTP_E_OTHER);
	snprintf(c.errbuf, sizeof(c.errbuf), "OpenSSL SSL_read: error:"
	    "0A000126:SSL routines::unexpected eof while reading, errno 0");
	cr_assert_eq(http_class_call(&c, CURLE_RECV_ERROR), KRX_HTTP_E_OTHER);
	snprintf(c.errbuf, sizeof(c.errbuf), "Send failure: Broken pipe");
	cr_assert_eq(http_class_call(&c, CURLE_SEND_ERROR), KRX_HTTP_E_OTHER);
	c.errbuf[0] = '\0';
	cr_assert_eq(http_class_call(&c, CURLE_COULDNT_CONNECT),
	    KRX_HTTP_E_CONNECT);
}
