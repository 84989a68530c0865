/* test_conf.c — the json-ish reader and the configuration schema. */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "jsonish.h"
#include "t.h"

static int
load(struct conf *c, struct conf_diag *d, const char *text, int flags)
{
	return conf_load_text(c, "t.json", text, strlen(text), flags, d);
}

static void
jsonish_comments_unquoted_trailing(void)
{
	const char *t = "// head\n{ a: 1, /* x */ 'b-c': [1,2,], d: {e: \"s\\u00e9\"},\n}";
	struct jsonish_doc doc;
	char err[128];
	struct json_object *v;

	T_CHECK(jsonish_parse(t, strlen(t), &doc, err, sizeof(err)) == 0);
	T_CHECK(json_object_object_get_ex(doc.root, "b-c", &v));
	T_EQ_U(json_object_array_length(v), 2);
	T_CHECK(json_object_object_get_ex(doc.root, "d", &v));
	T_CHECK(json_object_object_get_ex(v, "e", &v));
	T_EQ_S(json_object_get_string(v), "s\xc3\xa9");
	T_EQ_U(jsonish_find(&doc, "d.e")->line, 2);
	T_EQ_U(jsonish_find(&doc, "d.e")->col, 36);
	T_EQ_U(jsonish_find(&doc, "b-c[1]")->col, 27);
	jsonish_free(&doc);
}

static void
jsonish_errors_have_positions(void)
{
	struct jsonish_doc doc;
	char err[128];

	T_CHECK(jsonish_parse("{\n a: 1\n b: 2}", 14, &doc, err, sizeof(err)) < 0);
	T_EQ_S(err, "3:2: expected ',' or '}', found 'b'");
	T_CHECK(jsonish_parse("{a: \"x", 6, &doc, err, sizeof(err)) < 0);
	T_EQ_S(err, "1:7: expected closing quote of the string, found end of input");
	T_CHECK(jsonish_parse("{a: /* open", 11, &doc, err, sizeof(err)) < 0);
	T_EQ_S(err, "1:12: expected '*/' closing the comment, found end of input");
	T_CHECK(jsonish_parse("[1]", 3, &doc, err, sizeof(err)) < 0);
	T_EQ_S(err, "1:1: expected '{' opening the configuration object, found '['");
	T_CHECK(jsonish_parse("{} x", 4, &doc, err, sizeof(err)) < 0);
}

static void
jsonish_depth_limit(void)
{
	char buf[400];
	struct jsonish_doc doc;
	char err[128];
	size_t n = 0;

	buf[n++] = '{';
	buf[n++] = 'a';
	buf[n++] = ':';
	for (int k = 0; k < 100; k++)
		buf[n++] = '[';
	T_CHECK(jsonish_parse(buf, n, &doc, err, sizeof(err)) < 0);
	T_CHECK(strstr(err, "nesting no deeper than 64") != NULL);
}

static void
conf_defaults(void)
{
	struct conf c;
	struct conf_diag d;

	T_CHECK(load(&c, &d, "{}", 0) == 0);
	T_EQ_U(c.ctl_listen_port, 50005);
	T_EQ_S(c.ctl_bind_ip, "127.0.0.1");
	T_EQ_U(c.buffer_bytes, 65536);
	T_EQ_U(c.c2s_buffer_bytes, 65536);
	T_EQ_U(c.max_output_buffer_bytes, 1000000);
	T_EQ_U(c.capture_queue_size, 50000);
	T_EQ_U(c.drain_timeout_eff_ms, 5000);
	T_EQ_U(c.ctl_default_cats.n, 4);
	T_EQ_U(c.sip_ports.n, 1);
	T_EQ_U(c.sip_ports.v[0], 5060);
	T_EQ_S(c.pcap_format, "pcapng");
	T_CHECK(c.workers >= 1 && c.workers <= 256);
	T_CHECK(c.overflow == OVERFLOW_DROP);
	T_CHECK(c.stats_interval == 5);
	conf_free(&c);
	conf_diag_free(&d);
}

