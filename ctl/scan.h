/*
 * scan.h: krx-ctl scan's report as read from krxd (cmd_scan.c) and
 * printed (cmd_scan_out.c): per partition the offsets, first_good and
 * the undecryptable ranges (format: worker/scan_report.c).
 */
#ifndef KRX_CTL_SCAN_H
#define KRX_CTL_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct ctl_scan_range {
	int32_t		 part;
	long long	 from, to;
	char		 reason[16];
	char		 kek[200];
};

struct ctl_scan_part {
	int32_t		 index;
	long long	 earliest, latest, first_good;
	unsigned long long records, encrypted, bad;
	int		 truncated;
	char		 state[16];	/* ok, error, unscanned */
	char		 error[300];
};

struct ctl_scan {
	char			 topic[256];
	char			 vcluster[256];
	char			 bootstrap[300];
	char			 error[400];	/* the scan's, "" none */
	struct ctl_scan_part	*parts;
	size_t			 nparts;
	struct ctl_scan_range	*ranges;
	size_t			 nranges;
	/* options */
	const char		*group;		/* NULL: placeholder */
	const char		*out_dir;	/* NULL: print the file */
};

/* Read the report text (NUL-terminated) into sc: 0, or -1. */
int	ctl_scan_parse(char *text, struct ctl_scan *sc);
void	ctl_scan_free(struct ctl_scan *sc);
/* Print as text or JSON (ctl_json), with the §5.1.3 commands: exit code. */
int	ctl_scan_print(struct ctl_scan *sc);

#endif
