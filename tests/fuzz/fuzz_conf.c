/*
 * fuzz_conf.c: libFuzzer harness for the configuration loader
 * (conf/conf.c, conf_enc.c, conf_check.c over libconfig 1.5).
 *
 * The input is the text of a krxd.conf (up to its first NUL byte). It
 * is loaded twice: from a string (krx_conf_load_string) and from a file
 * (krx_conf_load, the memfd behind /proc/self/fd/N, as krxd -c reads
 * it); both must agree. Besides "no crash, no leak" it checks:
 *   - on error, no configuration, 1..KRX_CONF_MAX_ERRORS messages, each
 *     naming its file;
 *   - on success, what the loader promises: at least one virtual
 *     cluster, host:port values with ports 1..65535, at least one
 *     upstream broker, node ports in range and apart from the bootstrap
 *     port, a LocalKms keystore and a template for record_encryption,
 *     refresh age not above expiry age;
 *   - the KEK alias of a topic made of the template (krx_conf_kek_alias)
 *     fits its buffer and is NUL-terminated, and krx_conf_kms_id too.
 * Inputs with "@include" are skipped: the file is trusted (written by
 * the operator) and an include of /dev/zero or a FIFO would only test
 * the fuzzer's patience.
 *
 * libconfig 1.5's lexer leaks on some bad input (see
 * ../shared/research/environment.md): run with
 * LSAN_OPTIONS=suppressions=tests/lsan.supp, as make fuzz-run does.
 *
 * Seeds (tests/fuzz/corpus/conf): conf/krxd.conf.example and the
 * configurations of the unit and integration tests (mkcorpus.py).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "conf/conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 fz_fd = -1;
static char	 fz_path[64];

static void
fz_check(int ok)
{
	if (!ok)
		abort();
}

static void
fz_hostport(const struct krx_hostport *hp)
{
	fz_check(hp->host != NULL && hp->port >= 1 && hp->port <= 65535);
}

static void
fz_encryption(const struct krx_conf_encryption *e)
{
	char	 out[256], id[1024];
	int	 r;

	if (!e->enabled)
		return;
	/* LocalKms has its keystore; the others (issue 10) have none. */
	fz_check(e->kms != NULL && e->template != NULL);
	fz_check((e->kms_conf.kind == KRX_CONF_KMS_LOCAL) ==
	    (strcmp(e->kms, "LocalKms") == 0));
	fz_check((e->keystore != NULL) ==
	    (e->kms_conf.kind == KRX_CONF_KMS_LOCAL));
	fz_check(e->dek_refresh_after >= 1 &&
	    e->dek_refresh_after <= e->dek_expire_after &&
	    e->max_encryptions_per_dek >= 1 &&
	    e->max_encryptions_per_dek <= (int64_t)1 << 32);
	/* The topic is the template itself: any bytes, any length. */
	memset(out, 0x5a, sizeof(out));
	r = krx_conf_kek_alias(e->template, e->template, strlen(e->template),
	    out, sizeof(out));
	fz_check(r == KRX_OK || r == KRX_E_TOO_BIG);
	if (r == KRX_OK)
		fz_check(memchr(out, '\0', sizeof(out)) != NULL);
	r = krx_conf_kms_id(e, id, sizeof(id));
	fz_check(r == KRX_OK || r == KRX_E_TOO_BIG);
	if (r == KRX_OK)
		fz_check(strncmp(id, e->kms, strlen(e->kms)) == 0 &&
		    id[strlen(e->kms)] == ':');
}

static void
fz_ok(const struct krx_conf *conf)
{
	const struct krx_conf_vcluster	*vc;
	size_t				 i, j;

	fz_check(conf->n_vclusters >= 1 && conf->path != NULL &&
	    conf->pid_file != NULL && conf->control_socket != NULL &&
	    conf->max_frame_bytes >= 1024 && conf->drain_timeout >= 0 &&
	    conf->drain_timeout <= 3600);
	for (i = 0; i < conf->n_vclusters; i++) {
		vc = &conf->vclusters[i];
		fz_check(vc->name != NULL && vc->advertised_host != NULL);
		fz_hostport(&vc->bootstrap);
		fz_check(vc->n_upstream >= 1);
		for (j = 0; j < vc->n_upstream; j++)
			fz_hostport(&vc->upstream[j]);
		fz_check(vc->max_node_id >= 0 &&
		    vc->max_node_id <= KRX_CONF_MAX_NODE_ID &&
		    vc->node_start_port >= 1 &&
		    vc->node_start_port + vc->max_node_id <= 65535 &&
		    (vc->bootstrap.port < vc->node_start_port ||
		    vc->bootstrap.port > vc->node_start_port +
		    vc->max_node_id));
		fz_encryption(&vc->enc);
	}
}

static void
fz_errors(const struct krx_conf_errors *errs, const char *name)
{
	size_t	 i, n = strlen(name);

	fz_check(errs->n >= 1 && errs->n <= KRX_CONF_MAX_ERRORS);
	for (i = 0; i < errs->n; i++)
		fz_check(errs->msg[i] != NULL &&
		    strncmp(errs->msg[i], name, n) == 0 &&
		    errs->msg[i][n] == ':');
}

/* Load one way; returns the result, checks it, frees everything. */
static int
fz_load(const char *text, int from_file, size_t *nvc)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf = NULL;
	const char		*name;
	int			 r;

	memset(&errs, 0, sizeof(errs));
	if (from_file) {
		name = fz_path;
		r = krx_conf_load(fz_path, &conf, &errs);
	} else {
		name = "fuzz.conf";
		r = krx_conf_load_string(text, name, &conf, &errs);
	}
	*nvc = 0;
	if (r == KRX_OK) {
		fz_check(conf != NULL && errs.n == 0);
		fz_ok(conf);
		*nvc = conf->n_vclusters;
	} else {
		fz_check(conf == NULL && (r == KRX_E_CONFIG ||
		    r == KRX_E_NOMEM));
		fz_errors(&errs, name);
	}
	krx_conf_free(conf);
	krx_conf_errors_free(&errs);
	return r;
}

static int
fz_write(const char *text, size_t len)
{
	if (fz_fd == -1) {
		if ((fz_fd = memfd_create("fuzz_conf", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
	}
	return ftruncate(fz_fd, 0) == 0 &&
	    (len == 0 || pwrite(fz_fd, text, len, 0) == (ssize_t)len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text;
	size_t	 len, n1, n2;
	int	 r1, r2;

	len = strnlen((const char *)data, size);
	if (memmem(data, len, "@include", 8) != NULL)
		return 0;
	if ((text = malloc(len + 1)) == NULL)
		return 0;
	memcpy(text, data, len);
	text[len] = '\0';
	r1 = fz_load(text, 0, &n1);
	if (!fz_write(text, len))
		abort();
	r2 = fz_load(text, 1, &n2);
	fz_check(r1 == r2 && n1 == n2);
	free(text);
	return 0;
}
