/*
 * call.c: krx-ctl's transport: connect to the control socket, send one
 * typed request carrying the IPC version, read one typed reply; say
 * clearly why when krxd is not there, the socket is closed to this
 * user, or krxd's permission table refuses the request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

/* Why connect(2) failed, in words an operator can act on. */
static int
ctl_connect_error(const char *path, int err)
{
	switch (err) {
	case ENOENT:
		return ctl_fail(CTL_EXIT_NOT_RUNNING, "krxd is not running "
		    "(no socket at %s)", path);
	case ECONNREFUSED:
		return ctl_fail(CTL_EXIT_NOT_RUNNING, "krxd is not running "
		    "(nothing listens on %s)", path);
	case EACCES:
	case EPERM:
		return ctl_fail(CTL_EXIT_DENIED, "cannot open %s: permission "
		    "denied; run as root or a member of %s%s", path,
		    ctl_group != NULL ? "group " : "krxd's control_group",
		    ctl_group != NULL ? ctl_group : "");
	default:
		return ctl_fail(CTL_EXIT_FAILED, "cannot connect to %s: %s",
		    path, strerror(err));
	}
}

int
ctl_connect(const char *path, int *code)
{
	struct sockaddr_un	 sun;
	int			 fd, err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*code = ctl_fail(CTL_EXIT_FAILED, "socket path too long: %s",
		    path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		err = errno;
		if (fd != -1)
			close(fd);
		*code = ctl_connect_error(path, err);
		return -1;
	}
	return fd;
}

static int
ctl_write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int
ctl_read_all(int fd, uint8_t *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Send one request, read one reply into payload: 0, 1 for a reply with
 * F_ERROR (payload holds the error), or -1 (printed).
 */
int
ctl_call(int fd, uint32_t type, const void *req, size_t len,
    struct krx_ipc_hdr *h, struct krx_buf *payload)
{
	struct krx_buf	 out;
	uint8_t		 raw[KRX_IPC_HDR_LEN];
	int		 r;

	krx_buf_init(&out, 0);
	r = krx_ipc_compose(&out, type, 1, 0, req, len);
	if (r == KRX_OK && ctl_write_all(fd, out.data, out.len) != 0)
		r = KRX_E_IO;
	krx_buf_free(&out);
	if (r == KRX_OK && ctl_read_all(fd, raw, sizeof(raw)) != 0)
		r = KRX_E_IO;
	if (r == KRX_OK)
		r = krx_ipc_hdr_parse(raw, sizeof(raw), KRX_IPC_MAX_CTL_REPLY, h);
	if (r == KRX_OK && krx_buf_reserve(payload, h->len - sizeof(raw)) ==
	    KRX_OK) {
		payload->len = h->len - sizeof(raw);
		if (ctl_read_all(fd, payload->data, payload->len) != 0)
			r = KRX_E_IO;
	}
	if (r != KRX_OK) {
		ctl_fail(CTL_EXIT_FAILED, "%s", r == KRX_E_VERSION ?
		    "krx-ctl and krxd versions differ" : r == KRX_E_IO ?
		    "krxd closed the connection" : krx_strerror(r));
		return -1;
	}
	if (h->type == KRX_IPC_CTL_DENIED) {
		payload->len = payload->len > 512 ? 512 : payload->len;
		exit(ctl_fail(CTL_EXIT_DENIED, "%.*s", (int)payload->len,
		    (const char *)payload->data));
	}
	return (h->flags & KRX_IPC_F_ERROR) ? 1 : 0;
}

/* For replies whose error payload is plain text. */
int
ctl_call_text(int fd, uint32_t type, const void *req, size_t len,
    struct krx_ipc_hdr *h, struct krx_buf *payload)
{
	int	 r = ctl_call(fd, type, req, len, h, payload);

	if (r == 1)
		ctl_fail(CTL_EXIT_FAILED, "krxd: %.*s", (int)payload->len,
		    (const char *)payload->data);
	return r == 0 ? 0 : -1;
}
