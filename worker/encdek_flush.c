/*
 * encdek_flush.c: stand-in for krx_encpool_flush until worker/encdek.c
 * has its own (delete this file then). Drops every pool's DEKs, not only
 * those of one KEK of one vcluster: more than asked, never less.
 */
#include "worker/encdek.h"
#include "worker/keyclient.h"

void
krx_encpool_flush(struct krx_worker *w, size_t vc, const char *kek,
    size_t len)
{
	krx_encpool_flush_all(w);
}
