/*
 * proctitle.h: process titles as nginx has them, so that ps tells
 * krxd's processes apart ("krxd: master", "krxd: worker 0 (generation
 * 1)", "krxd: keysvc"). The title is written over the memory of the
 * original argv and environment, which krx_proctitle_init moves to the
 * heap first (argv[i] and environ point at the copies, which live as
 * long as the process). Written by hand: libbsd's setproctitle leaves
 * a '.' in /proc/PID/cmdline when the title is shorter than argv[0].
 * Program grade; Linux.
 */
#ifndef KRX_COMMON_PROCTITLE_H
#define KRX_COMMON_PROCTITLE_H

/* Once, first thing in main (before getopt keeps pointers into argv). */
void	krx_proctitle_init(int argc, char *argv[]);
/* "krxd: " and fmt; cut to the room the original argv and environment
 * had. A no-op before krx_proctitle_init. */
void	krx_proctitle_set(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

#endif
