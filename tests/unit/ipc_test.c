/*
 * ipc_test.c: framing of krx's internal messages (proto/ipc.c):
 * round trip, truncated, oversized, wrong version, bad length and flags.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <event2/buffer.h>

#include "proto/ipc.h"

static void
compose(struct krx_buf *b, uint32_t type, const char *payload)
{
	krx_buf_init(b, 0);
	cr_assert_eq(krx_ipc_compose(b, type, 7, 0, payload,
	    payload ? strlen(payload) : 0), KRX_OK);
}

Test(ipc, roundtrip_header)
{
	struct krx_buf		 b;
	struct krx_ipc_hdr	 h;

	compose(&b, KRX_IPC_CTL_STATUS, "xyz");
	cr_assert_eq(b.len, KRX_IPC_HDR_LEN + 3);
	cr_assert_eq(krx_ipc_hdr_parse(b.data, b.len, KRX_IPC_MAX_CTL, &h),
	    KRX_OK);
	cr_assert_eq(h.type, KRX_IPC_CTL_STATUS);
	cr_assert_eq(h.len, KRX_IPC_HDR_LEN + 3);
	cr_assert_eq(h.id, 7);
	cr_assert_eq(h.version, KRX_IPC_VERSION);
	krx_buf_free(&b);
}

Test(ipc, rejects_truncated_oversized_version_length_flags)
{
	struct krx_buf		 b;
	struct krx_ipc_hdr	 h;
	uint32_t		 v;
	uint16_t		 v16;

	compose(&b, KRX_IPC_READY, "0123456789");
	cr_assert_eq(krx_ipc_hdr_parse(b.data, 15, 1024, &h),
	    KRX_E_TRUNCATED);
	cr_assert_eq(krx_ipc_hdr_parse(b.data, b.len, 20, &h), KRX_E_TOO_BIG);
	v16 = KRX_IPC_VERSION + 1;
	memcpy(b.data + 14, &v16, 2);
	cr_assert_eq(krx_ipc_hdr_parse(b.data, b.len, 1024, &h),
	    KRX_E_VERSION);
	v16 = KRX_IPC_VERSION;
	memcpy(b.data + 14, &v16, 2);
	v = 15;
	memcpy(b.data + 4, &v, 4);
	cr_assert_eq(krx_ipc_hdr_parse(b.data, b.len, 1024, &h),
	    KRX_E_MALFORMED);
	v = 26;
	memcpy(b.data + 4, &v, 4);
	v16 = 0x8000;
	memcpy(b.data + 12, &v16, 2);
	cr_assert_eq(krx_ipc_hdr_parse(b.data, b.len, 1024, &h),
	    KRX_E_MALFORMED);
	krx_buf_free(&b);
}

Test(ipc, evbuffer_read_waits_for_whole_message)
{
	struct evbuffer		*in = evbuffer_new();
	struct krx_buf		 b, p;
	struct krx_ipc_hdr	 h;

	compose(&b, KRX_IPC_CTL_STOP, "ab");
	krx_buf_init(&p, 0);
	evbuffer_add(in, b.data, 10);
	cr_assert_eq(krx_ipc_read(in, 1024, &h, &p), 0);
	evbuffer_add(in, b.data + 10, b.len - 11);
	cr_assert_eq(krx_ipc_read(in, 1024, &h, &p), 0);
	evbuffer_add(in, b.data + b.len - 1, 1);
	cr_assert_eq(krx_ipc_read(in, 1024, &h, &p), 1);
	cr_assert_eq(h.type, KRX_IPC_CTL_STOP);
	cr_assert_eq(p.len, 2);
	cr_assert_eq(memcmp(p.data, "ab", 2), 0);
	cr_assert_eq(evbuffer_get_length(in), 0);
	/* A message over the channel's cap is an error, not a wait. */
	evbuffer_add(in, b.data, b.len);
	cr_assert_eq(krx_ipc_read(in, 17, &h, &p), KRX_E_TOO_BIG);
	krx_buf_free(&b);
	krx_buf_free(&p);
	evbuffer_free(in);
}
