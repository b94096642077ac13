/*
 * metrics.c: the Prometheus text of krx's counters (see metrics.h).
 * Family names follow Kroxylicious where krx counts the same thing
 * (its Micrometer names as Prometheus writes them), krx's own start
 * with krx_. Counters are written as "# TYPE x_total counter", as
 * Micrometer and prometheus_client write them.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/shm/metrics.h"
#include "common/shm/metrics_merge.h"
#include "common/shm/mstats.h"
#include "common/shm/stats.h"
#include "proto/kafka.h"

/* One line of at most 1023 bytes. */
#define mr_printf(b, ...)	krx_buf_printf((b), 1024, __VA_ARGS__)

/* s as a label value: \ " and newline escaped, at most KRX_M_NAME. */
static void
mr_escape(struct krx_buf *b, const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i < KRX_M_NAME; i++) {
		if (s[i] == '\\' || s[i] == '"')
			krx_buf_put(b, "\\", 1);
		if (s[i] == '\n')
			krx_buf_put(b, "\\n", 2);
		else
			krx_buf_put(b, &s[i], 1);
	}
}

static void
mr_family(struct krx_buf *b, const char *name, const char *type,
    const char *help)
{
	mr_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{virtual_cluster="vc"[,extra]} v */
static void
mr_vc_sample(struct krx_buf *b, const char *name, const char *vc,
    const char *extra, uint64_t v)
{
	mr_printf(b, "%s{virtual_cluster=\"", name);
	mr_escape(b, vc);
	mr_printf(b, "\"%s%s} %" PRIu64 "\n", extra != NULL ? "," : "",
	    extra != NULL ? extra : "", v);
}

void
krx_metrics_api_label(int api_key, char *out, size_t len)
{
	const char	*n = krx_kafka_api_name((int16_t)api_key);
	size_t		 o = 0, i;

	if (strcmp(n, "unknown") == 0) {
		snprintf(out, len, "%d", api_key);
		return;
	}
	for (i = 0; n[i] != '\0' && o + 2 < len; i++) {
		if (i > 0 && isupper((unsigned char)n[i]))
			out[o++] = '_';
		out[o++] = (char)toupper((unsigned char)n[i]);
	}
	out[o] = '\0';
}

/* One histogram's buckets, sum and count; labels end without '}'. */
static void
mr_hist(struct krx_buf *b, const char *name, const char *labels,
    const struct mm_hist *h)
{
	uint64_t	 cum = 0;
	int		 i;

	for (i = 0; i < KRX_M_BUCKETS; i++) {
		cum += h->b[i];
		mr_printf(b, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", name,
		    labels, (double)krx_m_bounds_us[i] / 1e6, cum);
	}
	mr_printf(b, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels,
	    h->count < cum ? cum : h->count);
	mr_printf(b, "%s_sum{%s} %.6f\n", name, labels,
	    (double)h->sum_us / 1e6);
	mr_printf(b, "%s_count{%s} %" PRIu64 "\n", name, labels,
	    h->count < cum ? cum : h->count);
}

/* virtual_cluster="vc" escaped into out (a label list, no braces). */
static void
mr_vc_label(char *out, size_t len, const char *vc)
{
	size_t	 o, i;

	o = (size_t)snprintf(out, len, "virtual_cluster=\"");
	for (i = 0; vc[i] != '\0' && o + 4 < len; i++) {
		if (vc[i] == '\\' || vc[i] == '"')
			out[o++] = '\\';
		out[o++] = vc[i];
	}
	snprintf(out + o, len - o, "\"");
}

/* Per virtual cluster counters: Kroxylicious' families, then krx's. */
static const struct {
	const char	*name;
	const char	*type;
	int		 ctr;
	const char	*help;
} mr_vc_fams[] = {
	{ "kroxylicious_client_to_proxy_connections_total", "counter",
	    KRX_MVC_CONN_TOTAL, "Client connections accepted." },
	{ "kroxylicious_client_to_proxy_active_connections", "gauge",
	    KRX_MVC_CONN_ACTIVE, "Client connections open now." },
	{ "kroxylicious_client_to_proxy_errors_total", "counter",
	    KRX_MVC_ERR_CLIENT, "Client connections closed on an error." },
	{ "kroxylicious_proxy_to_server_connections_total", "counter",
	    KRX_MVC_UP_TOTAL, "Broker connections opened." },
	{ "kroxylicious_proxy_to_server_active_connections", "gauge",
	    KRX_MVC_UP_ACTIVE, "Broker connections open now." },
	{ "kroxylicious_proxy_to_server_errors_total", "counter",
	    KRX_MVC_ERR_UPSTREAM, "Broker connections that failed." },
	{ "krx_client_tls_connections_total", "counter",
	    KRX_MVC_CONN_TLS, "Client connections accepted on TLS." },
};

static void
mr_vcs(struct krx_buf *b, const struct mm *m)
{
	size_t	 f, i;

	for (f = 0; f < sizeof(mr_vc_fams) / sizeof(mr_vc_fams[0]); f++) {
		mr_family(b, mr_vc_fams[f].name, mr_vc_fams[f].type,
		    mr_vc_fams[f].help);
		for (i = 0; i < m->n_vc; i++)
			mr_vc_sample(b, mr_vc_fams[f].name, m->vc[i].name,
			    NULL, m->vc[i].c[mr_vc_fams[f].ctr]);
	}
	mr_family(b, "krx_client_bytes_total", "counter",
	    "Bytes of Kafka frames from (in) and to (out) clients.");
	for (i = 0; i < m->n_vc; i++) {
		mr_vc_sample(b, "krx_client_bytes_total", m->vc[i].name,
		    "direction=\"in\"", m->vc[i].c[KRX_MVC_BYTES_IN]);
		mr_vc_sample(b, "krx_client_bytes_total", m->vc[i].name,
		    "direction=\"out\"", m->vc[i].c[KRX_MVC_BYTES_OUT]);
	}
}

/* Requests, responses and latency per API key (those seen only). */
static void
mr_apis(struct krx_buf *b, const struct mm *m)
{
	static const char *const names[4] = {
		"kroxylicious_client_to_proxy_request_total",
		"kroxylicious_proxy_to_client_response_total",
		"kroxylicious_proxy_to_server_request_total",
		"kroxylicious_server_to_proxy_response_total" };
	static const char *const help[4] = {
		"Requests from clients, per API key.",
		"Responses to clients, per API key.",
		"Requests to brokers (krx's own included), per API key.",
		"Responses from brokers, per API key." };
	const uint64_t	*a;
	char		 api[64], lab[KRX_M_NAME * 2 + 96], x[96];
	size_t		 i, k;
	int		 d;

	for (d = 0; d < 4; d++) {
		mr_family(b, names[d], "counter", help[d]);
		for (i = 0; i < m->n_vc; i++) {
			a = d == 0 ? m->vc[i].req : d == 1 ? m->vc[i].resp :
			    d == 2 ? m->vc[i].up_req : m->vc[i].up_resp;
			for (k = 0; k < KRX_M_APIS; k++) {
				if (a[k] == 0)
					continue;
				krx_metrics_api_label((int)k, api,
				    sizeof(api));
				snprintf(x, sizeof(x), "api_key=\"%s\"", api);
				mr_vc_sample(b, names[d], m->vc[i].name, x,
				    a[k]);
			}
		}
	}
	mr_family(b, "krx_request_latency_seconds", "histogram",
	    "Time from a request's arrival to its response's, per API key.");
	for (i = 0; i < m->n_vc; i++)
		for (k = 0; k < KRX_M_APIS; k++) {
			if (m->vc[i].lat[k].count == 0)
				continue;
			krx_metrics_api_label((int)k, api, sizeof(api));
			mr_vc_label(lab, sizeof(lab), m->vc[i].name);
			snprintf(lab + strlen(lab), sizeof(lab) - strlen(lab),
			    ",api_key=\"%s\"", api);
			mr_hist(b, "krx_request_latency_seconds", lab,
			    &m->vc[i].lat[k]);
		}
}

static void
mr_topic(struct krx_buf *b, const char *name, const char *vc,
    const char *topic, uint64_t v)
{
	mr_printf(b, "%s{virtual_cluster=\"", name);
	mr_escape(b, vc);
	mr_printf(b, "\",topic_name=\"");
	mr_escape(b, topic);
	mr_printf(b, "\"} %" PRIu64 "\n", v);
}

static void
mr_topics(struct krx_buf *b, const struct mm *m)
{
	static const char *const names[2] = {
		"kroxylicious_filter_record_encryption_encrypted_records_total",
		"kroxylicious_filter_record_encryption_plain_records_total" };
	const struct mm_vc	*v;
	size_t			 i, t;
	int			 d;

	for (d = 0; d < 2; d++) {
		mr_family(b, names[d], "counter", d == 0 ? "Records the "
		    "record encryption filter encrypted." : "Records the "
		    "record encryption filter sent in clear.");
		for (i = 0; i < m->n_vc; i++) {
			v = &m->vc[i];
			for (t = 0; t < v->n_topics; t++)
				mr_topic(b, names[d], v->name,
				    v->topics[t].name, d ? v->topics[t].plain :
				    v->topics[t].enc);
			if (v->other_enc != 0 || v->other_plain != 0)
				mr_topic(b, names[d], v->name, "other",
				    d ? v->other_plain : v->other_enc);
		}
	}
}

static const char *const mr_ops[KRX_KM_OPS] = {
	"generate_dek_pair", "decrypt_edek", "resolve_alias" };
static const char *const mr_outcomes[KRX_KM_OUTCOMES] = {
	"SUCCESS", "NOT_FOUND", "EXCEPTION" };

/* A key service counter summed over both rows. */
static uint64_t
mr_ks_sum(const struct krx_metrics_src *src, size_t off)
{
	uint64_t	 v = 0;
	int		 i;

	for (i = 0; i < 2; i++)
		if (src->ks[i] != NULL)
			v += krx_m_get((const _Atomic uint64_t *)(const void *)
			    ((const char *)src->ks[i] + off));
	return v;
}

#define KS_OFF(field)	offsetof(struct krx_kmrow, field)

static void
mr_kms(struct krx_buf *b, const struct krx_metrics_src *src)
{
	struct mm_hist	 h;
	char		 lab[64];
	int		 op, o, i;

	mr_family(b, "kroxylicious_kms_operation_attempt_total", "counter",
	    "KMS operations attempted (each retry too).");
	for (op = 0; op < KRX_KM_OPS; op++)
		mr_printf(b, "kroxylicious_kms_operation_attempt_total"
		    "{operation=\"%s\"} %" PRIu64 "\n", mr_ops[op],
		    mr_ks_sum(src, KS_OFF(attempts[op])));
	mr_family(b, "kroxylicious_kms_operation_outcome_total", "counter",
	    "KMS operation attempts by outcome.");
	for (op = 0; op < KRX_KM_OPS; op++)
		for (o = 0; o < KRX_KM_OUTCOMES; o++)
			mr_printf(b, "kroxylicious_kms_operation_outcome_total"
			    "{operation=\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
			    mr_ops[op], mr_outcomes[o],
			    mr_ks_sum(src, KS_OFF(outcomes[op][o])));
	mr_family(b, "krx_kms_latency_seconds", "histogram",
	    "Time keysvc waited for each KMS operation.");
	for (op = 0; op < KRX_KM_OPS; op++) {
		memset(&h, 0, sizeof(h));
		for (i = 0; i < 2; i++)
			if (src->ks[i] != NULL)
				krx_mm_hist_add(&h, &src->ks[i]->lat[op]);
		snprintf(lab, sizeof(lab), "operation=\"%s\"", mr_ops[op]);
		mr_hist(b, "krx_kms_latency_seconds", lab, &h);
	}
	mr_family(b, "krx_keysvc_requests_total", "counter",
	    "Key requests workers sent to keysvc.");
	mr_printf(b, "krx_keysvc_requests_total %" PRIu64 "\n",
	    src->stats != NULL ? krx_stats_sum(src->stats,
	    KRX_STAT_KEY_REQUESTS) : 0);
}

/*
 * DEK caches: the worker's LRU (cache="worker"; misses go to keysvc)
 * and keysvc's LMDB cache (cache="lmdb"; misses go to the KMS), the
 * only cache keysvc has. Requests that reached keysvc are
 * krx_keysvc_requests_total.
 */
static void
mr_cache(struct krx_buf *b, const struct krx_metrics_src *src)
{
	uint64_t	 v[2][2];
	int		 d;

	v[0][0] = src->stats ? krx_stats_sum(src->stats,
	    KRX_STAT_DEK_MEM_HITS) : 0;
	v[0][1] = src->stats ? krx_stats_sum(src->stats,
	    KRX_STAT_DEK_MEM_MISSES) : 0;
	v[1][0] = mr_ks_sum(src, KS_OFF(cache_hits));
	v[1][1] = mr_ks_sum(src, KS_OFF(cache_misses));
	for (d = 0; d < 2; d++) {
		const char *n = d ? "krx_dek_cache_misses_total" :
		    "krx_dek_cache_hits_total";

		mr_family(b, n, "counter", d ? "DEK lookups a cache could "
		    "not answer." : "DEK lookups a cache answered.");
		mr_printf(b, "%s{cache=\"worker\"} %" PRIu64 "\n", n, v[0][d]);
		mr_printf(b, "%s{cache=\"lmdb\"} %" PRIu64 "\n", n, v[1][d]);
	}
	mr_family(b, "krx_records_decrypted_total", "counter",
	    "Records decrypted in Fetch responses.");
	mr_printf(b, "krx_records_decrypted_total %" PRIu64 "\n",
	    src->stats ? krx_stats_sum(src->stats, KRX_STAT_RECORDS_DECRYPTED) :
	    0);
}

/* A consistent copy of the master's status (seq even, unchanged). */
static int
mr_status_copy(const struct krx_mstatus *in, struct krx_mstatus *out)
{
	uint64_t	 s1, s2;
	int		 tries;

	for (tries = 0; tries < 100; tries++) {
		s1 = atomic_load_explicit(&in->seq, memory_order_acquire);
		memcpy((char *)out + sizeof(out->seq),
		    (const char *)in + sizeof(in->seq),
		    sizeof(*out) - sizeof(out->seq));
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&in->seq, memory_order_relaxed);
		if (s1 == s2 && (s1 & 1) == 0)
			return 0;
	}
	return -1;
}

