/*
 * worker.h: entry point of a worker process (one libevent loop carrying
 * Kafka connections). Forked by the master, never exec'd.
 */
#ifndef KRX_WORKER_WORKER_H
#define KRX_WORKER_WORKER_H

struct krx_cycle;

/*
 * Run worker `slot` of generation cy (the worker's copy, after fork:
 * its configuration, listeners and shared regions) with channel fd
 * `chan` to the master and `keys` to keysvc (-1: none yet). Never
 * returns.
 */
void	krx_worker_main(struct krx_cycle *cy, int slot, int chan, int keys)
	    __attribute__((noreturn));

#endif
