/*
 * status_page.h: krxd's HTML status page (worker/status.html), embedded
 * at build time. The metrics listener of a worker serves it at GET /
 * with Content-Type "text/html; charset=utf-8"; the page itself polls
 * /metrics on the same listener. Read-only data, no state.
 */
#ifndef KRX_WORKER_STATUS_PAGE_H
#define KRX_WORKER_STATUS_PAGE_H

#include <stddef.h>

/*
 * The page: static storage (never freed), *len bytes of UTF-8 HTML,
 * followed by a NUL that *len does not count.
 */
const char	*krx_status_page(size_t *len);

#endif
