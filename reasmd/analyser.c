/*
 * analyser.c — which analyser a session or datagram goes to, and the calls
 * into it (analyser.h says the rules).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "analyser.h"
#include "log.h"
#include "reasmd.h"
#include "util.h"

static const struct analyser *const known[] = { &an_http, &an_voip };
#define NKNOWN (sizeof(known) / sizeof(known[0]))
#define AN_MAX 8

enum { S_UNDECIDED = 0, S_ON, S_OFF };

struct anset {
	unsigned n;
	const struct analyser *a[AN_MAX];
	void *eng[AN_MAX];
};

struct anset *
an_new(struct reasm *R, const struct conf_strlist *names, char *err, size_t errlen)
{
	struct anset *A = xcalloc(1, sizeof(*A));

	for (size_t i = 0; i < names->n; i++) {
		const struct analyser *a = NULL;
		for (size_t k = 0; k < NKNOWN; k++)
			if (strcmp(known[k]->name, names->v[i]) == 0)
				a = known[k];
		if (a == NULL) {
			char list[128] = "";
			for (size_t k = 0; k < NKNOWN; k++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				    k ? ", " : "", known[k]->name);
			snprintf(err, errlen, "reasm.analysers: no analyser \"%s\" (known: %s)",
			    names->v[i], list);
			for (unsigned k = 0; k < A->n; k++)
				if (A->a[k]->free)
					A->a[k]->free(A->eng[k]);
			free(A);
			return NULL;
		}
		bool dup = false;
		for (unsigned k = 0; k < A->n; k++)
			dup |= A->a[k] == a;
		if (dup || A->n == AN_MAX)
			continue;
		A->a[A->n] = a;
		A->eng[A->n] = a->init ? a->init(R) : NULL;
		A->n++;
	}
	/* voip.enabled (or --voip) adds it where reasm.analysers does not */
	if (R->conf != NULL && R->conf->voip_enabled && A->n < AN_MAX) {
		bool have = false;
		for (unsigned k = 0; k < A->n; k++)
			have |= A->a[k] == &an_voip;
		if (!have) {
			A->a[A->n] = &an_voip;
			A->eng[A->n] = an_voip.init(R);
			A->n++;
		}
	}
	return A;
}

static struct an_ctx
ctx(struct reasm *R, const struct session *s)
{
	return (struct an_ctx){ R, s, R->now_ns };
}

/* Which analyser takes s, from its ports and the first bytes it carries. */
static void
decide(struct reasm *R, struct session *s, int dir, const uint8_t *p, size_t n)
{
	struct anset *A = R->an;
	int pick = -1;

	for (unsigned k = 0; k < A->n && pick < 0; k++)
		if (A->a[k]->match_port && A->a[k]->match_port(A->eng[k], 6, s->cport, s->sport))
			pick = (int)k;
	for (int first = 1; first >= 0; first--)
		for (unsigned k = 0; k < A->n && pick < 0; k++)
			if (A->a[k]->match_content && A->a[k]->content_first == (first == 1) &&
			    A->a[k]->match_content(A->eng[k], dir, p, n) != AN_NO)
				pick = (int)k;
	if (s->holds && (pick < 0 || !A->a[pick]->tags_frames)) {
		/* not for an analyser that tags frames: they wait no more */
		s->holds = false;
		hold_flush(R, s);
	}
	if (pick < 0) {
		s->an_state = S_OFF;
		return;
	}
	struct an_ctx x = ctx(R, s);
	s->an_state = S_ON;
	s->an_idx = (uint8_t)pick;
	s->an_flow = A->a[pick]->open ? A->a[pick]->open(A->eng[pick], &x) : NULL;
}

bool
an_holds(struct reasm *R, const struct session *s)
{
	struct anset *A = R->an;

	/* as decide() picks: the first analyser that claims the ports */
	for (unsigned k = 0; A && k < A->n; k++)
		if (A->a[k]->match_port && A->a[k]->match_port(A->eng[k], 6, s->cport, s->sport))
			return A->a[k]->tags_frames;
	/* else one that tags frames may take it by its first bytes: its
	 * frames wait until that is decided (decide() lets them go if not) */
	for (unsigned k = 0; A && k < A->n; k++)
		if (A->a[k]->tags_frames && A->a[k]->match_content)
			return true;
	return false;
}

void
an_tag(const struct an_ctx *x, uint64_t id)
{
	struct reasm *R = x->R;

	for (unsigned k = 0; k < R->ntags; k++)
		if (R->tags[k] == id)
			return;
	if (R->ntags < WIRE_MAX_CALLS)
		R->tags[R->ntags++] = id;
}

