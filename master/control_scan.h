/*
 * control_scan.h: krx-ctl scan in the master (control_scan.c): the
 * request goes to one free worker of the serving generation, its report
 * comes back in pieces and goes on to krx-ctl as it comes.
 */
#ifndef KRX_MASTER_CONTROL_SCAN_H
#define KRX_MASTER_CONTROL_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/ipc.h"

struct bufferevent;
struct krx_master;
struct krx_slot;

/* KRX_IPC_CTL_SCAN from krx-ctl on bev. */
void	krx_control_scan(struct krx_master *m, struct bufferevent *bev,
	    const struct krx_ipc_hdr *h, const struct krx_buf *p);
/* SCAN_DATA or SCAN_END from worker s: 0 (a stale id is ignored). */
int	krx_control_scan_message(struct krx_master *m, struct krx_slot *s,
	    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len);
/* Whether bev waits for a scan (keep it open). */
int	krx_control_scan_busy(const struct krx_master *m,
	    const struct bufferevent *bev);
/* bev went away: its scan is cancelled at the worker. */
void	krx_control_scan_forget(struct krx_master *m,
	    struct bufferevent *bev);

#endif
