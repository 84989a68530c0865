/*
 * sip.c — one SIP message (RFC 3261 section 7): its start line, the
 * headers a call needs and where it ends.  Pure: no state, no allocation;
 * every read is checked against n.  Header names in any case and their
 * compact forms (section 7.3.3: i f t l c m v k s e o); folded lines
 * (a line that starts with space or tab continues the header before).
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "sipuser.h"
#include "voip.h"

static const struct {
	const char *name;
	int id;
} methods[] = {
	{ "INVITE", SIP_INVITE }, { "ACK", SIP_ACK }, { "BYE", SIP_BYE },
	{ "CANCEL", SIP_CANCEL }, { "REGISTER", SIP_REGISTER }, { "OPTIONS", SIP_OPTIONS },
	{ "PRACK", SIP_PRACK }, { "UPDATE", SIP_UPDATE }, { "SUBSCRIBE", SIP_SUBSCRIBE },
	{ "NOTIFY", SIP_NOTIFY }, { "MESSAGE", SIP_MESSAGE }, { "INFO", SIP_INFO },
	{ "REFER", SIP_REFER }, { "PUBLISH", SIP_PUBLISH },
};

int
sip_method_id(const char *p, size_t n)
{
	for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (strlen(methods[k].name) == n && memcmp(methods[k].name, p, n) == 0)
			return methods[k].id;
	return SIP_OTHER;
}

const char *
sip_method_name(int id)
{
	for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (methods[k].id == id)
			return methods[k].name;
	return "OTHER";
}

static bool
is_token(int c)
{
	return isalnum(c) || strchr("-.!%*_+`'~", c) != NULL;
}

bool
sip_start_line(const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (n >= 8 && memcmp(p, "SIP/2.0 ", 8) == 0)
		return n < 11 || (isdigit(p[8]) && isdigit(p[9]) && isdigit(p[10]));
	/* METHOD SP sip:|sips:|tel:... — a method is an upper-case token */
	while (i < n && i < 32 && is_token(p[i]) && !islower(p[i]))
		i++;
	if (i == 0 || i >= n || p[i] != ' ')
		return false;
	i++;
	if (n - i >= 4 && (strncasecmp((const char *)p + i, "sip:", 4) == 0 ||
	    strncasecmp((const char *)p + i, "tel:", 4) == 0))
		return true;
	return n - i >= 5 && strncasecmp((const char *)p + i, "sips:", 5) == 0;
}

static struct str
trim(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	return (struct str){ p, n };
}

/* The end of the line starting at i (the index of its LF, or n). */
static size_t
line_end(const uint8_t *p, size_t n, size_t i)
{
	const uint8_t *e = memchr(p + i, '\n', n - i);

	return e ? (size_t)(e - p) : n;
}

static bool
name_is(const char *p, size_t n, const char *longname, char compact)
{
	if (n == 1 && compact && tolower((unsigned char)p[0]) == compact)
		return true;
	return strlen(longname) == n && strncasecmp(p, longname, n) == 0;
}

