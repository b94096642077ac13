/*
 * scan_walk_test.c: krx-ctl scan's walk over one Fetch response
 * (worker/scan_walk.c) and its report (worker/scan_report.c), with the
 * key client stubbed: an EDEK's answer is picked by the name of the KEK
 * it carries ("good" OK, "old" INVALID, "gone" NOT_FOUND, "down"
 * UNAVAILABLE, "deny" DENIED), at once or later. Fetch v11 bodies and
 * record batches are written here field by field.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "worker/scan_walk.c"
#include "worker/scan_report.c"

/* -- stubs ---------------------------------------------------------- */

static int		 tw_later;	/* answer later, not at once */
static int		 tw_asks;
static int		 tw_keys_done;
static krx_key_fn	 tw_fn;
static void		*tw_arg;
static uint8_t		 tw_last[256];
static size_t		 tw_last_len;

static enum krx_key_status
tw_status(const uint8_t *edek, size_t len)
{
	static const struct { const char *n; enum krx_key_status s; } t[] = {
		{ "good", KRX_KEY_OK }, { "old", KRX_KEY_INVALID },
		{ "gone", KRX_KEY_NOT_FOUND }, { "down", KRX_KEY_UNAVAILABLE },
		{ "deny", KRX_KEY_DENIED }
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (len > 2 + strlen(t[i].n) && edek[1] == strlen(t[i].n) &&
		    memcmp(edek + 2, t[i].n, strlen(t[i].n)) == 0)
			return t[i].s;
	return KRX_KEY_INVALID;
}

int
krx_keyclient_edek_form(const struct krx_conf_kms *kms)
{
	(void)kms;
	return KRX_EDEK_FORM_LOCAL;
}

int
krx_keyclient_decrypt(struct krx_keyclient *kc, size_t vc,
    const uint8_t *edek, size_t len, krx_key_fn fn, void *arg,
    struct krx_key_answer *a)
{
	tw_asks++;
	memset(a, 0, sizeof(*a));
	a->status = tw_status(edek, len);
	a->edek = edek;
	a->edek_len = len;
	if (!tw_later)
		return 1;
	cr_assert_leq(len, sizeof(tw_last));
	memcpy(tw_last, edek, len);
	tw_last_len = len;
	tw_fn = fn;
	tw_arg = arg;
	return 0;
}

void
scan_keys_done(struct krx_scan *sc)
{
	tw_keys_done++;
}

void
scan_part_fail(struct krx_scan *sc, const char *fmt, ...)
{
	struct scan_part	*p = &sc->parts[sc->cur];
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->done = 1;
}

/* -- a scan of topic "t", partition 0 ------------------------------- */

static struct krx_hostport	 tw_up = { "b1.example", 9092 };
static struct krx_conf_vcluster	 tw_vc;
static struct krx_conf		 tw_conf;
static struct krx_worker	 tw_w;
static struct scan_part		 tw_part;
static struct krx_scan		 tw_sc;

static struct krx_scan *
tw_scan(int64_t next, int64_t latest)
{
	tw_vc.name = "vc";
	tw_vc.upstream = &tw_up;
	tw_vc.n_upstream = 1;
	tw_vc.enc.enabled = 1;
	tw_conf.vclusters = &tw_vc;
	tw_conf.n_vclusters = 1;
	tw_w.conf = &tw_conf;
	free(tw_part.ranges);
	memset(&tw_part, 0, sizeof(tw_part));
	tw_part.earliest = 0;
	tw_part.next = next;
	tw_part.latest = latest;
	tw_part.last_bad = -1;
	if (tw_sc.tab != NULL) {
		scan_edek_free(&tw_sc);
		free(tw_sc.tab);
	}
	krx_buf_free(&tw_sc.resp);
	krx_buf_free(&tw_sc.scratch);
	memset(&tw_sc, 0, sizeof(tw_sc));
	tw_sc.w = &tw_w;
	snprintf(tw_sc.topic, sizeof(tw_sc.topic), "t");
	tw_sc.parts = &tw_part;
	tw_sc.nparts = 1;
	tw_sc.tab = xcalloc(SCAN_EDEK_SLOTS, sizeof(*tw_sc.tab));
	krx_buf_init(&tw_sc.resp, 0);
	krx_buf_init(&tw_sc.scratch, 0);
	tw_later = tw_asks = tw_keys_done = 0;
	return &tw_sc;
}

/* -- records -------------------------------------------------------- */

/* A LocalKms EDEK of KEK name, version 1 (zeros for IV and ct). */
static void
tw_edek(struct krx_buf *b, const char *name)
{
	static const uint8_t	 zero[60];

	krx_buf_put_u8(b, 1);
	krx_buf_put_u8(b, (uint8_t)strlen(name));
	krx_buf_put(b, name, strlen(name));
	krx_buf_put_be32(b, 1);
	krx_buf_put(b, zero, 12 + 48);
}

/*
 * One record at offset delta d: kek NULL plain, "" an encryption header
 * with a value that is no wrapper, else a wrapper under kek.
 */
static void
tw_record(struct krx_buf *out, int d, const char *kek)
{
	static const uint8_t	 iv_ct[12 + 20];
	struct krx_buf		 r, v;

	krx_buf_init(&r, 0);
	krx_buf_init(&v, 0);
	if (kek == NULL)
		krx_buf_put(&v, "plain", 5);
	else if (*kek == '\0')
		krx_buf_put(&v, "\x07zz", 3);
	else {
		struct krx_buf	 e;

		krx_buf_init(&e, 0);
		tw_edek(&e, kek);
		krx_buf_put_u8(&v, 0);
		krx_buf_put_uvarint(&v, e.len);
		krx_buf_put(&v, e.data, e.len);
		krx_buf_put_u8(&v, 0);
		krx_buf_put(&v, iv_ct, sizeof(iv_ct));
		krx_buf_free(&e);
	}
	krx_buf_put_u8(&r, 0);			/* attributes */
	krx_buf_put_varint(&r, 0);		/* timestamp delta */
	krx_buf_put_varint(&r, d);
	krx_buf_put_varint(&r, -1);		/* key */
	krx_buf_put_varint(&r, (int64_t)v.len);
	krx_buf_put(&r, v.data, v.len);
	krx_buf_put_varint(&r, kek != NULL ? 1 : 0);
	if (kek != NULL) {
		krx_buf_put_varint(&r, KRX_WRAPPER_HDR_KEY_LEN);
		krx_buf_put(&r, KRX_WRAPPER_HDR_KEY, KRX_WRAPPER_HDR_KEY_LEN);
		krx_buf_put_varint(&r, 1);
		krx_buf_put_u8(&r, KRX_WRAPPER_VERSION);
	}
	krx_buf_put_varint(out, (int64_t)r.len);
	krx_buf_put(out, r.data, r.len);
	krx_buf_free(&r);
	krx_buf_free(&v);
}

/* A batch at base of n records, record i under keks[i]. */
static void
tw_batch(struct krx_buf *out, int64_t base, int n, const char *const *keks)
{
	struct krx_buf	 recs;
	int		 i;

	krx_buf_init(&recs, 0);
	for (i = 0; i < n; i++)
		tw_record(&recs, i, keks[i]);
	krx_buf_put_be64(out, (uint64_t)base);
	krx_buf_put_be32(out, (uint32_t)(49 + recs.len));
	krx_buf_put_be32(out, 0);		/* leader epoch */
	krx_buf_put_u8(out, 2);
	krx_buf_put_be32(out, 0);		/* crc: not checked here */
	krx_buf_put_be16(out, 0);		/* attributes */
	krx_buf_put_be32(out, (uint32_t)(n - 1));
	krx_buf_put_be64(out, 0);
	krx_buf_put_be64(out, 0);
	krx_buf_put_be64(out, (uint64_t)-1);
	krx_buf_put_be16(out, (uint16_t)-1);
	krx_buf_put_be32(out, (uint32_t)-1);
	krx_buf_put_be32(out, (uint32_t)n);
	krx_buf_put(out, recs.data, recs.len);
	krx_buf_free(&recs);
}

/* sc->resp: a Fetch v11 body for t-0 with these records. */
static void
tw_fetch(struct krx_scan *sc, const struct krx_buf *records, int16_t err)
{
	struct krx_buf	*b = &sc->resp;

	krx_buf_reset(b);
	krx_buf_put_be32(b, 0);			/* throttle */
	krx_buf_put_be16(b, 0);
	krx_buf_put_be32(b, 0);			/* session */
	krx_buf_put_be32(b, 1);
	krx_buf_put_be16(b, 1);
	krx_buf_put(b, "t", 1);
	krx_buf_put_be32(b, 1);
	krx_buf_put_be32(b, 0);			/* partition */
	krx_buf_put_be16(b, (uint16_t)err);
	krx_buf_put_be64(b, 100);		/* hwm */
	krx_buf_put_be64(b, 100);
	krx_buf_put_be64(b, 0);
	krx_buf_put_be32(b, 0);			/* aborted: none */
	krx_buf_put_be32(b, (uint32_t)-1);	/* preferred replica */
	krx_buf_put_be32(b, (uint32_t)records->len);
	krx_buf_put(b, records->data, records->len);
}

static void
tw_range_eq(const struct scan_range *r, int64_t from, int64_t to,
    int reason, const char *kek)
{
	cr_assert_eq(r->from, from);
	cr_assert_eq(r->to, to);
	cr_assert_eq(r->reason, reason);
	cr_assert_str_eq(r->kek, kek);
}

/* -- tests ---------------------------------------------------------- */

Test(scan_walk, classify_and_report)
{
	static const char *const k[] = { "old", "old", "old", "old", NULL,
	    "old", "old", "good", "good", "good" };
	struct krx_scan	*sc = tw_scan(0, 10);
	struct krx_buf	 recs, rep;

	krx_buf_init(&recs, 0);
	tw_batch(&recs, 0, 10, k);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), 1);
	cr_assert_eq(tw_asks, 2, "one question per distinct EDEK");
	cr_assert_eq(tw_part.next, 10);
	cr_assert_eq(tw_part.records, 10);
	cr_assert_eq(tw_part.encrypted, 9);
	cr_assert_eq(tw_part.bad, 6);
	cr_assert_eq(tw_part.nranges, 2, "a plain record splits ranges");
	tw_range_eq(&tw_part.ranges[0], 0, 3, SCAN_R_INVALID, "old version 1");
	tw_range_eq(&tw_part.ranges[1], 5, 6, SCAN_R_INVALID, "old version 1");
	tw_part.done = 1;
	krx_buf_init(&rep, 0);
	cr_assert_eq(scan_report(sc, &rep), KRX_OK);
	krx_buf_put_u8(&rep, 0);
	cr_assert_str_eq((char *)rep.data, "krx-scan 1\ntopic t\nvcluster vc\n"
	    "bootstrap b1.example:9092\n"
	    "part 0 0 10 7 10 9 6 0 ok\n"
	    "range 0 0 3 invalid old version 1\n"
	    "range 0 5 6 invalid old version 1\nend\n");
	krx_buf_free(&rep);
	krx_buf_free(&recs);
}

