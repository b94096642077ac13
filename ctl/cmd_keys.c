/*
 * cmd_keys.c: krx-ctl kek and kms, answered by keysvc (relayed by the
 * master): text, never key bytes; the exit code says what failed (3
 * not found, 4 access denied, 5 KMS unreachable, 1 other). With -j the
 * text becomes JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

/* One key command: u8 op | str cluster | str arg; reply u8 code | text. */
int
ctl_keys_call(int fd, uint8_t op, const char *arg, struct krx_buf *text)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 req, p;
	int			 r = CTL_EXIT_FAILED;

	krx_buf_init(&req, 64);
	krx_buf_init(&p, 0);
	krx_buf_put_u8(&req, op);
	krx_buf_put_be32(&req, (uint32_t)strlen(ctl_cluster));
	krx_buf_put(&req, ctl_cluster, strlen(ctl_cluster));
	krx_buf_put_be32(&req, (uint32_t)strlen(arg));
	krx_buf_put(&req, arg, strlen(arg));
	if (req.err != KRX_OK)
		ctl_fail(r, "out of memory");
	else if (ctl_call(fd, KRX_IPC_CTL_KEYS, req.data, req.len, &h, &p) ==
	    -1)
		;	/* printed */
	else if (h.type != KRX_IPC_CTL_OK || p.len < 1)
		ctl_fail(r, "malformed reply");
	else {
		r = p.data[0];
		krx_buf_put(text, p.data + 1, p.len - 1);
	}
	krx_buf_free(&req);
	krx_buf_free(&p);
	return r;
}

/* Without -j: the text as keysvc wrote it; failures on stderr. */
static int
keys_print(int r, const struct krx_buf *t)
{
	if (r == 0)
		printf("%.*s", (int)t->len, (const char *)t->data);
	else if (t->len > 0)
		ctl_fail(r, "%.*s", (int)t->len, (const char *)t->data);
	return r;
}

/* "NAME version V created T" lines -> {"keks": [...]}. */
static void
kek_list_json(const struct krx_buf *t)
{
	char		*s, *line, *save = NULL, name[256];
	unsigned	 version;
	long long	 created;
	int		 first = 1;

	if ((s = strndup((const char *)t->data, t->len)) == NULL)
		return;
	printf("{\"keks\": [");
	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%255s version %u created %lld", name,
		    &version, &created) != 3)
			continue;
		printf("%s\n  {\"name\": ", first ? "" : ",");
		ctl_json_cstr(stdout, name);
		printf(", \"version\": %u, \"created\": %lld}", version,
		    created);
		first = 0;
	}
	printf("\n]}\n");
	free(s);
}

static int
kek_run(int fd, uint8_t op, const char *arg)
{
	struct krx_buf	 t;
	int		 r;

	krx_buf_init(&t, 0);
	r = ctl_keys_call(fd, op, arg, &t);
	if (!ctl_json || (r != 0 && t.len == 0))
		keys_print(r, &t);
	else if (r != 0)
		ctl_fail(r, "%.*s", (int)t.len, (const char *)t.data);
	else if (op == KRX_KEYS_KEK_LIST)
		kek_list_json(&t);
	else {
		printf("{\"kek\": ");
		ctl_json_cstr(stdout, arg);
		printf(", \"message\": ");
		ctl_json_str(stdout, (const char *)t.data, t.len);
		printf("}\n");
	}
	krx_buf_free(&t);
	return r;
}

int
cmd_kek(int fd, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return kek_run(fd, KRX_KEYS_KEK_LIST, "");
	if (argc != 3)
		ctl_usage();
	if (strcmp(argv[1], "create") == 0)
		return kek_run(fd, KRX_KEYS_KEK_CREATE, argv[2]);
	if (strcmp(argv[1], "rotate") == 0)
		return kek_run(fd, KRX_KEYS_KEK_ROTATE, argv[2]);
	if (strcmp(argv[1], "delete") == 0)
		return kek_run(fd, KRX_KEYS_KEK_DELETE, argv[2]);
	ctl_usage();
}

int
cmd_kms(int fd, int argc, char **argv)
{
	struct krx_buf	 t;
	int		 r;

	if (argc != 3 || strcmp(argv[1], "check") != 0)
		ctl_usage();
	krx_buf_init(&t, 0);
	r = ctl_keys_call(fd, KRX_KEYS_KMS_CHECK, argv[2], &t);
	if (!ctl_json || (r != 0 && t.len == 0))
		keys_print(r, &t);
	else if (r != 0)
		ctl_fail(r, "%.*s", (int)t.len, (const char *)t.data);
	else {
		printf("{\"kek\": ");
		ctl_json_cstr(stdout, argv[2]);
		printf(", \"ok\": true}\n");
	}
	krx_buf_free(&t);
	return r;
}