static void
mr_procs(struct krx_buf *b, const struct krx_mstatus *st)
{
	static const char *const kinds[] = { "?", "worker", "keysvc" };
	const struct krx_mproc	*p;
	size_t			 i;
	int			 d;

	for (d = 0; d < 2; d++) {
		mr_family(b, d ? "krx_process_restarts_total" :
		    "krx_process_info", d ? "counter" : "gauge", d ?
		    "Times the master started a process again." :
		    "The master's running children.");
		for (i = 0; i < KRX_M_PROCS; i++) {
			p = &st->proc[i];
			if (p->kind != KRX_MPROC_WORKER &&
			    p->kind != KRX_MPROC_KEYSVC)
				continue;
			if (d == 0 && p->pid > 0)
				mr_printf(b, "krx_process_info{kind=\"%s\","
				    "slot=\"%u\",generation=\"%u\",pid=\"%d\"} "
				    "1\n", kinds[p->kind], p->slot,
				    p->generation, (int)p->pid);
			else if (d == 1)
				mr_printf(b, "krx_process_restarts_total{kind="
				    "\"%s\",slot=\"%u\",generation=\"%u\"} %u\n",
				    kinds[p->kind], p->slot, p->generation,
				    p->restarts);
		}
	}
}

static void
mr_status(struct krx_buf *b, const struct krx_mstatus *in)
{
	struct krx_mstatus	*st;
	const char		*v;

	if (in == NULL || (st = malloc(sizeof(*st))) == NULL)
		return;
	if (mr_status_copy(in, st) != 0) {
		free(st);
		return;
	}
	st->version[sizeof(st->version) - 1] = '\0';
	v = krx_mm_name_ok(st->version, sizeof(st->version)) ? st->version :
	    "unknown";
	mr_family(b, "kroxylicious_build_info", "gauge", "The build.");
	mr_printf(b, "kroxylicious_build_info{version=\"");
	mr_escape(b, v);
	mr_printf(b, "\"} 1\n");
	mr_family(b, "krx_build_info", "gauge", "krx's version.");
	mr_printf(b, "krx_build_info{version=\"");
	mr_escape(b, v);
	mr_printf(b, "\"} 1\n");
	mr_family(b, "krx_generation", "gauge",
	    "The serving generation (one per configuration loaded).");
	mr_printf(b, "krx_generation %" PRIu64 "\n", st->generation);
	mr_family(b, "krx_reloads_total", "counter", "Reloads, by outcome.");
	mr_printf(b, "krx_reloads_total{outcome=\"ok\"} %" PRIu64 "\n"
	    "krx_reloads_total{outcome=\"failed\"} %" PRIu64 "\n",
	    st->reloads_ok, st->reloads_failed);
	mr_family(b, "krx_start_time_seconds", "gauge",
	    "When the master started (unix time).");
	mr_printf(b, "krx_start_time_seconds %" PRId64 "\n", st->started);
	mr_procs(b, st);
	free(st);
}

int
krx_metrics_render(const struct krx_metrics_src *src, struct krx_buf *out)
{
	struct mm	*m;
	int		 r;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return KRX_E_NOMEM;
	if ((r = krx_mm_merge(m, src)) == KRX_OK) {
		mr_status(out, src->status);
		mr_vcs(out, m);
		mr_apis(out, m);
		mr_topics(out, m);
		mr_kms(out, src);
		mr_cache(out, src);
	}
	krx_mm_free(m);
	free(m);
	if (r == KRX_OK && out->err != 0)
		r = KRX_E_NOMEM;
	return r;
}