static void
conf_go_spellings(void)
{
	struct conf c;
	struct conf_diag d;
	const char *t = "{io:{output:{listener:{enabled:true,port_range_start:100,port_range_end:200},"
	    "pcap:{path:\"x/\"},'remote-host':{enabled:true,requests_port:1,responses_port:2,"
	    "timeouts:{'retry-every':7}}},input:{capture:{file:'f.pcap',scapy_bufsize:1048576}}},"
	    "logging:{console:{verbosity:'debug'},stats:{report_interval:0}}, _x: 1}";

	T_CHECK(load(&c, &d, t, 0) == 0);
	T_EQ_U(d.nwarnings, 0);
	T_CHECK(c.lst_enabled);
	T_EQ_U(c.lst_range_end, 200);
	T_EQ_S(c.pcap_dir, "x/");
	T_CHECK(c.conn_retry_every_sec == 7);
	T_EQ_U(c.scapy_bufsize, 1048576);
	T_EQ_S(c.log_console_verbosity, "DEBUG");
	T_CHECK(c.stats_interval == 0);
	T_CHECK(c.overflow == OVERFLOW_BLOCK);	/* file input */
	conf_free(&c);
	conf_diag_free(&d);
}

static void
conf_errors_collected(void)
{
	struct conf c;
	struct conf_diag d;
	const char *t = "{\n io: { output: { listner: { enabled: true, port_range_start: 300,\n"
	    "  port_range_end: 200, first_requests_port: 5 } } },\n"
	    " control: { listen_port: \"x\" },\n runtime: { overflow: 'maybe' } }";

	T_CHECK(load(&c, &d, t, 0) < 0);
	T_EQ_U(d.nerrors, 4);
	if (d.nerrors == 4) {
		T_EQ_S(d.errors[0], "t.json:4:13: control.listen_port: expected integer in 0..65535, found string \"x\"");
		T_EQ_S(d.errors[1], "t.json:5:13: runtime.overflow: expected one of drop|block, found string \"maybe\"");
		T_EQ_S(d.errors[2], "t.json:3:3: io.output.listener.port_range_end: expected integer >= port_range_start (300), found integer 200");
		T_EQ_S(d.errors[3], "t.json:2:18: io.output.listener.first_responses_port: expected a value (first_requests_port and first_responses_port come together), found nothing");
	}
	conf_free(&c);
	conf_diag_free(&d);
}

static void
conf_unknown_keys(void)
{
	struct conf c;
	struct conf_diag d;
	const char *t = "{control:{listen_prot: 1}, io:{input:{capture:{file:'x'}}}}";

	T_CHECK(load(&c, &d, t, 0) == 0);
	T_EQ_U(d.nwarnings, 1);
	if (d.nwarnings)
		T_EQ_S(d.warnings[0], "t.json:1:11: control.listen_prot: unknown key, ignored (nearest known key: control.listen_port)");
	conf_free(&c);
	conf_diag_free(&d);
	T_CHECK(load(&c, &d, t, CONF_STRICT) < 0);
	T_EQ_U(d.nerrors, 1);
	conf_free(&c);
	conf_diag_free(&d);
}