void
an_mark(const struct an_ctx *x, int dir, uint64_t from, uint64_t to)
{
	struct reasm *R = x->R;

	/* (x->s is the session being read: the engine's own, handed out
	 * read-only to the analyser) */
	if (x->s != NULL && x->s->holds)
		hold_mark(R, (struct session *)(uintptr_t)x->s, dir, from, to);
	R->ntags = 0;
}

static void
detach(struct reasm *R, struct session *s, unsigned reason)
{
	struct anset *A = R->an;
	const struct analyser *a = A->a[s->an_idx];
	struct an_ctx x = ctx(R, s);

	if (a->close)
		a->close(A->eng[s->an_idx], s->an_flow, &x, reason);
	s->an_flow = NULL;
	s->an_state = S_OFF;
	if (s->holds && !s->closed) {
		s->holds = false;
		hold_flush(R, s);
	}
}

void
an_data(struct reasm *R, struct session *s, int dir, uint64_t off, const uint8_t *p, size_t n)
{
	struct anset *A = R->an;

	if (s->an_state == S_OFF || A->n == 0 || n == 0)
		return;
	if (s->an_state == S_UNDECIDED) {
		decide(R, s, dir, p, n);
		if (s->an_state != S_ON)
			return;
	}
	const struct analyser *a = A->a[s->an_idx];
	struct an_ctx x = ctx(R, s);
	if (a->data && a->data(A->eng[s->an_idx], s->an_flow, &x, dir, off, p, n) == AN_DETACH)
		detach(R, s, 0);	/* 0: not its protocol */
}

void
an_gap(struct reasm *R, struct session *s, int dir, uint64_t off, uint64_t len)
{
	struct anset *A = R->an;

	if (s->an_state != S_ON)
		return;
	const struct analyser *a = A->a[s->an_idx];
	struct an_ctx x = ctx(R, s);
	if (a->gap)
		a->gap(A->eng[s->an_idx], s->an_flow, &x, dir, off, len);
}

void
an_close(struct reasm *R, struct session *s, unsigned reason)
{
	if (s->an_state == S_ON)
		detach(R, s, reason);
}

bool
an_datagram(struct reasm *R, const struct decoded *d, uint64_t ts_ns)
{
	struct anset *A = R->an;
	struct an_ctx x = { R, NULL, ts_ns };

	for (unsigned k = 0; k < A->n; k++)
		if (A->a[k]->datagram != NULL && A->a[k]->datagram(A->eng[k], &x, d))
			return true;
	return false;
}

void
an_tick(struct reasm *R)
{
	struct anset *A = R->an;
	struct an_ctx x = ctx(R, NULL);

	for (unsigned k = 0; k < A->n; k++)
		if (A->a[k]->tick)
			A->a[k]->tick(A->eng[k], &x);
}

void
an_finish(struct reasm *R)
{
	struct anset *A = R->an;
	struct an_ctx x = ctx(R, NULL);

	for (unsigned k = 0; A && k < A->n; k++)
		if (A->a[k]->finish)
			A->a[k]->finish(A->eng[k], &x);
}

void
an_summary(const struct reasm *R, FILE *f)
{
	const struct anset *A = R->an;

	for (unsigned k = 0; A && k < A->n; k++)
		if (A->a[k]->summary)
			A->a[k]->summary(A->eng[k], f);
}

void
an_counters(const struct reasm *R, struct ctr_enc *e)
{
	const struct anset *A = R->an;

	for (size_t i = 0; i < NKNOWN; i++) {
		void *eng = NULL;
		bool on = false;
		for (unsigned k = 0; A && k < A->n; k++)
			if (A->a[k] == known[i]) {
				eng = A->eng[k];
				on = true;
			}
		/* an analyser compiled in but off: its rows at 0 (every
		 * reasmd carries every row of the table) */
		if (known[i]->counters && (on || known[i]->counters_when_off))
			known[i]->counters(eng, e);
	}
}

void
an_free(struct reasm *R)
{
	struct anset *A = R->an;

	if (A == NULL)
		return;
	for (unsigned k = 0; k < A->n; k++)
		if (A->a[k]->free)
			A->a[k]->free(A->eng[k]);
	free(A);
	R->an = NULL;
}

void
an_event(const struct an_ctx *x, const char *cat, const char *name, struct json_object *extra)
{
	if (x->s != NULL)
		ev_flow(x->R, x->s, cat, name, extra);
	else
		ev_emit(x->R, cat, name, extra);
}
