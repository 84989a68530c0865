/*
 * pcapng.c — pcapng blocks (see pcapng.h).
 *
 * Every block: type (4), total length (4), body, total length again (4);
 * bodies and option values are padded to 4 bytes.  Options end with
 * opt_endofopt (code 0, length 0).
 */
#include <string.h>

#include "pcapng.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_EPB 0x00000006u
#define BOM 0x1A2B3C4Du

#define OPT_END 0
#define OPT_COMMENT 1
#define SHB_USERAPPL 4
#define IF_NAME 2
#define IF_TSRESOL 9

#define PAD4(n) (((n) + 3u) & ~(size_t)3u)

static size_t
opt_len(size_t vlen)
{
	return 4 + PAD4(vlen);
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
	return p + 2;
}

static uint8_t *
put_opt(uint8_t *p, uint16_t code, const void *v, size_t vlen)
{
	p = put16(p, code);
	p = put16(p, (uint16_t)vlen);
	memcpy(p, v, vlen);
	memset(p + vlen, 0, PAD4(vlen) - vlen);
	return p + PAD4(vlen);
}

/* A comment is cut to what one option can hold. */
static size_t
clen(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 65000 ? 65000 : n;
}

static const char userappl[] = "stethoscope";

size_t
pcapng_shb_len(const char *comment)
{
	size_t n = 12 + 16 + opt_len(sizeof(userappl) - 1) + 4;
	if (clen(comment))
		n += opt_len(clen(comment));
	return n;
}

size_t
pcapng_shb(uint8_t *buf, size_t cap, const char *comment)
{
	size_t n = pcapng_shb_len(comment);
	uint8_t *p = buf;

	if (n > cap)
		return 0;
	p = put32(p, BT_SHB);
	p = put32(p, (uint32_t)n);
	p = put32(p, BOM);
	p = put16(p, 1);		/* major */
	p = put16(p, 0);		/* minor */
	p = put32(p, 0xFFFFFFFFu);	/* section length: not given */
	p = put32(p, 0xFFFFFFFFu);
	if (clen(comment))
		p = put_opt(p, OPT_COMMENT, comment, clen(comment));
	p = put_opt(p, SHB_USERAPPL, userappl, sizeof(userappl) - 1);
	p = put32(p, OPT_END);
	p = put32(p, (uint32_t)n);
	return (size_t)(p - buf);
}

size_t
pcapng_shb_sized(uint8_t *buf, size_t cap, const char *comment, size_t total)
{
	size_t fixed = 12 + 16 + opt_len(sizeof(userappl) - 1) + 4, n = clen(comment);
	uint8_t *p = buf;

	if (total > cap || total % 4 != 0 || total < fixed + 4 || total > 65536)
		return 0;
	if (n > total - fixed - 4)
		n = total - fixed - 4;
	/* not in the middle of a UTF-8 sequence */
	while (n > 0 && n < clen(comment) && ((uint8_t)comment[n] & 0xC0) == 0x80)
		n--;
	p = put32(p, BT_SHB);
	p = put32(p, (uint32_t)total);
	p = put32(p, BOM);
	p = put16(p, 1);
	p = put16(p, 0);
	p = put32(p, 0xFFFFFFFFu);
	p = put32(p, 0xFFFFFFFFu);
	if (n > 0)
		p = put_opt(p, OPT_COMMENT, comment, n);
	p = put_opt(p, SHB_USERAPPL, userappl, sizeof(userappl) - 1);
	p = put32(p, OPT_END);
	/* room kept for a longer comment later: zeros after the end of the
	 * options, inside the block (readers go by the block's length) */
	memset(p, 0, total - 4 - (size_t)(p - buf));
	p = buf + total - 4;
	p = put32(p, (uint32_t)total);
	return total;
}

size_t
pcapng_idb_len(const char *name)
{
	size_t n = 12 + 8 + opt_len(1) + 4;
	if (clen(name))
		n += opt_len(clen(name));
	return n;
}

size_t
pcapng_idb(uint8_t *buf, size_t cap, uint16_t linktype, uint32_t snaplen, const char *name)
{
	size_t n = pcapng_idb_len(name);
	uint8_t *p = buf, res = 9;	/* 10^-9 s */

	if (n > cap)
		return 0;
	p = put32(p, BT_IDB);
	p = put32(p, (uint32_t)n);
	p = put16(p, linktype);
	p = put16(p, 0);
	p = put32(p, snaplen);
	if (clen(name))
		p = put_opt(p, IF_NAME, name, clen(name));
	p = put_opt(p, IF_TSRESOL, &res, 1);
	p = put32(p, OPT_END);
	p = put32(p, (uint32_t)n);
	return (size_t)(p - buf);
}

size_t
pcapng_epb_len(uint32_t caplen, const char *comment)
{
	size_t n = 12 + 20 + PAD4((size_t)caplen);
	if (clen(comment))
		n += opt_len(clen(comment)) + 4;
	return n;
}

size_t
pcapng_epb(uint8_t *buf, size_t cap, uint32_t ifidx, uint64_t ts_ns,
    const uint8_t *data, uint32_t caplen, uint32_t origlen, const char *comment)
{
	size_t n = pcapng_epb_len(caplen, comment);
	uint8_t *p = buf;

	if (n > cap || n > 0xFFFFFFFFu)
		return 0;
	p = put32(p, BT_EPB);
	p = put32(p, (uint32_t)n);
	p = put32(p, ifidx);
	p = put32(p, (uint32_t)(ts_ns >> 32));
	p = put32(p, (uint32_t)ts_ns);
	p = put32(p, caplen);
	p = put32(p, origlen < caplen ? caplen : origlen);
	memcpy(p, data, caplen);
	memset(p + caplen, 0, PAD4((size_t)caplen) - caplen);
	p += PAD4((size_t)caplen);
	if (clen(comment)) {
		p = put_opt(p, OPT_COMMENT, comment, clen(comment));
		p = put32(p, OPT_END);
	}
	p = put32(p, (uint32_t)n);
	return (size_t)(p - buf);
}
