/*
 * httpd_test.c: the worker's metrics listener (worker/httpd.c, built in
 * with a small connection cap and timeout) on a loopback socket, the
 * event loop pumped by the test: routes, HEAD without a body, 404 and
 * 405 with Allow; over the cap the oldest idle connection is shed and
 * the new one served; a client trickling its request is closed by the
 * deadline; a drain closes the socket, answers what is open with
 * Connection: close and tells the worker when the last one is gone;
 * /metrics is rendered once per HTTP_CACHE_MS whatever the number of
 * requests, answers sharing the rendered body (here a fake renderer's:
 * the real one is tested with the counters).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#define HTTP_MAX_CONNS	4
#define HTTP_TIMEOUT	1
#include "worker/httpd.c"

static int	test_gone;	/* krx_worker_session_gone calls */

void
krx_worker_session_gone(struct krx_worker *w)
{
	test_gone++;
}

void
krx_worker_metrics_src(const struct krx_worker *w,
    struct krx_metrics_src *out)
{
	memset(out, 0, sizeof(*out));
}

static int	test_renders;

int
krx_metrics_render(const struct krx_metrics_src *src, struct krx_buf *out)
{
	char	 line[64];
	int	 n;

	n = snprintf(line, sizeof(line), "fake_renders_total %d\n",
	    ++test_renders);
	return krx_buf_put(out, line, (size_t)n);
}

static const char test_page[] = "<!DOCTYPE html><html>hi</html>";

const char *
krx_status_page(size_t *len)
{
	*len = sizeof(test_page) - 1;
	return test_page;
}

static struct krx_worker	 test_w;
static struct krx_httpd		*test_h;
static int			 test_port;

