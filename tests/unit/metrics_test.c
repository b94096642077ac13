/*
 * metrics_test.c: the metrics regions and renderer (common/shm/mstats.c,
 * metrics.c, metrics_merge.c) and a worker's row binding
 * (worker/metrics_src.c, built into this test): label values escaped,
 * names from shared memory that are not names skipped, the topic cap
 * and "other", counters that only grow when a worker's row is adopted by
 * its successor, the master status read consistently; and the metrics
 * group of the configuration.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/cycle.h"
#include "common/shm/metrics.h"
#include "common/shm/mstats.h"
#include "common/shm/stats.h"
#include "conf/conf.h"
#include "worker/metrics_src.c"

static struct krx_mshm	*shm;

static void
setup(void)
{
	shm = krx_mshm_create();
	cr_assert_not_null(shm);
}

static void
teardown(void)
{
	krx_mshm_free(shm);
}

/* The rendered text of src (NUL-ended; free it). */
static char *
render(const struct krx_metrics_src *src)
{
	struct krx_buf	 b;

	krx_buf_init(&b, 0);
	cr_assert_eq(krx_metrics_render(src, &b), KRX_OK);
	krx_buf_put_u8(&b, 0);
	return (char *)b.data;
}

static void
src_of(struct krx_metrics_src *src, const char *const *names, size_t n)
{
	memset(src, 0, sizeof(*src));
	src->rows = shm->rows;
	src->ks[0] = shm->ks[0];
	src->ks[1] = shm->ks[1];
	src->status = shm->status;
	src->vc_names = names;
	src->n_vc = n;
}

/* Publish vc slot i of row r as name. */
static struct krx_mvc *
vc_slot(int r, int i, const char *name)
{
	struct krx_mvc	*v = &shm->rows->row[r].vc[i];

	strcpy(v->name, name);
	atomic_store(&v->used, 1);
	atomic_store(&shm->rows->used[r], 1);
	return v;
}

static void
topic_slot(int r, int i, int vc, const char *name, uint64_t enc,
    uint64_t plain)
{
	struct krx_mtopic	*t = &shm->rows->row[r].topic[i];

	memcpy(t->name, name, strlen(name) + 1);
	atomic_store(&t->enc, enc);
	atomic_store(&t->plain, plain);
	atomic_store(&t->used, (uint32_t)vc + 1);
}

/* The value of the line that starts with prefix, or -1. */
static long long
value(const char *text, const char *prefix)
{
	const char	*p = text;
	size_t		 n = strlen(prefix);

	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
		p += n;
	}
	return -1;
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, families_have_help_and_type)
{
	struct krx_metrics_src	 src;
	static const char *const names[] = { "vc1" };
	static const char *const fams[] = {
		"kroxylicious_kms_operation_attempt_total counter",
		"kroxylicious_kms_operation_outcome_total counter",
		"kroxylicious_filter_record_encryption_encrypted_records_total "
		    "counter",
		"kroxylicious_filter_record_encryption_plain_records_total "
		    "counter",
		"krx_request_latency_seconds histogram",
		"krx_kms_latency_seconds histogram",
		"krx_build_info gauge", "krx_generation gauge",
		"krx_reloads_total counter", "krx_process_info gauge",
		"krx_process_restarts_total counter",
		"krx_dek_cache_hits_total counter",
		"krx_dek_cache_misses_total counter",
		"krx_client_bytes_total counter",
	};
	char	*t, want[256];
	size_t	 i;

	snprintf(shm->status->version, sizeof(shm->status->version), "1.2.3");
	shm->status->generation = 7;
	src_of(&src, names, 1);
	t = render(&src);
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		snprintf(want, sizeof(want), "# TYPE %s\n", fams[i]);
		cr_assert_not_null(strstr(t, want), "%s", want);
	}
	cr_assert_not_null(strstr(t, "krx_build_info{version=\"1.2.3\"} 1\n"));
	cr_assert_eq(value(t, "krx_generation"), 7);
	cr_assert_eq(value(t, "kroxylicious_kms_operation_outcome_total"
	    "{operation=\"decrypt_edek\",outcome=\"NOT_FOUND\"}"), 0);
	/* A configured cluster is listed before it saw anything. */
	cr_assert_eq(value(t, "kroxylicious_client_to_proxy_connections_total"
	    "{virtual_cluster=\"vc1\"}"), 0);
	free(t);
}

Test(metrics, label_values_escaped)
{
	struct krx_metrics_src	 src;
	static const char *const names[] = { "a\"b\\c" };
	char			*t;

	src_of(&src, names, 1);
	t = render(&src);
	cr_assert_not_null(strstr(t, "{virtual_cluster=\"a\\\"b\\\\c\"} 0\n"),
	    "%s", t);
	free(t);
}

