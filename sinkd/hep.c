/*
 * hep.c — the hep family (io.output.hep): every SIP message reasmd --voip
 * read, and the RTCP reports of its calls, to a Homer / heplify-server
 * collector in HEPv3 (sipcapture's encapsulation: "HEP3", a 16-bit total
 * length, then chunks of vendor 0, each type, length and value in network
 * byte order):
 *
 *   1 IP family (2 or 10)      2 IP protocol (17, 6)
 *   3/4 IPv4 source/destination, 5/6 IPv6 ones
 *   7/8 source/destination port
 *   9/10 time: seconds, microseconds
 *   11 protocol type (1 SIP; 5 an RTCP report as Homer's JSON)
 *   12 capture node id (io.output.hep.node_id)
 *   14 authentication key (io.output.hep.password, when set)
 *   15 the payload (the SIP message as on the wire)
 *   17 correlation id: the call's Call-ID
 *
 * Over UDP (io.output.hep.transport udp, the default) one datagram a
 * message; a message whose HEP packet is larger than udp_max_bytes goes
 * over TCP to the same collector with large_over_tcp, else it is counted
 * (hep_too_large), as is one whose HEP packet would pass 65535 bytes (HEP
 * cannot say more).  Over TCP the packets follow each other on one
 * connection, redialled every second while the collector is down; they
 * wait in a buffer of runtime.max_output_buffer_bytes, and what does not
 * fit is counted (hep_buffer_full).  A failed send is counted
 * (hep_send_error).  No message is lost without a count.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "counters.h"
#include "log.h"
#include "sinkd.h"
#include "util.h"

#define HEP_MAX 65535u

enum tstate { T_DOWN, T_CONNECTING, T_UP };

struct hstate {
	struct sinkd *D;
	struct sockaddr_storage addr;
	socklen_t alen;
	char name[300];
	bool tcp;			/* transport tcp */
	bool large_tcp;			/* large_over_tcp */
	size_t udp_max;
	int ufd;
	struct bufferevent *tb;
	enum tstate tst;
	struct evbuffer *pend;		/* TCP: what waits while it is down */
	struct event *ev_retry;
	uint64_t max_out;
	uint32_t node_id;
	const char *password;
	bool draining;
	uint8_t *pkt;
	/* books */
	uint64_t messages, sent, sent_bytes, too_large, send_error, buffer_full, connects;
};

static struct hstate *HS;

static uint8_t *
chunk(uint8_t *p, uint16_t type, const void *v, size_t n)
{
	uint16_t h[3] = { htons(0), htons(type), htons((uint16_t)(6 + n)) };

	memcpy(p, h, 6);
	memcpy(p + 6, v, n);
	return p + 6 + n;
}

static uint8_t *
chunk8(uint8_t *p, uint16_t type, uint8_t v)
{
	return chunk(p, type, &v, 1);
}

static uint8_t *
chunk16(uint8_t *p, uint16_t type, uint16_t v)
{
	v = htons(v);
	return chunk(p, type, &v, 2);
}

static uint8_t *
chunk32(uint8_t *p, uint16_t type, uint32_t v)
{
	v = htonl(v);
	return chunk(p, type, &v, 4);
}

/* The HEP packet of message m into S->pkt; its length, 0 if over HEP_MAX. */
static size_t
hep_encode(struct hstate *S, const struct rec_message *m)
{
	const char *corr = (const char *)(m + 1);
	const uint8_t *body = (const uint8_t *)corr + m->corr_len;
	size_t pwl = S->password ? strlen(S->password) : 0;
	size_t need = 6 + 7 + 7 + 2 * (6 + (m->family == 6 ? 16 : 4)) + 2 * 8 + 2 * 10 + 7 + 10 +
	    (pwl ? 6 + pwl : 0) + 6 + (size_t)m->len + (m->corr_len ? 6 + (size_t)m->corr_len : 0);
	uint8_t *p = S->pkt;
	uint16_t total;

	if (need > HEP_MAX)
		return 0;
	memcpy(p, "HEP3", 4);
	p += 6;
	p = chunk8(p, 1, m->family == 6 ? 10 : 2);
	p = chunk8(p, 2, m->proto);
	if (m->family == 6) {
		p = chunk(p, 5, m->src, 16);
		p = chunk(p, 6, m->dst, 16);
	} else {
		p = chunk(p, 3, m->src, 4);
		p = chunk(p, 4, m->dst, 4);
	}
	p = chunk16(p, 7, m->sport);
	p = chunk16(p, 8, m->dport);
	p = chunk32(p, 9, (uint32_t)(m->ts_ns / NSEC_PER_SEC));
	p = chunk32(p, 10, (uint32_t)(m->ts_ns % NSEC_PER_SEC / 1000));
	p = chunk8(p, 11, m->kind);
	p = chunk32(p, 12, S->node_id);
	if (pwl)
		p = chunk(p, 14, S->password, pwl);
	p = chunk(p, 15, body, m->len);
	if (m->corr_len)
		p = chunk(p, 17, corr, m->corr_len);
	total = htons((uint16_t)(p - S->pkt));
	memcpy(S->pkt + 4, &total, 2);
	return (size_t)(p - S->pkt);
}

