/*
 * mstatus.h: the master's side of the metrics (mstatus.c).
 */
#ifndef KRX_MASTER_MSTATUS_H
#define KRX_MASTER_MSTATUS_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct krx_master;
struct krx_metrics_src;
struct krx_slot;

/* Before the first fork: the regions (m->mshm; NULL: no metrics). */
void	krx_mstatus_init(struct krx_master *m, const char *version);
/* Write the status region from the slot table. */
void	krx_mstatus_sync(struct krx_master *m);
void	krx_mstatus_reload(struct krx_master *m, int failed);
/* A child was reaped: its gauges zeroed, the status written. */
void	krx_mstatus_child_gone(struct krx_master *m, const struct krx_slot *s);
/* The memfd keysvc slot ks writes its counters to, or -1. */
int	krx_mstatus_keysvc_fd(const struct krx_master *m,
	    const struct krx_slot *ks);
/* src for the renderer; names: room for max virtual cluster names. */
void	krx_mstatus_src(const struct krx_master *m,
	    struct krx_metrics_src *src, const char **names, size_t max);
/* KRX_IPC_CTL_METRICS: the text, or an error. */
void	krx_mstatus_ctl_metrics(struct krx_master *m, struct bufferevent *bev,
	    uint32_t id);

#endif