Test(metrics, bad_names_from_rows_skipped)
{
	struct krx_metrics_src	 src;
	struct krx_mvc		*v;
	char			*t;

	v = vc_slot(0, 0, "vc1");
	krx_m_add(&v->c[KRX_MVC_CONN_TOTAL], 3);
	topic_slot(0, 0, 0, "good.topic-1_x", 5, 0);
	topic_slot(0, 1, 0, "bad topic\"}\n", 9, 0);
	topic_slot(0, 2, 0, "x", 1, 2);
	/* A name that never ends: not read past its slot. */
	memset(shm->rows->row[0].topic[2].name, 'y', KRX_M_NAME);
	/* A cluster name with a control character. */
	vc_slot(1, 0, "evil\x01");
	src_of(&src, NULL, 0);
	t = render(&src);
	cr_assert_eq(value(t, "kroxylicious_filter_record_encryption_"
	    "encrypted_records_total{virtual_cluster=\"vc1\",topic_name="
	    "\"good.topic-1_x\"}"), 5);
	cr_assert_null(strstr(t, "bad topic"));
	cr_assert_null(strstr(t, "yyyy"));
	cr_assert_null(strstr(t, "evil"));
	cr_assert_eq(value(t, "kroxylicious_client_to_proxy_connections_total"
	    "{virtual_cluster=\"vc1\"}"), 3);
	free(t);
}

Test(metrics, rows_merged_and_topics_capped)
{
	struct krx_metrics_src	 src;
	char			 name[32], *t, key[256];
	uint64_t		 listed = 0;
	int			 r, i, n = 0;
	long long		 v;

	/* 5 rows x 60 topics, 50 of each shared with the next row. */
	for (r = 0; r < 5; r++) {
		vc_slot(r, 0, "vc");
		for (i = 0; i < 60; i++) {
			snprintf(name, sizeof(name), "t%03d", r * 50 + i);
			topic_slot(r, i, 0, name, 1, 0);
		}
	}
	src_of(&src, NULL, 0);
	t = render(&src);
	for (i = 0; i < 5 * 50 + 10; i++) {
		snprintf(key, sizeof(key), "kroxylicious_filter_record_"
		    "encryption_encrypted_records_total{virtual_cluster=\"vc\","
		    "topic_name=\"t%03d\"}", i);
		if ((v = value(t, key)) >= 0) {
			listed += (uint64_t)v;
			n++;
		}
	}
	cr_assert_eq(n, KRX_METRICS_TOPICS);
	v = value(t, "kroxylicious_filter_record_encryption_encrypted_records"
	    "_total{virtual_cluster=\"vc\",topic_name=\"other\"}");
	cr_assert_gt(v, 0);
	cr_assert_eq(listed + (uint64_t)v, 5 * 60, "nothing lost");
	free(t);
}

Test(metrics, histogram_cumulative)
{
	struct krx_metrics_src	 src;
	struct krx_mvc		*v;
	char			*t;

	v = vc_slot(2, 0, "vc");
	krx_mhist_observe(&v->lat[0], 100);		/* 0.1 ms */
	krx_mhist_observe(&v->lat[0], 3000);		/* 3 ms */
	krx_mhist_observe(&v->lat[0], 60000000);	/* 60 s */
	krx_m_add(&v->req[0], 3);
	src_of(&src, NULL, 0);
	t = render(&src);
	cr_assert_eq(value(t, "krx_request_latency_seconds_bucket{"
	    "virtual_cluster=\"vc\",api_key=\"PRODUCE\",le=\"0.0005\"}"), 1);
	cr_assert_eq(value(t, "krx_request_latency_seconds_bucket{"
	    "virtual_cluster=\"vc\",api_key=\"PRODUCE\",le=\"0.005\"}"), 2);
	cr_assert_eq(value(t, "krx_request_latency_seconds_bucket{"
	    "virtual_cluster=\"vc\",api_key=\"PRODUCE\",le=\"10\"}"), 2);
	cr_assert_eq(value(t, "krx_request_latency_seconds_bucket{"
	    "virtual_cluster=\"vc\",api_key=\"PRODUCE\",le=\"+Inf\"}"), 3);
	cr_assert_eq(value(t, "krx_request_latency_seconds_count{"
	    "virtual_cluster=\"vc\",api_key=\"PRODUCE\"}"), 3);
	cr_assert_eq(value(t, "kroxylicious_client_to_proxy_request_total{"
	    "virtual_cluster=\"vc\",api_key=\"PRODUCE\"}"), 3);
	free(t);
}

