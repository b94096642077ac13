/*
 * kms_common.c: what the KMS providers share besides their interface
 * (kms.h): the guide's counters of KMS operations and their outcomes,
 * their names, and an answer given at once without the KMS. Program
 * grade; runs in keysvc only.
 */
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/shm/mstats.h"
#include "keysvc/kms.h"

int
krx_kms_log_due(struct krx_kms_lograte *l, int *earlier)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < l->next) {
		l->suppressed++;
		return 0;
	}
	*earlier = l->suppressed > 0;
	l->suppressed = 0;
	l->next = now.tv_sec + KRX_KMS_LOG_EVERY;
	return 1;
}

void
krx_kms_timer_in(struct event *ev, long secs)
{
	struct timeval	 tv;

	tv.tv_sec = secs < 1 ? 1 : secs;
	tv.tv_usec = 0;
	evtimer_add(ev, &tv);
}

struct krx_kmrow	*krx_kms_mrow;

void
krx_kms_clean(char *out, size_t outsz, const char *s, size_t n)
{
	size_t	 i;

	if (outsz == 0)
		return;
	if (n > outsz - 1)
		n = outsz - 1;
	for (i = 0; i < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[n] = '\0';
}

void
krx_kms_count(struct krx_kms_counters *c, enum krx_kms_op op,
    enum krx_key_status st)
{
	int	 o = st == KRX_KEY_OK ? KRX_KMS_SUCCESS :
	    st == KRX_KEY_NOT_FOUND ? KRX_KMS_NOT_FOUND : KRX_KMS_EXCEPTION;

	if (c != NULL) {
		c->attempts[op]++;
		c->outcomes[op][o]++;
	}
	if (krx_kms_mrow != NULL && op < KRX_KM_OPS) {
		krx_m_add(&krx_kms_mrow->attempts[op], 1);
		krx_m_add(&krx_kms_mrow->outcomes[op][o], 1);
	}
}

void
krx_kms_counters_add(struct krx_kms_counters *out,
    const struct krx_kms_counters *in)
{
	int	 i, j;

	for (i = 0; i < KRX_KMS_OP_N; i++) {
		out->attempts[i] += in->attempts[i];
		for (j = 0; j < KRX_KMS_OUTCOME_N; j++)
			out->outcomes[i][j] += in->outcomes[i][j];
	}
}

void
krx_kms_answer_now(krx_kms_cb cb, void *arg, enum krx_key_status st,
    const char *detail)
{
	struct krx_kms_result	 res;

	memset(&res, 0, sizeof(res));
	res.status = st;
	res.detail = detail;
	cb(arg, &res);
}

const char *
krx_kms_op_name(int op)
{
	static const char *const names[KRX_KMS_OP_N] = {
		"generate_dek_pair", "decrypt_edek", "resolve_alias"
	};

	return op >= 0 && op < KRX_KMS_OP_N ? names[op] : "?";
}

const char *
krx_kms_outcome_name(int outcome)
{
	static const char *const names[KRX_KMS_OUTCOME_N] = {
		"success", "not_found", "exception"
	};

	return outcome >= 0 && outcome < KRX_KMS_OUTCOME_N ? names[outcome] :
	    "?";
}
