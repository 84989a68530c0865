/*
 * input.c — the capd peer: reasmd reading one shard of capd's packets
 * from its ring (--from RUN/capd.sock --shard N/W).
 *
 * Connect says which shard this is and gets a ring of its own.  Records:
 * interfaces, packets, ticks (capture time on a quiet capture), the end of
 * the stream.  When capd goes away without an end of stream, reasmd keeps
 * its sessions and reconnects with back-off: the launcher restarts capd
 * and the shard picks up where the capture continues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "redial.h"
#include "reasmd.h"
#include "ringev.h"
#include "util.h"

#define CAPD_IFACES 16

struct input {
	struct reasm *R;
	struct event_base *base;
	const char *path;
	unsigned shard, nshards;
	struct ringev *re;
	int pend_sock;			/* connected, waiting for the sinks */
	struct ring *pend_ring;
	struct redial rd;
	int dlt[CAPD_IFACES];
	bool eos, stop;
};

static int
on_record(const struct wire_rec *rec, void *arg)
{
	struct input *I = arg;
	const void *b = rec + 1;

	switch (rec->type) {
	case REC_INTERFACE: {
		const struct rec_interface *i = b;
		char name[32];
		size_t nl = MIN((size_t)i->name_len, sizeof(name) - 1);
		memcpy(name, i + 1, nl);
		name[nl] = '\0';
		if (i->id < CAPD_IFACES)
			I->dlt[i->id] = (int)i->linktype;
		reasm_interface(I->R, i->id, (int)i->linktype, (int)i->snaplen, name);
		break;
	}
	case REC_PACKET: {
		const struct rec_packet *p = b;
		int dlt = p->ifid < CAPD_IFACES ? I->dlt[p->ifid] : -1;
		I->R->cur_ifid = p->ifid;
		reasm_frame(I->R, dlt, p->ts_ns, rec_packet_frame(p), p->caplen, p->origlen);
		break;
	}
	case REC_TICK:
		reasm_tick(I->R, ((const struct rec_tick *)b)->ts_ns);
		break;
	case REC_EOS:
		I->eos = true;
		break;
	default:
		break;
	}
	return 0;
}

static void
on_lost(struct ringev *re, void *arg)
{
	struct input *I = arg;

	(void)re;
	if (I->eos || I->stop) {
		event_base_loopbreak(I->base);
		return;
	}
	log_warnx("capd went away; reconnecting to %s in %u ms (sessions stay open)", I->path,
	    redial_lost(&I->rd));
}

static void
on_idle(struct ringev *re, void *arg)
{
	struct input *I = arg;

	(void)re;
	sinks_flush(I->R->sinks);
}

void
input_go(void *arg)
{
	struct input *I = arg;

	if (I->pend_ring == NULL)
		return;
	I->re = ringev_consumer_new(I->base, I->pend_sock, I->pend_ring, on_record, on_lost, I, 1024);
	ringev_set_idle(I->re, on_idle);
	I->pend_ring = NULL;
	I->pend_sock = -1;
}

int
input_open(struct input *I, char *err, size_t errlen)
{
	struct msg_hello h;
	struct ring *r;
	int sock;
	char name[32];

	snprintf(name, sizeof(name), "reasmd %u/%u", I->shard, I->nshards);
	chan_hello_init(&h, ROLE_REASMD, I->shard, I->nshards,
	    REC_WANT(REC_INTERFACE) | REC_WANT(REC_PACKET) | REC_WANT(REC_TICK) | REC_WANT(REC_EOS), name);
	if ((sock = chan_open_ring(I->path, &h, &r, 5000, err, errlen)) < 0)
		return -1;
	if (I->re != NULL)
		ringev_free(I->re);
	I->re = NULL;
	I->pend_sock = sock;
	I->pend_ring = r;
	redial_reset(&I->rd);
	if (sinks_ready(I->R->sinks))
		input_go(I);
	return 0;
}

/* One attempt to get capd back (redial.h). */
static int
on_redial(void *arg, char *err, size_t errlen)
{
	return input_open(arg, err, errlen);
}

struct input *
input_new(struct reasm *R, struct event_base *base, const char *path, unsigned shard,
    unsigned nshards)
{
	struct input *I = xcalloc(1, sizeof(*I));

	I->R = R;
	I->base = base;
	I->path = path;
	I->shard = shard;
	I->nshards = nshards;
	I->pend_sock = -1;
	for (int k = 0; k < CAPD_IFACES; k++)
		I->dlt[k] = -1;
	redial_init(&I->rd, base, path, on_redial, I);
	return I;
}

bool
input_eos(const struct input *I)
{
	return I->eos;
}

struct reasm *
input_reasm(const struct input *I)
{
	return I->R;
}

void
input_stop(struct input *I)
{
	I->stop = true;
	event_base_loopbreak(I->base);
}

void
input_free(struct input *I)
{
	if (I == NULL)
		return;
	if (I->re)
		ringev_free(I->re);
	if (I->pend_ring) {
		ring_free(I->pend_ring);
		close(I->pend_sock);
	}
	redial_free(&I->rd);
	free(I);
}