static void
setup(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 fd;

	test_gone = 0;
	test_renders = 0;
	test_w.base = event_base_new();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	cr_assert(listen(fd, 64) == 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	test_port = ntohs(sin.sin_port);
	test_h = krx_httpd_new(&test_w, fd);
	cr_assert_not_null(test_h);
}

static void
teardown(void)
{
	krx_httpd_free(test_h);
	event_base_free(test_w.base);
}

static void
pump(int ms)
{
	int	 i;

	for (i = 0; i < ms; i++) {
		event_base_loop(test_w.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static int
client(void)
{
	struct sockaddr_in	 sin;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(test_port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	pump(5);
	return fd;
}

/* A blocking connect to the port is refused. */
static int
refused(void)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(test_port);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno == ECONNREFUSED;
	close(fd);
	return r;
}

/* Whatever fd has to read (pumping up to ms); 1 once it saw EOF. */
static int
drain_fd(int fd, char *buf, size_t cap, int ms)
{
	size_t	 len = 0;
	ssize_t	 n;
	int	 i;

	buf[0] = '\0';
	for (i = 0; i < ms; i++) {
		event_base_loop(test_w.base, EVLOOP_NONBLOCK);
		n = read(fd, buf + len, cap - 1 - len);
		if (n == 0 || (n == -1 && errno != EAGAIN))
			return 1;
		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
		}
		usleep(1000);
	}
	return 0;
}

static void
ask(const char *req, char *buf, size_t cap)
{
	int	 fd = client();

	cr_assert(fd != -1);
	cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	drain_fd(fd, buf, cap, 300);
	close(fd);
}

TestSuite(httpd, .init = setup, .fini = teardown);

Test(httpd, routes)
{
	char	 b[4096];

	ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", b, sizeof(b));
	cr_assert(strncmp(b, "HTTP/1.1 200 ", 13) == 0, "%s", b);
	cr_assert(strstr(b, "Content-Type: text/html; charset=utf-8\r\n"));
	cr_assert(strstr(b, "Content-Security-Policy: "));
	cr_assert(strstr(b, "\r\n\r\n<!DOCTYPE html><html>hi</html>"));
	ask("HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n", b, sizeof(b));
	cr_assert(strncmp(b, "HTTP/1.1 200 ", 13) == 0, "%s", b);
	cr_assert(strstr(b, "Content-Length: 30\r\n"), "%s", b);
	cr_assert(strstr(b, "<html>") == NULL, "HEAD with a body: %s", b);
	ask("GET /healthz HTTP/1.0\r\n\r\n", b, sizeof(b));
	cr_assert(strstr(b, " 200 ") && strstr(b, "\r\n\r\nok\n"), "%s", b);
	ask("GET /metricz HTTP/1.1\r\nHost: x\r\n\r\n", b, sizeof(b));
	cr_assert(strncmp(b, "HTTP/1.1 404 ", 13) == 0, "%s", b);
	ask("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", b, sizeof(b));
	cr_assert(strncmp(b, "HTTP/1.1 405 ", 13) == 0, "%s", b);
	cr_assert(strstr(b, "Allow: GET, HEAD\r\n"), "%s", b);
	ask("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	    b, sizeof(b));
	cr_assert(strstr(b, " 413 ") || strstr(b, " 405 "), "%s", b);
}

Test(httpd, too_many_headers)
{
	char	 req[4096], b[4096];
	size_t	 len;
	int	 i;

	len = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_MAX_HEADERS + 1; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
		    "X-%d: v\r\n", i);
	snprintf(req + len, sizeof(req) - len, "\r\n");
	ask(req, b, sizeof(b));
	cr_assert(strncmp(b, "HTTP/1.1 431 ", 13) == 0, "%s", b);
}

Test(httpd, cap_sheds_oldest_idle)
{
	static const char	 req[] =
	    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char			 b[2048];
	int			 fds[HTTP_MAX_CONNS], fd, i;

	for (i = 0; i < HTTP_MAX_CONNS; i++)
		cr_assert((fds[i] = client()) != -1);
	pump(20);
	cr_assert_eq(test_h->n_conns, HTTP_MAX_CONNS);
	fd = client();
	cr_assert(write(fd, req, sizeof(req) - 1) == sizeof(req) - 1);
	drain_fd(fd, b, sizeof(b), 200);
	cr_assert(strstr(b, " 200 ") != NULL, "new client: %s", b);
	cr_assert(drain_fd(fds[0], b, sizeof(b), 50), "oldest not shed");
	for (i = 1; i < HTTP_MAX_CONNS; i++)
		cr_assert(!drain_fd(fds[i], b, sizeof(b), 5), "%d shed", i);
	cr_assert_eq(test_h->n_conns, HTTP_MAX_CONNS);
	cr_assert_eq(test_h->shed, 1);
	for (i = 0; i < HTTP_MAX_CONNS; i++)
		close(fds[i]);
	close(fd);
	pump(50);
	cr_assert_eq(test_h->n_conns, 0);
}

Test(httpd, trickle_closed_by_deadline)
{
	static const char	 req[] =
	    "GET / HTTP/1.1\r\nX-Slow: zzzzzzzzzzzzzz";
	struct timespec		 t0, t1;
	char			 b[256];
	int			 fd, i, closed = 0;

	fd = client();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; req[i] != '\0' && !closed; i++) {
		if (write(fd, req + i, 1) != 1)
			break;
		closed = drain_fd(fd, b, sizeof(b), 200);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert(closed, "never closed");
	cr_assert(t1.tv_sec - t0.tv_sec <= 3, "closed after %lds",
	    (long)(t1.tv_sec - t0.tv_sec));
	close(fd);
}

Test(httpd, drain)
{
	static const char	 req[] =
	    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char			 b[2048];
	int			 fd;

	fd = client();
	pump(20);
	krx_httpd_drain(test_h);
	cr_assert(!krx_httpd_idle(test_h));
	cr_assert(refused(), "still accepting after the drain");
	cr_assert(write(fd, req, sizeof(req) - 1) == sizeof(req) - 1);
	cr_assert(drain_fd(fd, b, sizeof(b), 300), "not closed: %s", b);
	cr_assert(strstr(b, " 503 ") && strstr(b, "Connection: close\r\n"),
	    "%s", b);
	cr_assert(krx_httpd_idle(test_h));
	cr_assert_eq(test_gone, 1);
	close(fd);
}

Test(httpd, metrics_rendered_once_per_interval)
{
	static const char	 req[] =
	    "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	char			 b[2048];
	int			 fds[3], i;

	for (i = 0; i < 3; i++) {
		fds[i] = client();
		cr_assert(write(fds[i], req, sizeof(req) - 1) ==
		    sizeof(req) - 1);
	}
	for (i = 0; i < 3; i++) {
		drain_fd(fds[i], b, sizeof(b), 100);
		cr_assert(strstr(b, "Content-Type: text/plain; version=0.0.4; "
		    "charset=utf-8\r\n"), "%s", b);
		cr_assert(strstr(b, "\r\n\r\nfake_renders_total 1\n"), "%s",
		    b);
		close(fds[i]);
	}
	ask("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b, sizeof(b));
	cr_assert(strstr(b, "Content-Length: 21\r\n"), "%s", b);
	cr_assert_eq(test_renders, 1);
	usleep((HTTP_CACHE_MS + 50) * 1000);
	ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b, sizeof(b));
	cr_assert(strstr(b, "\r\n\r\nfake_renders_total 2\n"), "%s", b);
	cr_assert_eq(test_renders, 2);
}
