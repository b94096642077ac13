/*
 * ctl.h: what krx-ctl's files share: the command table's row, the
 * transport (call.c) and each command group's entry points (cmd_*.c).
 */
#ifndef KRX_CTL_H
#define KRX_CTL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/ipc.h"

struct ctl_cmd {
	const char	*word;
	int		(*run)(int fd, int argc, char **argv);
	const char	*help;
};

extern const char	*ctl_cluster;	/* -C, "" for the first cluster */
extern int		 ctl_json;	/* -j: JSON on stdout (json.c) */

/* A JSON string of n bytes (not NUL-terminated), escaped. */
void	ctl_json_str(FILE *f, const char *s, size_t n);
/* {"error": msg} on stdout, for -j. */
void	ctl_json_error(const char *msg);

/* Print the commands and exit 2. */
_Noreturn void	ctl_usage(void);

/* The control socket's fd, or -1 (printed). */
int	ctl_connect(const char *path);
/*
 * Send one request, read one reply into payload: 0, 1 for a reply with
 * F_ERROR (payload holds the error), or -1 (printed).
 */
int	ctl_call(int fd, uint32_t type, const void *req, size_t len,
	    struct krx_ipc_hdr *h, struct krx_buf *payload);
/* As ctl_call, printing an error payload: 0 or -1. */
int	ctl_call_text(int fd, uint32_t type, const void *req, size_t len,
	    struct krx_ipc_hdr *h, struct krx_buf *payload);
/* One key command relayed to keysvc; the exit code. */
int	ctl_keys(int fd, uint8_t op, const char *arg);

int	cmd_status(int, int, char **);	/* cmd_status.c */
int	cmd_stop(int, int, char **);
int	cmd_reload(int, int, char **);
int	cmd_reopen(int, int, char **);
int	cmd_kek(int, int, char **);	/* cmd_keys.c */
int	cmd_kms(int, int, char **);
int	cmd_cache(int, int, char **);
int	cmd_metrics(int, int, char **);	/* cmd_metrics.c */

#endif