/* A worker on row `row` with clusters names (the binding is static). */
static void
bind_worker(struct krx_worker *w, struct krx_cycle *cy,
    struct krx_conf *conf, struct krx_conf_vcluster *vcs, int row,
    const char *const *names, size_t n)
{
	size_t	 i;

	memset(&wm, 0, sizeof(wm));
	memset(w, 0, sizeof(*w));
	memset(cy, 0, sizeof(*cy));
	memset(conf, 0, sizeof(*conf));
	for (i = 0; i < n; i++) {
		memset(&vcs[i], 0, sizeof(vcs[i]));
		vcs[i].name = (char *)names[i];
	}
	conf->vclusters = vcs;
	conf->n_vclusters = n;
	cy->conf = conf;
	cy->mshm = shm;
	w->cy = cy;
	w->conf = conf;
	w->slot = row;
	krx_worker_metrics_init(w);
}

Test(metrics, respawn_adopts_row_counters_grow)
{
	static const char *const gen1[] = { "a" };
	static const char *const gen2[] = { "b", "a" };
	struct krx_metrics_src	 src;
	struct krx_conf_vcluster vcs[2];
	struct krx_worker	 w;
	struct krx_cycle	 cy;
	struct krx_conf		 conf;
	char			*t;
	static const char	 key[] = "kroxylicious_filter_record_"
	    "encryption_encrypted_records_total{virtual_cluster=\"a\","
	    "topic_name=\"orders\"}";

	bind_worker(&w, &cy, &conf, vcs, 9, gen1, 1);
	krx_wm_topic(0, "orders", 6, 10, 0);
	krx_wm_request(0, 1, 100);
	krx_wm_add(0, KRX_MVC_CONN_TOTAL, 1);
	/* Respawned, after a reload that added a cluster before "a". */
	bind_worker(&w, &cy, &conf, vcs, 9, gen2, 2);
	cr_assert_eq(krx_wm_vc(1), &shm->rows->row[9].vc[0], "adopted");
	krx_wm_topic(1, "orders", 6, 5, 0);
	krx_wm_topic(0, "orders", 6, 0, 4);
	krx_wm_add(1, KRX_MVC_CONN_TOTAL, 1);
	src_of(&src, NULL, 0);
	t = render(&src);
	cr_assert_eq(value(t, key), 15, "%s", t);
	cr_assert_eq(value(t, "kroxylicious_filter_record_encryption_plain_"
	    "records_total{virtual_cluster=\"b\",topic_name=\"orders\"}"), 4);
	cr_assert_eq(value(t, "kroxylicious_client_to_proxy_connections_total"
	    "{virtual_cluster=\"a\"}"), 2);
	cr_assert_eq(value(t, "krx_client_bytes_total{virtual_cluster=\"a\","
	    "direction=\"in\"}"), 100);
	free(t);
}

Test(metrics, worker_topic_slots_overflow_to_other)
{
	static const char *const names[] = { "a" };
	struct krx_metrics_src	 src;
	struct krx_conf_vcluster vcs[1];
	struct krx_worker	 w;
	struct krx_cycle	 cy;
	struct krx_conf		 conf;
	char			 name[16], *t;
	int			 i;

	bind_worker(&w, &cy, &conf, vcs, 3, names, 1);
	for (i = 0; i < KRX_M_TOPICS + 6; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		krx_wm_topic(0, name, strlen(name), 1, 0);
	}
	src_of(&src, NULL, 0);
	t = render(&src);
	cr_assert_eq(value(t, "kroxylicious_filter_record_encryption_"
	    "encrypted_records_total{virtual_cluster=\"a\",topic_name="
	    "\"other\"}"), 6);
	free(t);
}

Test(metrics, status_being_written_is_not_shown)
{
	struct krx_metrics_src	 src;
	char			*t;

	shm->status->generation = 4;
	atomic_store(&shm->status->seq, 1);	/* the master mid-write */
	src_of(&src, NULL, 0);
	t = render(&src);
	cr_assert_null(strstr(t, "krx_generation"));
	free(t);
	atomic_store(&shm->status->seq, 2);
	t = render(&src);
	cr_assert_eq(value(t, "krx_generation"), 4);
	free(t);
}

