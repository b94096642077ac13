/*
 * dekdrop.c: the master's KRX_IPC_W_DEK_DROP (krx-ctl dek rotate and
 * cache flush): drop the encryption DEKs of every pool (or of one KEK
 * name or alias), and for a cache flush every decrypted DEK and alias
 * resolution too; answer with the counts. The next produce makes new
 * DEKs, the next fetch asks keysvc again.
 */
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/chan.h"
#include "common/log.h"
#include "conf/conf.h"
#include "proto/ipc.h"
#include "worker/encdek.h"
#include "worker/keyclient.h"
#include "worker/session.h"
#include "worker/worker.h"

/* u32 what | u32 len | len bytes KEK (proto/ipc.h). */
int
krx_worker_on_dek_drop(void *ctx, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd)
{
	struct krx_worker	*w = ctx;
	struct krx_cur		 c;
	struct krx_buf		 b;
	const uint8_t		*kek;
	uint32_t		 what, klen;
	uint64_t		 enc = 0, dec = 0;
	size_t			 vc;

	krx_cur_init(&c, p, len);
	if (krx_cur_get_be32(&c, &what) != KRX_OK ||
	    krx_cur_get_be32(&c, &klen) != KRX_OK || klen > 255 ||
	    krx_cur_get_ref(&c, klen, &kek) != KRX_OK ||
	    krx_cur_end(&c) != KRX_OK || (what != KRX_DEK_DROP_ENCRYPT &&
	    what != KRX_DEK_DROP_ALL))
		return -1;
	for (vc = 0; vc < w->conf->n_vclusters; vc++)
		enc += krx_encpool_flush(w, vc, (const char *)kek, klen);
	if (what == KRX_DEK_DROP_ALL && w->kc != NULL)
		dec = krx_keyclient_drop_all(w->kc);
	log_info("krx-ctl: dropped %llu encryption and %llu decryption "
	    "DEKs%s%.*s", (unsigned long long)enc, (unsigned long long)dec,
	    klen > 0 ? " of KEK " : "", (int)klen, (const char *)kek);
	krx_buf_init(&b, 16);
	krx_buf_put_be64(&b, enc);
	krx_buf_put_be64(&b, dec);
	if (b.err == KRX_OK)
		krx_chan_send(w->chan, KRX_IPC_W_DEK_DROPPED, h->id, 0, b.data,
		    b.len, -1);
	krx_buf_free(&b);
	return 0;
}