static void
conf_live_capture_requires_endpoints(void)
{
	struct conf c;
	struct conf_diag d;
	char *f;

	T_CHECK(load(&c, &d, "{io:{input:{capture:{iface:'eth0',local_ip:'10.0.0.1'}}}}", 0) < 0);
	T_EQ_U(d.nerrors, 2);
	if (d.nerrors == 2)
		T_EQ_S(d.errors[0], "t.json:1:13: io.input.capture.remote_ip: expected a value (required for a live capture with the bpf-filter template), found nothing");
	conf_free(&c);
	conf_diag_free(&d);

	T_CHECK(load(&c, &d, "{io:{input:{capture:{iface:'eth0',local_ip:'10.0.0.1',remote_ip:'10.0.0.2',remote_port:80,local_port:5555}}}}", 0) == 0);
	f = conf_capture_filter(&c);
	T_EQ_S(f, "(tcp and ((src host 10.0.0.1 and dst host 10.0.0.2 and dst port 80) or (src host 10.0.0.2 and src port 80 and dst host 10.0.0.1))) and tcp port 5555");
	free(f);
	conf_free(&c);
	conf_diag_free(&d);

	/* No endpoints, no template: all TCP. */
	T_CHECK(load(&c, &d, "{io:{input:{capture:{iface:'eth0'}}}}", 0) == 0);
	f = conf_capture_filter(&c);
	T_EQ_S(f, "tcp");
	free(f);
	conf_free(&c);
	conf_diag_free(&d);

	/* VoIP: UDP and fragments besides, templates too (RTP runs between
	 * other addresses and ports than the endpoints') */
	T_CHECK(load(&c, &d, "{io:{input:{capture:{iface:'eth0'}}},voip:{enabled:true}}", 0) == 0);
	f = conf_capture_filter(&c);
	T_EQ_S(f, "tcp or udp or (ip[6:2] & 0x1fff != 0) or ip6[6] == 44");
	free(f);
	conf_free(&c);
	conf_diag_free(&d);
	T_CHECK(load(&c, &d, "{io:{input:{capture:{iface:'eth0',local_ip:'10.0.0.1',remote_ip:'10.0.0.2',remote_port:5060}}},voip:{enabled:true}}", 0) == 0);
	f = conf_capture_filter(&c);
	T_EQ_S(f, "(tcp and ((src host 10.0.0.1 and dst host 10.0.0.2 and dst port 5060) or (src host 10.0.0.2 and src port 5060 and dst host 10.0.0.1))) or udp or (ip[6:2] & 0x1fff != 0) or ip6[6] == 44");
	free(f);
	conf_free(&c);
	conf_diag_free(&d);
}

static void
conf_edit_distance_works(void)
{
	T_EQ_U(conf_edit_distance("kitten", "sitting"), 3);
	T_EQ_U(conf_edit_distance("", "abc"), 3);
	T_EQ_U(conf_edit_distance("same", "same"), 0);
	/* bounded: exact up to max, max + 1 past it, long names cut short */
	T_EQ_U(conf_edit_distance_within("kitten", "sitting", 3), 3);
	T_EQ_U(conf_edit_distance_within("kitten", "sitting", 2), 3);
	T_EQ_U(conf_edit_distance_within("kitten", "sitting", 0), 1);
	T_EQ_U(conf_edit_distance_within("a", "abcdefgh", 3), 4);
	T_EQ_U(conf_edit_distance_within("abcdefgh", "abcdefgh", 0), 0);
	{
		char big[200];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		T_EQ_U(conf_edit_distance_within(big, big, 1), 0);
		T_EQ_U(conf_edit_distance(big, "x"), 198);
	}
}

static void
conf_workers_clamped(void)
{
	struct conf c;
	struct conf_diag d;

	T_CHECK(load(&c, &d, "{runtime:{workers:1000}}", 0) == 0);
	T_EQ_U(c.workers, 256);
	T_EQ_U(d.nwarnings, 1);
	conf_free(&c);
	conf_diag_free(&d);
}

int
main(void)
{
	T_RUN(jsonish_comments_unquoted_trailing);
	T_RUN(jsonish_errors_have_positions);
	T_RUN(jsonish_depth_limit);
	T_RUN(conf_defaults);
	T_RUN(conf_go_spellings);
	T_RUN(conf_errors_collected);
	T_RUN(conf_unknown_keys);
	T_RUN(conf_live_capture_requires_endpoints);
	T_RUN(conf_edit_distance_works);
	T_RUN(conf_workers_clamped);
	return T_DONE();
}