static bool
parse_uint(struct str s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!isdigit((unsigned char)s.p[i]))
			return false;
		v = v * 10 + (unsigned long)(s.p[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* The headers kept as they are written, with their compact forms. */
static const struct {
	const char *name;
	char compact;
	size_t off;
} kept[] = {
	{ "Call-ID", 'i', offsetof(struct sip_msg, call_id) },
	{ "From", 'f', offsetof(struct sip_msg, from) },
	{ "To", 't', offsetof(struct sip_msg, to) },
	{ "P-Asserted-Identity", 0, offsetof(struct sip_msg, pai) },
	{ "Content-Type", 'c', offsetof(struct sip_msg, content_type) },
	{ "Contact", 'm', offsetof(struct sip_msg, contact) },
	{ "Expires", 0, offsetof(struct sip_msg, expires) },
};

enum sip_res
sip_parse(const uint8_t *p, size_t n, bool stream, struct sip_msg *m)
{
	size_t i, e, head_end = 0;
	struct str *last = NULL, cseq = { NULL, 0 };
	bool blank = false;

	memset(m, 0, sizeof(*m));
	m->content_length = -1;
	if (!sip_start_line(p, n))
		return stream && n < 40 && memchr(p, '\n', n) == NULL ? SIP_MORE : SIP_BAD;
	/* the start line */
	e = line_end(p, n, 0);
	if (e == n)
		return stream ? SIP_MORE : SIP_BAD;
	if (memcmp(p, "SIP/2.0 ", 8) == 0) {
		unsigned long st;
		struct str code = { (const char *)p + 8, 3 };
		if (e < 11 || !parse_uint(code, 699, &st) || st < 100)
			return SIP_BAD;
		m->status = (int)st;
	} else {
		const char *sp = memchr(p, ' ', e);
		const char *sp2;
		m->request = true;
		m->method_name = (struct str){ (const char *)p, (size_t)(sp - (const char *)p) };
		m->method = sip_method_id(m->method_name.p, m->method_name.n);
		sp2 = memchr(sp + 1, ' ', (size_t)((const char *)p + e - (sp + 1)));
		if (sp2 == NULL)
			return SIP_BAD;
		m->ruri = (struct str){ sp + 1, (size_t)(sp2 - (sp + 1)) };
	}
	/* the headers, up to an empty line */
	for (i = e + 1; i < n;) {
		size_t le = line_end(p, n, i), ll = le - i;
		const char *l = (const char *)p + i;
		if (le == n && stream)
			return SIP_MORE;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			blank = true;
			head_end = le < n ? le + 1 : n;
			break;
		}
		if ((l[0] == ' ' || l[0] == '\t') && last != NULL) {
			/* a folded line: the header before goes on */
			last->n = (size_t)(l + ll - last->p);
			*last = trim(last->p, last->n);
		} else {
			const char *colon = memchr(l, ':', ll);
			struct str name, val, *slot = NULL;
			if (colon == NULL) {
				last = NULL;
				i = le + 1;
				continue;	/* not a header: skipped */
			}
			name = trim(l, (size_t)(colon - l));
			val = trim(colon + 1, (size_t)(l + ll - (colon + 1)));
			for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]) && slot == NULL; k++)
				if (name_is(name.p, name.n, kept[k].name, kept[k].compact))
					slot = (struct str *)((char *)m + kept[k].off);
			if (slot == NULL && name_is(name.p, name.n, "CSeq", 0))
				slot = &cseq;	/* read once it is whole (it may be folded) */
			else if (slot == NULL && name_is(name.p, name.n, "Content-Length", 'l')) {
				unsigned long cl;
				if (parse_uint(val, 1ul << 30, &cl))
					m->content_length = (long)cl;
			}
			/* the first of a repeated header counts (From, To, Call-ID) */
			if (slot != NULL && slot->p == NULL) {
				*slot = val;
				last = slot;
			} else
				last = NULL;
		}
		i = le + 1;
	}
	if (!blank) {
		if (stream)
			return SIP_MORE;
		head_end = n;	/* a datagram without the empty line: no body */
	}
	if (cseq.p != NULL) {
		/* "CSeq: 1 INVITE"; folding leaves CR, LF and blanks between */
		size_t k = 0;
		unsigned long cs = 0;
		while (k < cseq.n && isdigit((unsigned char)cseq.p[k]) && cs <= 0xFFFFFFFFul)
			cs = cs * 10 + (unsigned long)(cseq.p[k++] - '0');
		if (k > 0 && cs <= 0xFFFFFFFFul) {
			m->cseq = (uint32_t)cs;
			m->cseq_method = trim(cseq.p + k, cseq.n - k);
			m->cseq_mid = sip_method_id(m->cseq_method.p, m->cseq_method.n);
		}
	}
	if (m->call_id.p == NULL && m->cseq_mid == 0)
		return SIP_BAD;
	if (stream) {
		size_t cl = m->content_length > 0 ? (size_t)m->content_length : 0;
		if (n - head_end < cl) {
			m->len = head_end + cl;	/* what the whole message will take */
			return SIP_MORE;
		}
		m->body = p + head_end;
		m->body_len = cl;
		m->len = head_end + cl;
	} else {
		m->body = p + head_end;
		m->body_len = n - head_end;
		if (m->content_length >= 0 && (size_t)m->content_length < m->body_len)
			m->body_len = (size_t)m->content_length;
		m->len = n;
	}
	return SIP_OK;
}

