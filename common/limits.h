/*
 * limits.h: the numbers every process agrees on, defined once: the
 * exit codes of krxd's processes, the most workers a master runs, and
 * the length of a DEK. Program grade.
 */
#ifndef KRX_COMMON_LIMITS_H
#define KRX_COMMON_LIMITS_H

#define KRX_MAX_WORKERS		256	/* workers of one generation */
/*
 * Worker rows: at most two generations run at once (reload), each on
 * its own half, so that a counters row and a keysvc channel slot
 * belong to one worker only (master/reload.c).
 */
#define KRX_MAX_ROWS		(2 * KRX_MAX_WORKERS)
#define KRX_DEK_LEN		32	/* an AES-256 DEK */
/*
 * Seconds a worker waits for keysvc's answer (Kafka's clients time out
 * a request after 30 s by default), and the time keysvc gives one KMS
 * request, every attempt and backoff included: less, so that the
 * worker hears keysvc's own verdict (unreachable, TLS, timeout) rather
 * than giving up on keysvc.
 */
#define KRX_KEY_DEADLINE	30
#define KRX_KMS_DEADLINE_MS	25000

/* Exit codes (sysexits.h): 78 is not respawned, the rest are crashes. */
#define KRX_EXIT_SOFTWARE	70	/* EX_SOFTWARE: an internal error */
#define KRX_EXIT_IPC		76	/* EX_PROTOCOL: a peer broke the IPC
					 * contract */
#define KRX_EXIT_CONFIG		78	/* EX_CONFIG: unusable configuration */

#endif
