/*
 * ipc.c: framing of krx's internal messages. Library grade; trusts no
 * byte it reads.
 */
#include <string.h>
#include <sys/types.h>

#include <event2/buffer.h>

#include "common/err.h"
#include "proto/ipc.h"

#define IPC_KNOWN_FLAGS	(KRX_IPC_F_ERROR | KRX_IPC_F_FD)

int
krx_ipc_compose(struct krx_buf *out, uint32_t type, uint32_t id,
    uint16_t flags, const void *payload, size_t len)
{
	struct krx_ipc_hdr	 h;
	uint8_t			 raw[KRX_IPC_HDR_LEN];

	if (len > UINT32_MAX - KRX_IPC_HDR_LEN)
		return KRX_E_TOO_BIG;
	h.type = type;
	h.len = (uint32_t)(KRX_IPC_HDR_LEN + len);
	h.id = id;
	h.flags = flags;
	h.version = KRX_IPC_VERSION;
	memcpy(raw, &h.type, 4);
	memcpy(raw + 4, &h.len, 4);
	memcpy(raw + 8, &h.id, 4);
	memcpy(raw + 12, &h.flags, 2);
	memcpy(raw + 14, &h.version, 2);
	krx_buf_put(out, raw, sizeof(raw));
	krx_buf_put(out, payload, len);
	return out->err;
}

int
krx_ipc_hdr_parse(const uint8_t *p, size_t len, size_t max,
    struct krx_ipc_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (len < KRX_IPC_HDR_LEN)
		return KRX_E_TRUNCATED;
	memcpy(&h->type, p, 4);
	memcpy(&h->len, p + 4, 4);
	memcpy(&h->id, p + 8, 4);
	memcpy(&h->flags, p + 12, 2);
	memcpy(&h->version, p + 14, 2);
	if (h->version != KRX_IPC_VERSION)
		return KRX_E_VERSION;
	if (h->len < KRX_IPC_HDR_LEN || (h->flags & ~IPC_KNOWN_FLAGS) != 0)
		return KRX_E_MALFORMED;
	if (h->len > max)
		return KRX_E_TOO_BIG;
	return KRX_OK;
}

const char *
krx_gen_state_name(uint32_t state)
{
	static const char *const names[] = {
		"empty", "starting", "serving", "draining", "aborted"
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

const char *
krx_child_state_name(uint32_t state)
{
	switch (state) {
	case KRX_CHILD_STARTING:
		return "starting";
	case KRX_CHILD_RUNNING:
		return "running";
	case KRX_CHILD_BACKOFF:
		return "backoff";
	case KRX_CHILD_DRAINING:
		return "draining";
	default:
		return "empty";
	}
}

int
krx_ipc_read(struct evbuffer *in, size_t max, struct krx_ipc_hdr *h,
    struct krx_buf *payload)
{
	uint8_t		 raw[KRX_IPC_HDR_LEN];
	size_t		 plen;
	int		 r;

	krx_buf_reset(payload);
	if (evbuffer_copyout(in, raw, sizeof(raw)) < (ssize_t)sizeof(raw))
		return 0;
	if ((r = krx_ipc_hdr_parse(raw, sizeof(raw), max, h)) != KRX_OK)
		return r;
	if (evbuffer_get_length(in) < h->len)
		return 0;
	evbuffer_drain(in, KRX_IPC_HDR_LEN);
	plen = h->len - KRX_IPC_HDR_LEN;
	if (krx_buf_reserve(payload, plen) != KRX_OK)
		return payload->err;
	evbuffer_remove(in, payload->data, plen);
	payload->len = plen;
	return 1;
}

int
krx_ipc_send(struct evbuffer *out, uint32_t type, uint32_t id,
    uint16_t flags, const void *payload, size_t len)
{
	struct krx_buf	 b;
	int		 r;

	krx_buf_init(&b, KRX_IPC_HDR_LEN + len);
	if ((r = krx_ipc_compose(&b, type, id, flags, payload, len)) ==
	    KRX_OK && evbuffer_add(out, b.data, b.len) != 0)
		r = KRX_E_NOMEM;
	krx_buf_free(&b);
	return r;
}
