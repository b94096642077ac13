/*
 * worker.h: entry point of a worker process (one libevent loop carrying
 * Kafka connections). Forked by the master, never exec'd.
 */
#ifndef KRX_WORKER_WORKER_H
#define KRX_WORKER_WORKER_H

struct krx_master;

/*
 * Run worker `slot` with channel fd `chan` to the master and `keys` to
 * keysvc (-1: none yet); inherits the master's configuration and
 * listeners. Never returns.
 */
void	krx_worker_main(struct krx_master *m, int slot, int chan, int keys)
	    __attribute__((noreturn));

#endif