Test(metrics, kms_rows_summed)
{
	struct krx_metrics_src	 src;
	struct krx_kmrow	*k0, *k1;
	char			*t;

	/* The master's view is read-only: write through keysvc's own. */
	k0 = krx_kmrow_map(shm->ks_fd[0]);
	k1 = krx_kmrow_map(shm->ks_fd[1]);
	cr_assert(k0 != NULL && k1 != NULL);
	krx_m_add(&k0->attempts[1], 2);
	krx_m_add(&k1->attempts[1], 3);
	krx_m_add(&k1->outcomes[0][2], 1);
	krx_m_add(&k0->cache_hits, 7);
	src_of(&src, NULL, 0);
	t = render(&src);
	cr_assert_eq(value(t, "kroxylicious_kms_operation_attempt_total{"
	    "operation=\"decrypt_edek\"}"), 5);
	cr_assert_eq(value(t, "kroxylicious_kms_operation_outcome_total{"
	    "operation=\"generate_dek_pair\",outcome=\"EXCEPTION\"}"), 1);
	cr_assert_eq(value(t, "krx_dek_cache_hits_total{cache=\"lmdb\"}"), 7);
	free(t);
}

Test(metrics, api_labels)
{
	char	 b[64];

	krx_metrics_api_label(18, b, sizeof(b));
	cr_assert_str_eq(b, "API_VERSIONS");
	krx_metrics_api_label(1, b, sizeof(b));
	cr_assert_str_eq(b, "FETCH");
	krx_metrics_api_label(95, b, sizeof(b));
	cr_assert_str_eq(b, "95");
}

/* In a forked "worker": 0 when it can read but never write. */
static int
worker_view(void)
{
	if (krx_mshm_child(shm) != 0)
		return 1;
	if (shm->status->generation != 5 || shm->ks_fd[0] != -1 ||
	    shm->status_fd != -1)
		return 2;
	if (mprotect(shm->status, sizeof(struct krx_mstatus), PROT_READ |
	    PROT_WRITE) != -1 || errno != EACCES)
		return 3;
	if (mprotect(shm->ks[0], sizeof(struct krx_kmrow), PROT_READ |
	    PROT_WRITE) != -1 || errno != EACCES)
		return 4;
	if (krx_m_get(&shm->ks[0]->requests) != 3)
		return 5;
	krx_m_add(&shm->rows->row[0].vc[0].c[0], 1);	/* its own row */
	return 0;
}

Test(metrics, workers_cannot_write_status_or_keysvc_rows)
{
	struct krx_kmrow	*k;
	pid_t			 pid;
	int			 st;

	shm->status->generation = 5;
	k = krx_kmrow_map(shm->ks_fd[0]);
	cr_assert_not_null(k);
	krx_m_add(&k->requests, 3);
	if ((pid = fork()) == 0)
		_exit(worker_view());
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker check %d",
	    WEXITSTATUS(st));
	cr_assert_eq(krx_m_get(&shm->rows->row[0].vc[0].c[0]), 1);
}

static int
conf_metrics(const char *extra, char **listen)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf = NULL;
	char			 text[1024];
	int			 r;

	snprintf(text, sizeof(text), "%s\nvirtual_clusters = ( { name = "
	    "\"a\"; bootstrap = \"127.0.0.1:9192\"; upstream = { bootstrap = "
	    "\"localhost:9092\"; }; } );\n", extra);
	memset(&errs, 0, sizeof(errs));
	r = krx_conf_load_string(text, "t.conf", &conf, &errs);
	*listen = conf != NULL && conf->metrics_listen != NULL ?
	    strdup(conf->metrics_listen) : NULL;
	krx_conf_free(conf);
	krx_conf_errors_free(&errs);
	return r;
}

Test(metrics_conf, listen)
{
	char	*l;

	cr_assert_eq(conf_metrics("", &l), KRX_OK);
	cr_assert_null(l);
	cr_assert_eq(conf_metrics("metrics = { listen = \"127.0.0.1:9190\"; };",
	    &l), KRX_OK);
	cr_assert_str_eq(l, "127.0.0.1:9190");
	free(l);
	cr_assert_eq(conf_metrics("metrics = { listen = \"[::1]:9190\"; };",
	    &l), KRX_OK);
	free(l);
	cr_assert_eq(conf_metrics("metrics = { listen = \"9190\"; };", &l),
	    KRX_E_CONFIG);
	cr_assert_eq(conf_metrics("metrics = { listen = \"h:0\"; };", &l),
	    KRX_E_CONFIG);
	cr_assert_eq(conf_metrics("metrics = { port = 1; };", &l),
	    KRX_E_CONFIG);
	cr_assert_eq(conf_metrics("metrics = \"x\";", &l), KRX_E_CONFIG);
	cr_assert_eq(conf_metrics("metrics = { };", &l), KRX_E_CONFIG);
}
