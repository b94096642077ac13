/*
 * scan.h: krx-ctl scan in a worker: the lost-KEK recovery aid. The
 * master hands one worker a topic (and maybe one partition); the worker
 * reads it from the brokers on connections of its own, tests the EDEK
 * of every encrypted record through the key service (one question per
 * distinct EDEK; values are never decrypted) and reports, per
 * partition, the undecryptable ranges and first_good: the lowest offset
 * from which every record decrypts. One scan at a time per worker, on
 * the worker's loop, bounded in bytes, ranges and time.
 */
#ifndef KRX_WORKER_SCAN_H
#define KRX_WORKER_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct krx_worker;

/* SCAN_START from the master (payload as proto/ipc.h says). */
void	krx_scan_start(struct krx_worker *w, uint32_t id, const uint8_t *p,
	    size_t len);
/* SCAN_CANCEL: the krx-ctl waiting went away. */
void	krx_scan_cancel(struct krx_worker *w, uint32_t id);
/* The worker exits: drop a scan in progress. */
void	krx_scan_free_all(struct krx_worker *w);

#endif
