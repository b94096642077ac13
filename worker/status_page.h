/*
 * status_page.h: the self-contained HTML status page the metrics
 * listener serves at / (STUB from the HTTP listener's branch; the status
 * page's branch replaces status_page.{c,h}).
 */
#ifndef KRX_WORKER_STATUS_PAGE_H
#define KRX_WORKER_STATUS_PAGE_H

#include <stddef.h>

/* The page (static storage, not NUL-terminated for the caller): *len. */
const char *krx_status_page(size_t *len);

#endif
