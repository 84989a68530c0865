/*
 * wire.c — names of record and message types, and record validation.
 */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "wire.h"

static const char *const rec_names[] = {
	[REC_INTERFACE] = "interface", [REC_PACKET] = "packet",
	[REC_SESSION_OPEN] = "session_open", [REC_CHUNK] = "chunk",
	[REC_GAP] = "gap", [REC_SESSION_CLOSE] = "session_close",
	[REC_TICK] = "tick", [REC_EVENT] = "event",
	[REC_EOS] = "eos", [REC_CALL_OPEN] = "call_open", [REC_CALL_CLOSE] = "call_close",
	[REC_MESSAGE] = "message", [REC_SESSION_JOIN] = "session_join",
};

static const char *const msg_names[] = {
	"hello", "hello_ok", "reject", "wake_consumer", "wake_producer",
};

static const char *const reason_names[] = {
	[CLOSE_FIN] = "fin", [CLOSE_RST] = "rst", [CLOSE_IDLE] = "idle_timeout",
	[CLOSE_EOF] = "eof", [CLOSE_SHUTDOWN] = "shutdown",
	[CLOSE_CONTROL] = "control_close", [CLOSE_TABLE_FULL] = "table_full",
};

/* The fixed part of each record type's body. */
static const uint32_t rec_fixed[] = {
	[REC_INTERFACE] = sizeof(struct rec_interface),
	[REC_PACKET] = sizeof(struct rec_packet),
	[REC_SESSION_OPEN] = sizeof(struct rec_session_open),
	[REC_CHUNK] = sizeof(struct rec_chunk),
	[REC_GAP] = sizeof(struct rec_gap),
	[REC_SESSION_CLOSE] = sizeof(struct rec_session_close),
	[REC_TICK] = sizeof(struct rec_tick),
	[REC_EVENT] = sizeof(struct rec_event),
	[REC_EOS] = 0,
	[REC_CALL_OPEN] = sizeof(struct rec_call_open),
	[REC_CALL_CLOSE] = sizeof(struct rec_call_close),
	[REC_MESSAGE] = sizeof(struct rec_message),
	[REC_SESSION_JOIN] = sizeof(struct rec_session_join),
};

const char *
wire_rec_name(unsigned type)
{
	return type > 0 && type < REC_TYPE_MAX && rec_names[type] ? rec_names[type] : "unknown";
}

const char *
wire_msg_name(unsigned type)
{
	return type >= MSG_HELLO && type < MSG_TYPE_MAX ? msg_names[type - MSG_HELLO] : "unknown";
}

const char *
wire_close_reason_name(unsigned reason)
{
	return reason > 0 && reason < CLOSE_REASON_MAX ? reason_names[reason] : "unknown";
}

int
wire_close_reason_parse(const char *s)
{
	for (unsigned k = 1; k < CLOSE_REASON_MAX; k++)
		if (strcmp(s, reason_names[k]) == 0)
			return (int)k;
	return -1;
}

int
wire_rec_check(const struct wire_rec *r, size_t avail, char *err, size_t errlen)
{
	const void *body = r + 1;
	uint32_t blen;

	if (avail < sizeof(*r)) {
		snprintf(err, errlen, "truncated record header (%zu bytes)", avail);
		return -1;
	}
	if (r->type == 0 || r->type >= REC_TYPE_MAX || rec_names[r->type] == NULL) {
		snprintf(err, errlen, "unknown record type %u (not one of this build's, "
		    "record version %u)", r->type, WIRE_VERSION);
		return -1;
	}
	if (r->len < sizeof(*r) + rec_fixed[r->type] || r->len > WIRE_MAX_REC) {
		snprintf(err, errlen, "%s record with bad length %u", wire_rec_name(r->type), r->len);
		return -1;
	}
	if (r->len > avail) {
		snprintf(err, errlen, "truncated %s record (%u bytes, %zu available)",
		    wire_rec_name(r->type), r->len, avail);
		return -1;
	}
	blen = r->len - (uint32_t)sizeof(*r);
	switch (r->type) {
	case REC_INTERFACE: {
		const struct rec_interface *i = body;
		if (i->name_len > blen - sizeof(*i))
			goto badvar;
		break;
	}
	case REC_PACKET: {
		const struct rec_packet *p = body;
		if (p->ncalls > WIRE_MAX_CALLS ||
		    p->caplen != blen - sizeof(*p) - 8u * p->ncalls || p->caplen > p->origlen)
			goto badvar;
		break;
	}
	case REC_CHUNK: {
		const struct rec_chunk *c = body;
		if (c->dir > 1)
			goto badvar;
		break;
	}
	case REC_GAP: {
		const struct rec_gap *g = body;
		if (g->dir > 1)
			goto badvar;
		break;
	}
	case REC_EVENT: {
		const struct rec_event *e = body;
		if (e->json_len != blen - sizeof(*e))
			goto badvar;
		break;
	}
	case REC_CALL_OPEN: {
		const struct rec_call_open *o = body;
		if ((size_t)o->callid_len + o->from_len + o->to_len != blen - sizeof(*o))
			goto badvar;
		break;
	}
	case REC_CALL_CLOSE: {
		const struct rec_call_close *c = body;
		if (c->json_len != blen - sizeof(*c) || memchr(c->state, 0, sizeof(c->state)) == NULL)
			goto badvar;
		break;
	}
	case REC_MESSAGE: {
		const struct rec_message *m = body;
		if ((m->family != 4 && m->family != 6) || (uint64_t)m->corr_len + m->len != blen - sizeof(*m))
			goto badvar;
		break;
	}
	case REC_SESSION_OPEN: {
		const struct rec_session_open *o = body;
		if (o->flow.family != 4 && o->flow.family != 6)
			goto badvar;
		break;
	}
	case REC_SESSION_JOIN: {
		const struct rec_session_join *j = body;
		if ((j->open.flow.family != 4 && j->open.flow.family != 6) ||
		    j->missed[0] > j->off[0] || j->missed[1] > j->off[1])
			goto badvar;
		break;
	}
	default:
		break;
	}
	return 0;
badvar:
	snprintf(err, errlen, "%s record with inconsistent fields", wire_rec_name(r->type));
	return -1;
}