/* ---- TCP ---- */

static void tcp_dial(struct hstate *S);

static void
tcp_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tcp_dial(arg);
}

static void
tcp_down(struct hstate *S, const char *why)
{
	struct timeval sec = { 1, 0 };
	size_t lost = 0;

	if (S->tb != NULL) {
		/* what was written to the connection that broke is lost with it */
		lost = evbuffer_get_length(bufferevent_get_output(S->tb));
		bufferevent_free(S->tb);
		S->tb = NULL;
	}
	if (lost > 0) {
		static struct log_rl rl;
		S->send_error++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "hep: %s: %s; %zu bytes in flight lost "
		    "(hep_send_error)", S->name, why, lost);
	}
	if (S->tst == T_UP)
		log_warnx("hep: %s: %s; redialling every second", S->name, why);
	S->tst = T_DOWN;
	if (S->draining) {
		/* no more tries at the end: what waits is not sent */
		size_t n = evbuffer_get_length(S->pend);
		if (n > 0) {
			S->send_error++;
			evbuffer_drain(S->pend, n);
		}
		sinkd_drained(S->D);
		return;
	}
	evtimer_add(S->ev_retry, &sec);
}

static void
tcp_written(struct bufferevent *bev, void *arg)
{
	struct hstate *S = arg;

	(void)bev;
	if (S->draining && evbuffer_get_length(S->pend) == 0)
		sinkd_drained(S->D);
}

static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct hstate *S = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		S->tst = T_UP;
		S->connects++;
		log_info("hep: connected to %s (tcp)", S->name);
		/* what waited goes first */
		bufferevent_write_buffer(S->tb, S->pend);
		if (S->draining && evbuffer_get_length(bufferevent_get_output(S->tb)) == 0)
			sinkd_drained(S->D);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		tcp_down(S, what & BEV_EVENT_EOF ? "the collector closed the connection" :
		    strerror(EVUTIL_SOCKET_ERROR()));
}

static void
tcp_dial(struct hstate *S)
{
	if (S->tst != T_DOWN)
		return;
	S->tb = bufferevent_socket_new(S->D->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(S->tb, NULL, tcp_written, tcp_event, S);
	bufferevent_enable(S->tb, EV_READ);
	S->tst = T_CONNECTING;
	if (bufferevent_socket_connect(S->tb, (struct sockaddr *)&S->addr, (int)S->alen) < 0)
		tcp_down(S, strerror(errno));
}

static void
tcp_send(struct hstate *S, const uint8_t *p, size_t n)
{
	size_t held = evbuffer_get_length(S->pend) +
	    (S->tb ? evbuffer_get_length(bufferevent_get_output(S->tb)) : 0);

	if (held + n > S->max_out) {
		static struct log_rl rl;
		S->buffer_full++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "hep: %s: %" PRIu64 " bytes wait for the "
		    "collector (runtime.max_output_buffer_bytes): a message is dropped (hep_buffer_full)",
		    S->name, (uint64_t)held);
		return;
	}
	if (S->tst == T_UP)
		bufferevent_write(S->tb, p, n);
	else {
		evbuffer_add(S->pend, p, n);
		tcp_dial(S);
	}
	S->sent++;
	S->sent_bytes += n;
}

/* ---- family hooks ---- */

static int
h_prepare(struct sinkd *D, char *err, size_t errlen)
{
	struct hstate *S = xcalloc(1, sizeof(*S));
	struct addrinfo hints, *ai;
	const char *host = D->c->hep_host && *D->c->hep_host ? D->c->hep_host : "127.0.0.1";
	char ps[16];
	int r;

	HS = S;
	D->fs = S;
	S->D = D;
	S->ufd = -1;
	S->tcp = D->c->hep_transport != NULL && strcmp(D->c->hep_transport, "tcp") == 0;
	S->large_tcp = D->c->hep_large_over_tcp;
	S->udp_max = (size_t)D->c->hep_udp_max_bytes;
	S->node_id = (uint32_t)D->c->hep_node_id;
	S->password = D->c->hep_password && *D->c->hep_password ? D->c->hep_password : NULL;
	S->max_out = (uint64_t)D->c->max_output_buffer_bytes;
	if (S->max_out < 65536)
		S->max_out = 65536;
	S->pkt = xmalloc(HEP_MAX);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	snprintf(ps, sizeof(ps), "%lld", (long long)D->c->hep_port);
	if ((r = getaddrinfo(host, ps, &hints, &ai)) != 0) {
		snprintf(err, errlen, "io.output.hep.host %s: %s", host, gai_strerror(r));
		free(S->pkt);
		free(S);
		HS = NULL;
		D->fs = NULL;
		return -1;
	}
	memcpy(&S->addr, ai->ai_addr, ai->ai_addrlen);
	S->alen = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(S->name, sizeof(S->name), "%s:%s", host, ps);
	return 0;
}

