/*
 * sdp.c — the media of an SDP body (RFC 8866): for each m= line its port,
 * its connection address (the media's c=, else the session's), its RTCP
 * (a=rtcp:PORT [IN IP4|IP6 ADDR], RFC 3605; a=rtcp-mux, RFC 5761) and its
 * rtpmaps.  Lines are `x=value`, CRLF or LF; anything else is skipped.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "voip.h"

/* "IN IP4 ADDR" / "IN IP6 ADDR" (an IPv4 multicast TTL suffix dropped). */
static bool
conn_addr(const char *v, size_t n, uint8_t *family, uint8_t *addr)
{
	char buf[64];
	const char *a;
	char *slash;
	int fam;

	if (n < 8 || n >= sizeof(buf) || strncasecmp(v, "IN IP", 5) != 0 || v[6] != ' ')
		return false;
	fam = v[5] == '4' ? 4 : v[5] == '6' ? 6 : 0;
	if (fam == 0)
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	a = buf + 7;
	while (*a == ' ')
		a++;
	if ((slash = strchr(a, '/')) != NULL)
		*slash = '\0';
	for (char *sp = (char *)a; *sp; sp++)
		if (*sp == ' ' || *sp == '\t') {
			*sp = '\0';
			break;
		}
	memset(addr, 0, 16);
	if (inet_pton(fam == 4 ? AF_INET : AF_INET6, a, addr) != 1)
		return false;
	*family = (uint8_t)fam;
	return true;
}

static unsigned long
num(const char *p, size_t n, size_t *used)
{
	unsigned long v = 0;
	size_t i = 0;

	while (i < n && isdigit((unsigned char)p[i]) && v < 1000000000ul)
		v = v * 10 + (unsigned long)(p[i++] - '0');
	*used = i;
	return v;
}

unsigned
sdp_parse(const uint8_t *body, size_t len, struct sdp *s)
{
	const char *p = (const char *)body;
	uint8_t sfam = 0, saddr[16];
	bool media = false;
	struct sdp_media *m = NULL;

	memset(s, 0, sizeof(*s));
	memset(saddr, 0, sizeof(saddr));
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - p) : len, ll = e - i;
		const char *l = p + i, *v = l + 2;
		size_t vn;
		i = e + 1;
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		if (ll < 2 || l[1] != '=')
			continue;
		vn = ll - 2;
		switch (l[0]) {
		case 'c':
			if (!media)
				conn_addr(v, vn, &sfam, saddr);
			else if (m != NULL)
				conn_addr(v, vn, &m->family, m->addr);
			break;
		case 'm': {
			size_t k = 0, u;
			unsigned long port;
			media = true;
			if (s->n == SDP_MAX_MEDIA) {
				m = NULL;	/* more media than kept: skipped */
				break;
			}
			m = &s->m[s->n++];
			while (k < vn && k < sizeof(m->kind) - 1 && v[k] != ' ') {
				m->kind[k] = v[k];
				k++;
			}
			while (k < vn && v[k] != ' ')
				k++;
			while (k < vn && v[k] == ' ')
				k++;
			port = num(v + k, vn - k, &u);
			m->port = u > 0 && port <= 65535 ? (uint16_t)port : 0;
			/* the transport, after the port (and its "/count") */
			k += u;
			while (k < vn && v[k] != ' ')
				k++;
			while (k < vn && v[k] == ' ')
				k++;
			for (size_t j = k; j + 3 <= vn && v[j] != ' '; j++)
				if (strncasecmp(v + j, "RTP", 3) == 0)
					m->rtp = true;
			/* its formats: the payload types */
			while (k < vn && v[k] != ' ')
				k++;
			while (k < vn && m->rtp) {
				unsigned long pt;
				while (k < vn && v[k] == ' ')
					k++;
				pt = num(v + k, vn - k, &u);
				if (u == 0)
					break;
				if (pt <= 127 && m->nfmt < SDP_MAX_MAPS)
					m->fmt[m->nfmt++] = (uint8_t)pt;
				k += u;
			}
			m->rtcp_port = m->port ? (uint16_t)(m->port + 1) : 0;
			break;
		}
		case 'a':
			if (m == NULL)
				break;
			if (vn >= 8 && strncasecmp(v, "rtcp-mux", 8) == 0)
				m->rtcp_mux = true;
			else if (vn > 5 && strncasecmp(v, "rtcp:", 5) == 0) {
				size_t u, k;
				unsigned long port = num(v + 5, vn - 5, &u);
				if (u > 0 && port > 0 && port <= 65535) {
					m->rtcp_port = (uint16_t)port;
					k = 5 + u;
					while (k < vn && v[k] == ' ')
						k++;
					conn_addr(v + k, vn - k, &m->rtcp_family, m->rtcp_addr);
				}
			} else if (vn > 7 && strncasecmp(v, "rtpmap:", 7) == 0 && m->nmap < SDP_MAX_MAPS) {
				size_t u, k, j = 0;
				unsigned long pt = num(v + 7, vn - 7, &u), rate;
				if (u == 0 || pt > 127)
					break;
				k = 7 + u;
				while (k < vn && v[k] == ' ')
					k++;
				m->map[m->nmap].pt = (uint8_t)pt;
				while (k < vn && v[k] != '/' && j < sizeof(m->map[0].name) - 1)
					m->map[m->nmap].name[j++] = v[k++];
				while (k < vn && v[k] != '/')
					k++;
				rate = k < vn ? num(v + k + 1, vn - k - 1, &u) : 0;
				m->map[m->nmap].rate = (uint32_t)rate;
				m->nmap++;
			}
			break;
		default:
			break;
		}
	}
	for (unsigned k = 0; k < s->n; k++) {
		if (s->m[k].family == 0 && sfam != 0) {
			s->m[k].family = sfam;
			memcpy(s->m[k].addr, saddr, 16);
		}
		if (s->m[k].rtcp_family == 0) {
			s->m[k].rtcp_family = s->m[k].family;
			memcpy(s->m[k].rtcp_addr, s->m[k].addr, 16);
		}
	}
	return s->n;
}