Test(scan_walk, from_next_across_batches)
{
	static const char *const a[] = { "old", "old", "old" };
	static const char *const b[] = { "old", "gone", "good" };
	struct krx_scan	*sc = tw_scan(1, 6);
	struct krx_buf	 recs;

	krx_buf_init(&recs, 0);
	tw_batch(&recs, 0, 3, a);
	tw_batch(&recs, 3, 3, b);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), 1);
	cr_assert_eq(tw_part.records, 5, "offset 0 is before next");
	cr_assert_eq(tw_part.nranges, 2);
	tw_range_eq(&tw_part.ranges[0], 1, 3, SCAN_R_INVALID, "old version 1");
	tw_range_eq(&tw_part.ranges[1], 4, 4, SCAN_R_NOT_FOUND,
	    "gone version 1");
	cr_assert_eq(tw_part.last_bad, 4);
	cr_assert_eq(tw_part.next, 6);
	krx_buf_free(&recs);
}

Test(scan_walk, waits_for_answers)
{
	static const char *const k[] = { "good", "good", "old" };
	struct krx_scan		*sc = tw_scan(0, 3);
	struct krx_key_answer	 a;
	struct krx_buf		 recs;

	krx_buf_init(&recs, 0);
	tw_batch(&recs, 0, 3, k);
	tw_fetch(sc, &recs, 0);
	tw_later = 1;
	cr_assert_eq(scan_walk(sc), 0);
	cr_assert_eq(sc->pending, 2);
	cr_assert_eq(tw_part.records, 0, "nothing classified yet");
	memset(&a, 0, sizeof(a));
	a.status = tw_status(tw_last, tw_last_len);
	a.edek = tw_last;
	a.edek_len = tw_last_len;
	tw_fn(tw_arg, &a);		/* the "old" one */
	cr_assert_eq(tw_keys_done, 0);
	/* walking again while "good" is pending asks nothing more */
	cr_assert_eq(scan_walk(sc), 0);
	cr_assert_eq(tw_asks, 2, "a pending EDEK is not asked again");
	krx_buf_reset(&recs);
	tw_edek(&recs, "good");
	a.status = KRX_KEY_OK;
	a.edek = recs.data;
	a.edek_len = recs.len;
	tw_fn(tw_arg, &a);
	cr_assert_eq(sc->pending, 0);
	cr_assert_eq(tw_keys_done, 1);
	krx_buf_reset(&recs);
	tw_batch(&recs, 0, 3, k);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), 1);
	cr_assert_eq(tw_part.bad, 1);
	cr_assert_eq(tw_part.last_bad, 2);
	krx_buf_free(&recs);
}