struct str
sip_uri_user(struct str v)
{
	static const char *const schemes[] = { "sip:", "sips:", "tel:" };
	size_t best = v.n, blen = 0;

	/* the earliest scheme in the value (a display name may come first) */
	for (size_t k = 0; k < 3; k++) {
		size_t sl = strlen(schemes[k]);
		for (size_t i = 0; i + sl <= v.n && i < best; i++)
			if (strncasecmp(v.p + i, schemes[k], sl) == 0) {
				best = i;
				blen = sl;
				break;
			}
	}
	if (best == v.n)
		return (struct str){ v.p, 0 };
	{
		const char *u = v.p + best + blen;
		size_t rest = v.n - best - blen, k = 0, at = rest;
		bool tel = blen == 4 && tolower((unsigned char)v.p[best]) == 't';
		/* the user part ends at '@'; a URI without one has none, but a
		 * tel: URI is all number (up to its parameters) */
		for (k = 0; k < rest; k++) {
			char c = u[k];
			if (c == '@') {
				at = k;
				break;
			}
			if (c == '>' || c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n' ||
			    (c == ';' && tel) || (c == '?' && tel))
				break;
		}
		if (at < rest) {
			/* sip:user;param@host — the user is before any ';' */
			const char *semi = memchr(u, ';', at);
			return (struct str){ u, semi ? (size_t)(semi - u) : at };
		}
		if (tel)
			return (struct str){ u, k };
		return (struct str){ u, 0 };
	}
}

bool
sip_param(struct str v, const char *name, struct str *out)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] != ';')
			continue;
		size_t j = i + 1;
		while (j < v.n && (v.p[j] == ' ' || v.p[j] == '\t'))
			j++;
		if (v.n - j > nl && strncasecmp(v.p + j, name, nl) == 0 && v.p[j + nl] == '=') {
			size_t s = j + nl + 1, e = s;
			while (e < v.n && v.p[e] != ';' && v.p[e] != ',' && v.p[e] != '>' && v.p[e] != ' ')
				e++;
			*out = (struct str){ v.p + s, e - s };
			return true;
		}
	}
	return false;
}

bool
sip_multipart_part(struct str ct, const uint8_t *body, size_t len, const char *type,
    const uint8_t **part, size_t *plen)
{
	struct str b;
	char delim[80];
	size_t dl;

	if (ct.n < 10 || strncasecmp(ct.p, "multipart/", 10) != 0 || !sip_param(ct, "boundary", &b))
		return false;
	if (b.n >= 2 && b.p[0] == '"' && b.p[b.n - 1] == '"') {
		b.p++;
		b.n -= 2;
	}
	if (b.n == 0 || b.n > 70)
		return false;
	delim[0] = delim[1] = '-';
	memcpy(delim + 2, b.p, b.n);
	dl = b.n + 2;
	for (size_t i = 0; i + dl <= len;) {
		const uint8_t *d = memmem(body + i, len - i, delim, dl);
		size_t s, next;
		const uint8_t *nd;
		if (d == NULL)
			return false;
		s = (size_t)(d - body) + dl;
		if (len - s >= 2 && body[s] == '-' && body[s + 1] == '-')
			return false;	/* the closing delimiter */
		/* the part: its headers, an empty line, its content up to the
		 * next delimiter (the CRLF before it belongs to the delimiter) */
		nd = memmem(body + s, len - s, delim, dl);
		next = nd ? (size_t)(nd - body) : len;
		{
			const uint8_t *hp = body + s;
			size_t hn = next - s;
			const uint8_t *blank = memmem(hp, hn, "\r\n\r\n", 4);
			size_t skip = 4;
			if (blank == NULL) {
				blank = memmem(hp, hn, "\n\n", 2);
				skip = 2;
			}
			if (blank != NULL) {
				const uint8_t *ctp = NULL;
				size_t tl = strlen(type);
				for (size_t k = 0; k + 13 + tl <= (size_t)(blank - hp); k++)
					if (strncasecmp((const char *)hp + k, "content-type:", 13) == 0) {
						ctp = hp + k + 13;
						break;
					}
				while (ctp != NULL && ctp < blank && (*ctp == ' ' || *ctp == '\t'))
					ctp++;
				if (ctp != NULL && (size_t)(blank - ctp) >= tl &&
				    strncasecmp((const char *)ctp, type, tl) == 0) {
					size_t cs = (size_t)(blank - body) + skip, ce = next;
					if (ce >= cs + 2 && body[ce - 2] == '\r' && body[ce - 1] == '\n')
						ce -= 2;
					else if (ce >= cs + 1 && body[ce - 1] == '\n')
						ce -= 1;
					*part = body + cs;
					*plen = ce > cs ? ce - cs : 0;
					return true;
				}
			}
		}
		i = next;
	}
	return false;
}

bool
sip_user_match(const char *pattern, struct str user)
{
	return sipuser_match(pattern, user.p, user.n);
}