static void
h_start(struct sinkd *D)
{
	struct hstate *S = D->fs;

	S->pend = evbuffer_new();
	S->ev_retry = evtimer_new(D->base, tcp_retry, S);
	if (!S->tcp) {
		S->ufd = socket(S->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (S->ufd < 0 || connect(S->ufd, (struct sockaddr *)&S->addr, S->alen) < 0)
			log_warn("hep: %s (udp): every message is counted as hep_send_error", S->name);
		else {
			int sz = 4 << 20;
			(void)setsockopt(S->ufd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		}
	}
	if (S->tcp || S->large_tcp)
		tcp_dial(S);
	log_info("hep: HEPv3 to %s over %s%s, node id %u%s", S->name, S->tcp ? "tcp" : "udp",
	    !S->tcp && S->large_tcp ? " (larger messages over tcp)" : "", S->node_id,
	    S->password ? ", with a password" : "");
}

static void
h_message(struct sinkd *D, unsigned input, const struct rec_message *m)
{
	struct hstate *S = D->fs;
	size_t n;

	(void)input;
	S->messages++;
	if ((n = hep_encode(S, m)) == 0) {
		static struct log_rl rl;
		S->too_large++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "hep: a message of %u bytes is larger than "
		    "a HEP packet can hold (hep_too_large)", m->len);
		return;
	}
	if (S->tcp || (n > S->udp_max && S->large_tcp)) {
		tcp_send(S, S->pkt, n);
		return;
	}
	if (n > S->udp_max) {
		static struct log_rl rl;
		S->too_large++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "hep: a HEP packet of %zu bytes is over "
		    "io.output.hep.udp_max_bytes (%zu) and large_over_tcp is off (hep_too_large)", n,
		    S->udp_max);
		return;
	}
	if (S->ufd < 0 || send(S->ufd, S->pkt, n, 0) != (ssize_t)n) {
		static struct log_rl rl;
		S->send_error++;
		log_ratelimited(&rl, 1, 60000, LOG_WARNING, "hep: %s (udp): %s (hep_send_error)",
		    S->name, S->ufd < 0 ? "no socket" : strerror(errno));
		return;
	}
	S->sent++;
	S->sent_bytes += n;
}

static void
h_drain(struct sinkd *D)
{
	struct hstate *S = D->fs;

	S->draining = true;
	if (S->tst == T_UP && evbuffer_get_length(bufferevent_get_output(S->tb)) > 0)
		return;		/* tcp_written ends it */
	if (S->tst == T_CONNECTING && evbuffer_get_length(S->pend) > 0)
		return;		/* tcp_event ends it */
	if (evbuffer_get_length(S->pend) > 0) {
		S->send_error++;
		evbuffer_drain(S->pend, evbuffer_get_length(S->pend));
	}
	sinkd_drained(D);
}

static void
h_abandon(struct sinkd *D)
{
	struct hstate *S = D->fs;
	size_t n = evbuffer_get_length(S->pend) + (S->tb ? evbuffer_get_length(bufferevent_get_output(S->tb)) : 0);

	if (n > 0)
		S->send_error++;
}

static void
h_summary(struct sinkd *D, FILE *f)
{
	struct hstate *S = D->fs;

	fprintf(f, "sinkd hep: %" PRIu64 " messages: sent %" PRIu64 " (%" PRIu64 " bytes) to %s, "
	    "hep_too_large %" PRIu64 ", hep_send_error %" PRIu64 ", hep_buffer_full %" PRIu64 "\n",
	    S->messages, S->sent, S->sent_bytes, S->name, S->too_large, S->send_error, S->buffer_full);
}

static void
h_counters(struct sinkd *D, struct ctr_enc *e)
{
	struct hstate *S = D->fs;

	ctr_set(e, CTR_S_HEP_MESSAGES, S->messages);
	ctr_set(e, CTR_S_HEP_SENT, S->sent);
	ctr_set(e, CTR_S_HEP_TOO_LARGE, S->too_large);
	ctr_set(e, CTR_S_HEP_SEND_ERROR, S->send_error);
	ctr_set(e, CTR_S_HEP_BUFFER_FULL, S->buffer_full);
}

static void
h_free(struct sinkd *D)
{
	struct hstate *S = D->fs;

	if (S == NULL)
		return;
	if (S->tb)
		bufferevent_free(S->tb);
	if (S->pend)
		evbuffer_free(S->pend);
	if (S->ev_retry)
		event_free(S->ev_retry);
	if (S->ufd >= 0)
		close(S->ufd);
	free(S->pkt);
	free(S);
	HS = NULL;
	D->fs = NULL;
}

const struct family family_hep = {
	.name = "hep",
	.drain_waits = true,
	.resolves = true,
	.wants = REC_WANT(REC_MESSAGE) | REC_WANT(REC_EOS),
	.prepare = h_prepare,
	.start = h_start,
	.message = h_message,
	.drain = h_drain,
	.abandon = h_abandon,
	.summary = h_summary,
	.counters = h_counters,
	.free = h_free,
};
