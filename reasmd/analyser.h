/*
 * analyser.h — the protocol analyser interface.
 *
 * A protocol is one file that fills a struct analyser, as a sinkd output
 * family fills struct family.  reasmd feeds it beside the outputs: the
 * byte streams of a TCP session (in order, each byte once, with the
 * stream offset; a gap where bytes are lost for good) and UDP datagrams.
 * It keeps what it needs (an engine-level state across sessions and flows:
 * a call spans several TCP sessions and UDP flows; a per-session state),
 * and says what it finds as events (an_event, an_event_flow) and counters.
 *
 * UDP: each datagram is offered to each analyser's `datagram` in turn,
 * until one takes it.
 *
 * Which session is whose: a session whose port one analyser claims
 * (match_port) is that analyser's; otherwise the first bytes of the first
 * direction to carry data go to each enabled analyser's match_content, in
 * reasm.analysers order (those with content_first before the others), and
 * the first to say AN_YES or AN_MAYBE takes it.  AN_MAYBE (too few bytes to tell) takes it on trial: `data` returns
 * AN_DETACH once the analyser sees it is not its protocol, and the session
 * goes on without one.  A session has one analyser at most.
 *
 * Every callback runs inside reasmd's sandbox on hostile bytes: bounded
 * state, no allocation without a limit, a counter for everything skipped.
 */
#ifndef REASMD_ANALYSER_H
#define REASMD_ANALYSER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "decode.h"

struct reasm;
struct session;
struct json_object;
struct ctr_enc;

enum { AN_NO = 0, AN_YES, AN_MAYBE };
enum { AN_KEEP = 0, AN_DETACH = -1 };

/* What a callback may look at and act on. */
struct an_ctx {
	struct reasm *R;
	const struct session *s;	/* the TCP session, NULL for a datagram */
	uint64_t now_ns;		/* capture time */
};

struct analyser {
	const char *name;		/* in reasm.analysers and in logs */
	/* Engine level: made once, kept across sessions and flows. */
	void *(*init)(struct reasm *R);
	void (*free)(void *eng);
	/* Matching (either may be NULL).  proto 6 or 17. */
	bool (*match_port)(void *eng, uint8_t proto, uint16_t sport, uint16_t dport);
	int (*match_content)(void *eng, int dir, const uint8_t *p, size_t n);
	/* A TCP session it took: its state (NULL: none needed). */
	void *(*open)(void *eng, const struct an_ctx *x);
	/* Stream bytes [off, off+n) of direction dir, in order.  Returns
	 * AN_KEEP, or AN_DETACH (not this protocol after all: close follows). */
	int (*data)(void *eng, void *flow, const struct an_ctx *x, int dir, uint64_t off,
	    const uint8_t *p, size_t n);
	/* Bytes [off, off+len) of dir are lost for good. */
	void (*gap)(void *eng, void *flow, const struct an_ctx *x, int dir, uint64_t off,
	    uint64_t len);
	/* The session ends (reason: enum close_reason); frees flow. */
	void (*close)(void *eng, void *flow, const struct an_ctx *x, unsigned reason);
	/* A UDP datagram (x->now_ns: its own time).  Returns true when the
	 * analyser took it (its ports, content or flow are its protocol's);
	 * the next analyser is offered it otherwise. */
	bool (*datagram)(void *eng, const struct an_ctx *x, const struct decoded *d);
	/* Capture time moved on (every 250 ms). */
	void (*tick)(void *eng, const struct an_ctx *x);
	/* The input ended (every TCP session closed): write out what it
	 * holds, while the outputs are still open. */
	void (*finish)(void *eng, const struct an_ctx *x);
	/* Its lines of reasmd's summary, and its counters for ctld (eng NULL
	 * when it is compiled in but not enabled: its rows at 0). */
	void (*summary)(void *eng, FILE *f);
	void (*counters)(void *eng, struct ctr_enc *e);
	bool counters_when_off;		/* counters(NULL, e) when not enabled */
	/* The sessions it claims by port hold their frames until it marks
	 * the messages they carry (an_mark): frames go out tagged with calls. */
	bool tags_frames;
	/* Its match_content is asked before the others' (its protocol's
	 * first bytes can look like another's: SIP over WebSocket opens with
	 * an HTTP request). */
	bool content_first;
};

/* For an analyser: an event about its session (x->s), or about no
 * session.  `extra` is consumed. */
void an_event(const struct an_ctx *x, const char *cat, const char *name, struct json_object *extra);

/* For an analyser: the datagram or message being read belongs to call
 * `id` (a REC_CALL_OPEN id): its frames go out tagged with it. */
void an_tag(const struct an_ctx *x, uint64_t id);
/* For an analyser that tags_frames: bytes [from, to) of direction dir of
 * x->s were one message (the calls an_tag named since are its) or were
 * skipped (from == to: read up to there, no message). */
void an_mark(const struct an_ctx *x, int dir, uint64_t from, uint64_t to);

/* The analysers compiled in. */
extern const struct analyser an_http;
extern const struct analyser an_voip;

/* For reasm.c: the analysers reasm.analysers enables.  NULL and a message
 * in err for an unknown name. */
struct anset *an_new(struct reasm *R, const struct conf_strlist *names, char *err, size_t errlen);
/* Does the analyser that will take s (by its ports) tag its frames? */
bool an_holds(struct reasm *R, const struct session *s);
void an_data(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n);
void an_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len);
void an_close(struct reasm *R, struct session *s, unsigned reason);
/* Returns true when an analyser took the datagram (captured at ts_ns). */
bool an_datagram(struct reasm *R, const struct decoded *d, uint64_t ts_ns);
void an_tick(struct reasm *R);
void an_finish(struct reasm *R);
void an_summary(const struct reasm *R, FILE *f);
void an_counters(const struct reasm *R, struct ctr_enc *e);
void an_free(struct reasm *R);

#endif
