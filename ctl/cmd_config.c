/*
 * cmd_config.c: krx-ctl config-test FILE: the checks `krxd -t` runs
 * (syntax, cross-field, the root rule, the KMS providers this krxd
 * has, every TLS file read and checked), without a running krxd.
 * Those checks live in krxd's own code (master/confload.c and the TLS
 * contexts of master/cycle.c, which pull in the KMS providers and the
 * workers' TLS code): krx-ctl runs that krxd with -t rather than
 * linking a second copy that could drift, and reports its verdict
 * (exit 0 valid, 1 not; -j: every error as {file, line, message}).
 * krxd is looked for next to krx-ctl, in ../sbin from it, then in
 * /usr/sbin and /usr/local/sbin.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/limits.h"
#include "ctl/ctl.h"

#define CONFIG_OUT_MAX	(1024 * 1024)	/* of krxd -t's output */

/* krxd's path into out: 0, or -1 when none is found. */
static int
config_find_krxd(char *out, size_t len)
{
	static const char *const rel[] = { "krxd", "../sbin/krxd" };
	static const char *const abs[] = { "/usr/sbin/krxd",
	    "/usr/local/sbin/krxd" };
	char		 self[PATH_MAX], *slash;
	ssize_t		 n;
	size_t		 i;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++)
			if (snprintf(out, len, "%s/%s", self, rel[i]) <
			    (int)len && access(out, X_OK) == 0)
				return 0;
	}
	for (i = 0; i < sizeof(abs) / sizeof(abs[0]); i++)
		if (snprintf(out, len, "%s", abs[i]) < (int)len &&
		    access(out, X_OK) == 0)
			return 0;
	return -1;
}

/* Read both pipes to their end (each capped); 0 or -1. */
static int
config_drain(int ofd, int efd, struct krx_buf *out, struct krx_buf *err)
{
	struct pollfd	 pf[2] = { { ofd, POLLIN, 0 }, { efd, POLLIN, 0 } };
	struct krx_buf	*b[2] = { out, err };
	char		 chunk[4096];
	ssize_t		 n;
	int		 i, open = 2;

	while (open > 0) {
		if (poll(pf, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < 2; i++) {
			if (pf[i].fd == -1 || pf[i].revents == 0)
				continue;
			n = read(pf[i].fd, chunk, sizeof(chunk));
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				pf[i].fd = -1;
				open--;
			} else if (b[i]->len + (size_t)n <= CONFIG_OUT_MAX)
				krx_buf_put(b[i], chunk, (size_t)n);
		}
	}
	return out->err == KRX_OK && err->err == KRX_OK ? 0 : -1;
}

/* krxd -t -c path: its exit status (or -1), its stdout and stderr. */
static int
config_run(const char *krxd, const char *path, struct krx_buf *out,
    struct krx_buf *err)
{
	int	 op[2], ep[2], status, r;
	pid_t	 pid;

	if (pipe2(op, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(ep, O_CLOEXEC) == -1) {
		close(op[0]);
		close(op[1]);
		return -1;
	}
	if ((pid = fork()) == 0) {
		dup2(op[1], STDOUT_FILENO);
		dup2(ep[1], STDERR_FILENO);
		execl(krxd, "krxd", "-t", "-c", path, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", krxd, strerror(errno));
		_exit(127);
	}
	close(op[1]);
	close(ep[1]);
	r = pid == -1 ? -1 : config_drain(op[0], ep[0], out, err);
	close(op[0]);
	close(ep[0]);
	if (pid == -1)
		return -1;
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (r != 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* One error line "FILE:LINE: text" as {file, line, message}. */
static void
config_json_error(const char *s, size_t n, const char *path, int first)
{
	size_t		 plen = strlen(path), i;
	unsigned long	 line = 0;

	printf("%s\n  {", first ? "" : ",");
	if (n > plen + 1 && strncmp(s, path, plen) == 0 && s[plen] == ':') {
		for (i = plen + 1; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			line = line * 10 + (unsigned long)(s[i] - '0');
		if (i > plen + 1 && i < n && s[i] == ':') {
			i += (i + 1 < n && s[i + 1] == ' ') ? 2 : 1;
			printf("\"file\": ");
			ctl_json_cstr(stdout, path);
			printf(", \"line\": %lu, \"message\": ", line);
			ctl_json_str(stdout, s + i, n - i);
			printf("}");
			return;
		}
	}
	printf("\"file\": null, \"line\": null, \"message\": ");
	ctl_json_str(stdout, s, n);
	printf("}");
}

/* The lines of t as a JSON list: errors (parsed) or plain strings. */
static void
config_json_lines(const struct krx_buf *t, const char *path, int errors)
{
	const char	*s = (const char *)t->data, *end = s + t->len, *nl;
	int		 first = 1;

	for (; s < end; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		if (nl == s || (errors && strncmp(s, "krxd: ", 6) == 0))
			continue;
		if (errors)
			config_json_error(s, (size_t)(nl - s), path, first);
		else {
			printf("%s\n  ", first ? "" : ",");
			ctl_json_str(stdout, s, (size_t)(nl - s));
		}
		first = 0;
	}
}

static void
config_json(const char *path, int valid, const struct krx_buf *err)
{
	printf("{\"file\": ");
	ctl_json_cstr(stdout, path);
	printf(", \"valid\": %s", valid ? "true" : "false");
	if (!valid) {
		printf(", \"error\": ");
		ctl_json_cstr(stdout, "configuration is not valid");
	}
	printf(", \"%s\": [", valid ? "warnings" : "errors");
	config_json_lines(err, path, !valid);
	printf("]}\n");
}

int
cmd_config_test(int fd, int argc, char **argv)
{
	struct krx_buf	 out, err;
	char		 krxd[PATH_MAX];
	int		 st;

	if (argc != 2)
		ctl_usage();
	if (config_find_krxd(krxd, sizeof(krxd)) != 0)
		return ctl_fail(CTL_EXIT_FAILED, "config-test: krxd not found "
		    "(next to krx-ctl, in /usr/sbin or /usr/local/sbin)");
	krx_buf_init(&out, 256);
	krx_buf_init(&err, 1024);
	st = config_run(krxd, argv[1], &out, &err);
	if (st != 0 && st != KRX_EXIT_CONFIG)
		st = ctl_fail(CTL_EXIT_FAILED, "config-test: %s -t failed "
		    "(%d): %.*s", krxd, st, (int)err.len,
		    (const char *)err.data);
	else if (ctl_json)
		config_json(argv[1], st == 0, &err);
	else {
		fwrite(out.data, 1, out.len, stdout);
		fwrite(err.data, 1, err.len, stderr);
	}
	krx_buf_free(&out);
	krx_buf_free(&err);
	return st == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