Test(scan_walk, kms_down_is_an_error_not_a_range)
{
	static const char *const k[] = { "down", "old" };
	static const char *const d[] = { "deny" };
	struct krx_scan	*sc = tw_scan(0, 2);
	struct krx_buf	 recs;

	krx_buf_init(&recs, 0);
	tw_batch(&recs, 0, 2, k);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), -1);
	cr_assert(tw_part.done);
	cr_assert_not_null(strstr(tw_part.error, "unavailable"));
	cr_assert_eq(tw_part.nranges, 0);
	cr_assert_eq(tw_part.last_bad, -1);
	cr_assert_eq(sc->unavailable, 0, "the next partition asks again");
	sc = tw_scan(0, 1);
	krx_buf_reset(&recs);
	tw_batch(&recs, 0, 1, d);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), -1);
	cr_assert_not_null(strstr(tw_part.error, "refused"));
	krx_buf_free(&recs);
}

Test(scan_walk, malformed_and_errors)
{
	static const char *const k[] = { "", "good" };
	struct krx_scan	*sc = tw_scan(0, 2);
	struct krx_buf	 recs;

	krx_buf_init(&recs, 0);
	tw_batch(&recs, 0, 2, k);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), 1);
	cr_assert_eq(tw_part.nranges, 1);
	tw_range_eq(&tw_part.ranges[0], 0, 0, SCAN_R_MALFORMED, "?");
	sc = tw_scan(0, 2);
	tw_fetch(sc, &recs, 1);
	cr_assert_eq(scan_walk(sc), -1);
	cr_assert_not_null(strstr(tw_part.error, "out of range"));
	sc = tw_scan(0, 2);
	tw_fetch(sc, &recs, 0);
	sc->resp.len--;
	cr_assert_eq(scan_walk(sc), -1);
	cr_assert_not_null(strstr(tw_part.error, "bad Fetch response"));
	krx_buf_free(&recs);
}

Test(scan_walk, ranges_capped)
{
	static const char	*k[2 * SCAN_MAX_RANGES + 4];
	struct krx_scan		*sc;
	struct krx_buf		 recs;
	int			 i, n = 2 * SCAN_MAX_RANGES + 4;

	for (i = 0; i < n; i++)
		k[i] = i % 2 == 0 ? "old" : NULL;
	sc = tw_scan(0, n);
	krx_buf_init(&recs, 0);
	tw_batch(&recs, 0, n, k);
	tw_fetch(sc, &recs, 0);
	cr_assert_eq(scan_walk(sc), 1);
	cr_assert_eq(tw_part.nranges, SCAN_MAX_RANGES);
	cr_assert(tw_part.truncated);
	cr_assert_eq(tw_part.bad, (uint64_t)n / 2);
	cr_assert_eq(tw_part.last_bad, n - 2, "first_good past the cap too");
	krx_buf_free(&recs);
}
