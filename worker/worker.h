/*
 * worker.h: entry point of a worker process (one libevent loop carrying
 * Kafka connections). Forked by the master, never exec'd.
 */
#ifndef KRX_WORKER_WORKER_H
#define KRX_WORKER_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct krx_cycle;
struct krx_ipc_hdr;

/*
 * Run worker `slot` of generation cy (the worker's copy, after fork:
 * its configuration, listeners and shared regions) with channel fd
 * `chan` to the master and `keys` to keysvc (-1: none yet). Never
 * returns.
 */
void	krx_worker_main(struct krx_cycle *cy, int slot, int chan, int keys)
	    __attribute__((noreturn));
/* dekdrop.c: KRX_IPC_W_DEK_DROP from the master (ctx: the worker). */
int	krx_worker_on_dek_drop(void *ctx, const struct krx_ipc_hdr *h,
	    const uint8_t *p, size_t len, int fd);

#endif
