/*
 * ctl.h: what krx-ctl's files share: the command table's row, the
 * transport (call.c), the output helpers (json.c) and each command
 * group's entry points (cmd_*.c).
 *
 * Exit codes (krx-ctl(8)): 0 done; 1 failed (krxd refused or the
 * configuration is not valid); 2 usage; 3 KEK not found; 4 permission
 * denied (the control socket's table, the socket file, or the KMS
 * refused); 5 KMS unreachable; 6 krxd is not running.
 */
#ifndef KRX_CTL_H
#define KRX_CTL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/ipc.h"

#define CTL_EXIT_OK		0
#define CTL_EXIT_FAILED		1
#define CTL_EXIT_USAGE		2
#define CTL_EXIT_NOT_FOUND	3
#define CTL_EXIT_DENIED		4
#define CTL_EXIT_KMS		5
#define CTL_EXIT_NOT_RUNNING	6

struct ctl_cmd {
	const char	*word;
	int		(*run)(int fd, int argc, char **argv);
	const char	*usage;		/* its syntax */
	const char	*summary;	/* one line, in the command list */
	const char	*help;		/* krx-ctl help WORD */
	int		 no_socket;	/* run without krxd (fd -1) */
};

extern const char	*ctl_cluster;	/* -C, "" for the first cluster */
extern int		 ctl_json;	/* -j: JSON on stdout (json.c) */
extern const char	*ctl_group;	/* control_group of -c's file */

/* A JSON string of n bytes (not NUL-terminated), escaped. */
void	ctl_json_str(FILE *f, const char *s, size_t n);
/* The same bytes escaped, without the quotes. */
void	ctl_json_chars(FILE *f, const char *s, size_t n);
/* The same, of a NUL-terminated string. */
void	ctl_json_cstr(FILE *f, const char *s);
/* {"error": msg} on stdout, for -j. */
void	ctl_json_error(const char *msg);
/*
 * A failure: "krx-ctl: MSG" on stderr, or {"error": "MSG"} on stdout
 * with -j. Returns code.
 */
int	ctl_fail(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* "name value" lines as one JSON object {"name": value, ...}. */
void	ctl_json_counters(const char *text, size_t len);

/* Print the commands (to stderr) and exit 2. */
_Noreturn void	ctl_usage(void);

/*
 * The control socket's fd, or -1 with *code set (printed: krxd not
 * running, permission denied, other).
 */
int	ctl_connect(const char *path, int *code);
/*
 * Send one request, read one reply into payload: 0, 1 for a reply with
 * F_ERROR (payload holds the error), or -1 (printed). A refusal by the
 * permission table is printed and exits CTL_EXIT_DENIED.
 */
int	ctl_call(int fd, uint32_t type, const void *req, size_t len,
	    struct krx_ipc_hdr *h, struct krx_buf *payload);
/* As ctl_call, printing an error payload: 0 or -1. */
int	ctl_call_text(int fd, uint32_t type, const void *req, size_t len,
	    struct krx_ipc_hdr *h, struct krx_buf *payload);
/*
 * One key command relayed to keysvc: its exit code with keysvc's text
 * in text, or CTL_EXIT_FAILED after a transport error (printed; text
 * empty).
 */
int	ctl_keys_call(int fd, uint8_t op, const char *arg,
	    struct krx_buf *text);

int	cmd_status(int, int, char **);	/* cmd_status.c */
int	cmd_stop(int, int, char **);
int	cmd_reload(int, int, char **);
int	cmd_reopen(int, int, char **);
int	cmd_kek(int, int, char **);	/* cmd_keys.c */
int	cmd_kms(int, int, char **);
int	cmd_cache(int, int, char **);	/* cmd_cache.c */
int	cmd_dek(int, int, char **);	/* cmd_dek.c */
int	cmd_config_test(int, int, char **);	/* cmd_config.c */
int	cmd_scan(int, int, char **);	/* cmd_scan.c */
int	cmd_metrics(int, int, char **);	/* cmd_metrics.c */

#endif
