/*
 * conf.c — the configuration schema (DESIGN.md section 5) and its loader.
 *
 * conf_schema[] is the single list of keys.  conf_load() reads the file with
 * the json-ish reader, walks the json-c tree against the table (type and
 * range checks, Go-version aliases, unknown keys with the nearest known
 * one), applies command-line overrides, derives the effective values and
 * checks the conditional requirements.  Every problem is collected: a user
 * fixing a config sees all of them at once.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "jsonish.h"
#include "util.h"

enum ctype { CT_BOOL, CT_INT, CT_DOUBLE, CT_STR, CT_ENUM, CT_STRLIST, CT_INTLIST,
    CT_STR_OR_LIST };

struct ckey {
	const char *path;
	enum ctype type;
	size_t off;
	const char *def_s;	/* default for strings, enums and lists */
	double def_n;		/* default for numbers and booleans */
	double min, max;
	const char *choices;	/* CT_ENUM: "a|b|c" */
	const char *unit;	/* for messages: "bytes", "seconds", ... */
	enum conf_reload rl;	/* what a reload (SIGHUP) does with a change */
};

#define O(f) offsetof(struct conf, f)
#define KB 1024.0
#define MB (1024.0 * 1024.0)
#define GB (1024.0 * 1024.0 * 1024.0)
#define GO_TEMPLATE "tcp and ((src host {local_ip} and dst host {remote_ip} and dst port {remote_port}) or (src host {remote_ip} and src port {remote_port} and dst host {local_ip}))"

static const struct ckey conf_schema[] = {
	/* io.input.capture */
	{ "io.input.capture.iface", CT_STR, O(iface), NULL, 0, 0, 0, NULL, NULL, RL_CAPD },
	{ "io.input.capture.local_ip", CT_STR, O(local_ip), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "io.input.capture.remote_ip", CT_STR, O(remote_ip), NULL, 0, 0, 0, NULL, NULL, RL_CAPD },
	{ "io.input.capture.remote_port", CT_INT, O(remote_port), NULL, 0, 1, 65535, NULL, NULL, RL_CAPD },
	{ "io.input.capture.local_port", CT_INT, O(local_port), NULL, 0, 1, 65535, NULL, NULL, RL_CAPD },
	{ "io.input.capture.bpf-filter", CT_STR, O(bpf_filter), NULL, 0, 0, 0, NULL, NULL, RL_CAPD },
	{ "io.input.capture.session_idle_sec", CT_DOUBLE, O(session_idle_sec), NULL, 120, 0.001, 31536000, NULL, "seconds", RL_RESTART },
	{ "io.input.capture.buffer_bytes", CT_INT, O(buffer_bytes), NULL, 64 * KB, 0, 64 * MB, NULL, "bytes", RL_RESTART },
	{ "io.input.capture.c2s_buffer_bytes", CT_INT, O(c2s_buffer_bytes), NULL, -1, 0, 64 * MB, NULL, "bytes", RL_RESTART },
	{ "io.input.capture.s2c_buffer_bytes", CT_INT, O(s2c_buffer_bytes), NULL, -1, 0, 64 * MB, NULL, "bytes", RL_RESTART },
	{ "io.input.capture.scapy_bufsize", CT_INT, O(scapy_bufsize), NULL, 0, 0, 2 * GB, NULL, "bytes", RL_CAPD },
	{ "io.input.capture.linktype", CT_ENUM, O(linktype), "ethernet", 0, 0, 0, "ethernet|raw|linux_sll|null", NULL, RL_RESTART },
	{ "io.input.capture.file", CT_STR, O(file), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "io.input.capture.snaplen", CT_INT, O(snaplen), NULL, 262144, 64, 262144, NULL, "bytes", RL_RESTART },
	{ "io.input.capture.promisc", CT_BOOL, O(promisc), NULL, 1, 0, 0, NULL, NULL, RL_CAPD },
	{ "io.input.capture.immediate", CT_BOOL, O(immediate), NULL, 0, 0, 0, NULL, NULL, RL_CAPD },
	{ "io.input.capture.timeout_ms", CT_INT, O(capture_timeout_ms), NULL, 100, 1, 1000, NULL, "ms", RL_CAPD },
	/* io.output.remote-host */
	{ "io.output.remote-host.enabled", CT_BOOL, O(conn_enabled), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.remote-host.host", CT_STR, O(conn_host), "127.0.0.1", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.remote-host.requests_port", CT_INT, O(conn_requests_port), NULL, 0, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.remote-host.responses_port", CT_INT, O(conn_responses_port), NULL, 0, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.remote-host.timeouts.connect", CT_DOUBLE, O(conn_connect_sec), NULL, 5, 0.001, 3600, NULL, "seconds", RL_SINK },
	{ "io.output.remote-host.timeouts.retry-every", CT_DOUBLE, O(conn_retry_every_sec), NULL, 30, 0.001, 86400, NULL, "seconds", RL_SINK },
	/* io.output.listener */
	{ "io.output.listener.enabled", CT_BOOL, O(lst_enabled), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.listener.bind_ip", CT_STR, O(lst_bind_ip), "0.0.0.0", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.listener.port_range_start", CT_INT, O(lst_range_start), NULL, 0, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.listener.port_range_end", CT_INT, O(lst_range_end), NULL, 0, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.listener.first_requests_port", CT_INT, O(lst_first_requests_port), NULL, 0, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.listener.first_responses_port", CT_INT, O(lst_first_responses_port), NULL, 0, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.listener.timeouts.ack_stall_sec", CT_DOUBLE, O(lst_ack_stall_sec), NULL, 0, 0, 86400, NULL, "seconds", RL_RESTART },
	/* io.output.pcap */
	{ "io.output.pcap.enabled", CT_BOOL, O(pcap_enabled), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.pcap.dir", CT_STR, O(pcap_dir), "pcap", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.pcap.format", CT_ENUM, O(pcap_format), "pcapng", 0, 0, 0, "pcapng|pcap", NULL, RL_SINK },
	{ "io.output.pcap.per_session", CT_BOOL, O(pcap_per_session), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.pcap.queue_size", CT_INT, O(pcap_queue_size), NULL, 262144, 1, 10000000, NULL, "packets", RL_SINK },
	{ "io.output.pcap.queue_bytes", CT_INT, O(pcap_queue_bytes), NULL, 64 * MB, 1 * MB, 64 * GB, NULL, "bytes", RL_SINK },
	{ "io.output.pcap.sync", CT_BOOL, O(pcap_sync), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.pcap.idle_close_sec", CT_DOUBLE, O(pcap_idle_close_sec), NULL, 120, 0, 31536000, NULL, "seconds", RL_SINK },
	{ "io.output.pcap.close_on_fin", CT_BOOL, O(pcap_close_on_fin), NULL, 1, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.pcap.fin_close_grace_sec", CT_DOUBLE, O(pcap_fin_close_grace_sec), NULL, 1.0, 0, 3600, NULL, "seconds", RL_SINK },
	{ "io.output.pcap.rotate_bytes", CT_INT, O(pcap_rotate_bytes), NULL, 0, 0, 1e15, NULL, "bytes", RL_SINK },
	{ "io.output.pcap.max_total_bytes", CT_INT, O(pcap_max_total_bytes), NULL, 0, 0, 1e15, NULL, "bytes", RL_SINK },
	{ "io.output.pcap.max_files", CT_INT, O(pcap_max_files), NULL, 0, 0, 100000000, NULL, "files", RL_SINK },
	{ "io.output.pcap.name", CT_STR, O(pcap_name), "stethoscope", 0, 0, 0, NULL, NULL, RL_SINK },
	/* io.output.json */
	{ "io.output.json.enabled", CT_BOOL, O(json_enabled), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.json.path", CT_STR, O(json_path), "-", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.json.cats", CT_STRLIST, O(json_cats), "session,ports,output,control,flow,stats,drops,pcap,calls,rtp", 0, 0, 0, NULL, NULL, RL_SINK },
	/* io.output.files */
	{ "io.output.files.enabled", CT_BOOL, O(files_enabled), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "io.output.files.dir", CT_STR, O(files_dir), "out", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "io.output.files.streams", CT_BOOL, O(files_streams), NULL, 1, 0, 0, NULL, NULL, RL_RESTART },
	{ "io.output.files.max_total_bytes", CT_INT, O(files_max_total_bytes), NULL, 0, 0, 1e15, NULL, "bytes", RL_RESTART },
	{ "io.output.files.max_files", CT_INT, O(files_max_files), NULL, 0, 0, 100000000, NULL, "files", RL_RESTART },
	/* io.output.hep */
	{ "io.output.hep.enabled", CT_BOOL, O(hep_enabled), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.hep.host", CT_STR, O(hep_host), "127.0.0.1", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.hep.port", CT_INT, O(hep_port), NULL, 9060, 1, 65535, NULL, NULL, RL_SINK },
	{ "io.output.hep.transport", CT_ENUM, O(hep_transport), "udp", 0, 0, 0, "udp|tcp", NULL, RL_SINK },
	{ "io.output.hep.node_id", CT_INT, O(hep_node_id), NULL, 2001, 0, 4294967295.0, NULL, NULL, RL_SINK },
	{ "io.output.hep.password", CT_STR, O(hep_password), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.hep.udp_max_bytes", CT_INT, O(hep_udp_max_bytes), NULL, 65507, 512, 65507, NULL, "bytes", RL_SINK },
	{ "io.output.hep.large_over_tcp", CT_BOOL, O(hep_large_over_tcp), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	/* io.output.nats (sinkd nats, JetStream) */
	{ "io.output.nats.enabled", CT_BOOL, O(nats_enabled), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.url", CT_STR, O(nats_url), "nats://127.0.0.1:4222", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.subject_prefix", CT_STR, O(nats_prefix), "steth", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.stream", CT_STR, O(nats_stream), "STETH", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.sensor", CT_STR, O(nats_sensor), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.run_id", CT_STR, O(nats_run_id), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.user", CT_STR, O(nats_user), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.password", CT_STR, O(nats_password), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.token", CT_STR, O(nats_token), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.creds", CT_STR, O(nats_creds), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.tls_ca", CT_STR, O(nats_tls_ca), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.tls_cert", CT_STR, O(nats_tls_cert), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.tls_key", CT_STR, O(nats_tls_key), NULL, 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.publish", CT_STRLIST, O(nats_publish), "events,sessions,calls", 0, 0, 0, NULL, NULL, RL_SINK },
	{ "io.output.nats.queue_bytes", CT_INT, O(nats_queue_bytes), NULL, 64 * MB, 64 * KB, 16 * GB, NULL, "bytes", RL_SINK },
	{ "io.output.nats.queue_msgs", CT_INT, O(nats_queue_msgs), NULL, 100000, 16, 100000000, NULL, "messages", RL_SINK },
	{ "io.output.nats.max_pending", CT_INT, O(nats_max_pending), NULL, 4096, 1, 1000000, NULL, "messages", RL_SINK },
	{ "io.output.nats.ack_timeout_ms", CT_INT, O(nats_ack_timeout_ms), NULL, 5000, 10, 600000, NULL, "milliseconds", RL_SINK },
	{ "io.output.nats.retries", CT_INT, O(nats_retries), NULL, 3, 0, 100, NULL, NULL, RL_SINK },
	{ "io.output.nats.stream_max_bytes", CT_INT, O(nats_stream_max_bytes), NULL, 1 * GB, -1, 1e15, NULL, "bytes", RL_SINK },
	{ "io.output.nats.duplicate_window_sec", CT_INT, O(nats_duplicate_window_sec), NULL, 120, 1, 86400, NULL, "seconds", RL_SINK },
	/* io.mapping */
	{ "io.mapping.role", CT_ENUM, O(role_name), "client", 0, 0, 0, "client|server", NULL, RL_RESTART },
	/* control */
	{ "control.bind_ip", CT_STR, O(ctl_bind_ip), "127.0.0.1", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "control.listen_port", CT_INT, O(ctl_listen_port), NULL, 50005, 0, 65535, NULL, NULL, RL_RESTART },
	{ "control.default_cats", CT_STRLIST, O(ctl_default_cats), "session,ports,output,control", 0, 0, 0, NULL, NULL, RL_LIVE },
	{ "control.unix_socket", CT_STR, O(ctl_unix_socket), "control.sock", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "control.token", CT_STR, O(ctl_token), NULL, 0, 0, 0, NULL, NULL, RL_LIVE },
	{ "control.metrics_port", CT_INT, O(ctl_metrics_port), NULL, 0, 0, 65535, NULL, NULL, RL_RESTART },
	{ "control.max_sessions", CT_INT, O(ctl_max_sessions), NULL, 100000, 1, 10000000, NULL, "sessions", RL_RESTART },
	{ "control.max_calls", CT_INT, O(ctl_max_calls), NULL, 10000, 1, 10000000, NULL, "calls", RL_RESTART },
	{ "control.max_clients", CT_INT, O(ctl_max_clients), NULL, 1024, 1, 100000, NULL, "clients", RL_RESTART },
	{ "control.clients_memcap", CT_INT, O(ctl_clients_memcap), NULL, 64 * MB, 1 * MB, 64 * GB, NULL, "bytes", RL_RESTART },
	{ "control.resume_bytes", CT_INT, O(ctl_resume_bytes), NULL, 8 * MB, 0, 1 * GB, NULL, "bytes", RL_RESTART },
	/* logging */
	{ "logging.console.verbosity", CT_ENUM, O(log_console_verbosity), "INFO", 0, 0, 0, "DEBUG|INFO|WARNING|ERROR", NULL, RL_LIVE },
	{ "logging.file.enabled", CT_BOOL, O(log_file_enabled), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "logging.file.path", CT_STR, O(log_file_path), "stethoscope.log", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "logging.file.verbosity", CT_ENUM, O(log_file_verbosity), "INFO", 0, 0, 0, "DEBUG|INFO|WARNING|ERROR", NULL, RL_LIVE },
	{ "logging.stats.report_interval", CT_DOUBLE, O(log_stats_report_interval), NULL, 5, 0, 86400, NULL, "seconds", RL_LIVE },
	/* runtime */
	{ "runtime.profile", CT_ENUM, O(profile), "balanced", 0, 0, 0, "balanced|throughput|latency|memory", NULL, RL_RESTART },
	{ "runtime.workers", CT_INT, O(workers), NULL, 0, -1e9, 1e9, NULL, NULL, RL_RESTART },
	{ "runtime.capture_queue_size", CT_INT, O(capture_queue_size), NULL, 50000, 1000, 5000000, NULL, "packets", RL_RESTART },
	{ "runtime.max_output_buffer_bytes", CT_INT, O(max_output_buffer_bytes), NULL, 1000000, 0, 1e12, NULL, "bytes", RL_RESTART },
	{ "runtime.drain_timeout_ms", CT_INT, O(drain_timeout_ms), NULL, 0, 0, 3600000, NULL, "ms", RL_RESTART },
	{ "runtime.close_grace_ms", CT_INT, O(close_grace_ms), NULL, 100, 0, 10000, NULL, "ms", RL_RESTART },
	{ "runtime.close_linger_sec", CT_DOUBLE, O(close_linger_sec), NULL, 2.0, 0, 86400, NULL, "seconds", RL_RESTART },
	{ "runtime.stats_interval_sec", CT_DOUBLE, O(stats_interval_sec), NULL, 5, 0, 86400, NULL, "seconds", RL_LIVE },
	{ "runtime.overflow", CT_ENUM, O(overflow_name), NULL, 0, 0, 0, "drop|block", NULL, RL_RESTART },
	{ "runtime.user", CT_STR, O(user), "nobody", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "runtime.capture_user", CT_STR, O(capture_user), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "runtime.group", CT_STR, O(group), "nogroup", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "runtime.run_dir", CT_STR, O(run_dir), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "runtime.ring_bytes", CT_INT, O(ring_bytes), NULL, 64 * MB, 64 * KB, 4 * GB, NULL, "bytes", RL_RESTART },
	{ "runtime.max_open_files", CT_INT, O(max_open_files), NULL, 512, 4, 1000000, NULL, "files", RL_RESTART },
	/* reasm */
	{ "reasm.max_sessions", CT_INT, O(max_sessions), NULL, 1000000, 1, 100000000, NULL, "sessions", RL_RESTART },
	{ "reasm.ooo_bytes_per_dir", CT_INT, O(ooo_bytes_per_dir), NULL, 4 * MB, 0, 1 * GB, NULL, "bytes", RL_RESTART },
	{ "reasm.memcap", CT_INT, O(memcap), NULL, 1 * GB, 1 * MB, 1024 * GB, NULL, "bytes", RL_RESTART },
	{ "reasm.frag_memcap", CT_INT, O(frag_memcap), NULL, 64 * MB, 0, 64 * GB, NULL, "bytes", RL_RESTART },
	{ "reasm.gap_grace_ms", CT_INT, O(gap_grace_ms), NULL, 1000, 0, 600000, NULL, "ms", RL_RESTART },
	{ "reasm.ooo_timeout_ms", CT_INT, O(ooo_timeout_ms), NULL, 10000, 0, 3600000, NULL, "ms", RL_RESTART },
	{ "reasm.analysers", CT_STRLIST, O(analysers), "http", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "reasm.frag_timeout_sec", CT_DOUBLE, O(frag_timeout_sec), NULL, 30, 0.001, 3600, NULL, "seconds", RL_RESTART },
	/* sink */
	{ "sink.memcap", CT_INT, O(sink_memcap), NULL, 256 * MB, 1 * MB, 1024 * GB, NULL, "bytes", RL_RESTART },
	/* voip */
	{ "voip.enabled", CT_BOOL, O(voip_enabled), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.sip_ports", CT_INTLIST, O(sip_ports), "5060", 0, 1, 65535, NULL, NULL, RL_RESTART },
	{ "voip.sipuser", CT_STR_OR_LIST, O(sipuser), "", 0, 0, 0, NULL, NULL, RL_LIVE },
	{ "voip.rtp", CT_BOOL, O(voip_rtp), NULL, 1, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.per_call_pcap", CT_BOOL, O(voip_per_call_pcap), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.call_table", CT_BOOL, O(voip_call_table), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.rtp_port_range", CT_STR, O(rtp_port_range), NULL, 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.detect", CT_BOOL, O(voip_detect), NULL, 1, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.max_message_bytes", CT_INT, O(voip_max_message_bytes), NULL, 256 * KB, 1 * KB, 16 * MB, NULL, "bytes", RL_RESTART },
	{ "voip.media_grace_sec", CT_DOUBLE, O(voip_media_grace_sec), NULL, 5, 0, 3600, NULL, "seconds", RL_RESTART },
	{ "voip.call_idle_sec", CT_INT, O(voip_call_idle_sec), NULL, 600, 1, 604800, NULL, "seconds", RL_RESTART },
	{ "voip.max_calls", CT_INT, O(voip_max_calls), NULL, 100000, 1, 100000000, NULL, "dialogs", RL_RESTART },
	{ "voip.max_streams", CT_INT, O(voip_max_streams), NULL, 100000, 1, 100000000, NULL, "streams", RL_RESTART },
	{ "voip.max_endpoints", CT_INT, O(voip_max_endpoints), NULL, 400000, 1, 400000000, NULL, "endpoints", RL_RESTART },
	{ "voip.hold_bytes", CT_INT, O(voip_hold_bytes), NULL, 16 * MB, 64 * KB, 64 * GB, NULL, "bytes", RL_RESTART },
	{ "voip.pcap_name", CT_STR, O(voip_pcap_name), "{timestamp}_{callid}.pcapng", 0, 0, 0, NULL, NULL, RL_RESTART },
	{ "voip.pcap_rotate_bytes", CT_INT, O(voip_pcap_rotate_bytes), NULL, 0, 0, 1e15, NULL, "bytes", RL_RESTART },
};
#define NKEYS ARRAY_SIZE(conf_schema)


struct cload {
	struct conf *c;
	struct conf_diag *d;
	const struct jsonish_doc *doc;
	const char *file;	/* for messages */
	int flags;
};

static void __attribute__((format(printf, 3, 0)))
diag_add(char ***v, size_t *n, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(buf);
}

static void __attribute__((format(printf, 2, 3)))
cl_error(struct cload *L, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(&L->d->errors, &L->d->nerrors, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3)))
cl_warn(struct cload *L, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(&L->d->warnings, &L->d->nwarnings, fmt, ap);
	va_end(ap);
}

/* Go-version and legacy spellings, mapped onto the schema's paths. */
static const struct { const char *from, *to; } conf_alias[] = {
	{ "io.output.listner", "io.output.listener" },	/* the Go version's spelling */
	{ "io.output.pcap.path", "io.output.pcap.dir" },
	{ "io.input.capture.bpf_filter", "io.input.capture.bpf-filter" },
	{ "io.output.remote-host.timeouts.retry_every", "io.output.remote-host.timeouts.retry-every" },
};

/* "FILE:LINE:COL" of a path (its nearest ancestor with a position). */
static void
cl_where(struct cload *L, const char *path, char *buf, size_t size)
{
	char tmp[512];
	const struct jsonish_pos *p = NULL;
	size_t best = 0;

	if (L->doc == NULL) {
		snprintf(buf, size, "%s", L->file);
		return;
	}
	/* the nearest ancestor the file has, under the path or, when the
	 * file spells it the Go version's way, under that spelling */
	for (int pass = 0; pass < 2; pass++) {
		const struct jsonish_pos *q = NULL;
		size_t len;
		sth_strlcpy(tmp, path, sizeof(tmp));
		if (pass == 1) {
			for (size_t a = 0; a < ARRAY_SIZE(conf_alias); a++) {
				size_t n = strlen(conf_alias[a].to);
				if (strncmp(path, conf_alias[a].to, n) == 0 && (path[n] == '\0' || path[n] == '.'))
					snprintf(tmp, sizeof(tmp), "%s%s", conf_alias[a].from, path + n);
			}
			if (strcmp(tmp, path) == 0)
				break;
		}
		while ((q = jsonish_find(L->doc, tmp)) == NULL) {
			char *dot = strrchr(tmp, '.');
			if (dot == NULL)
				break;
			*dot = '\0';
		}
		len = strlen(tmp);
		if (q != NULL && (p == NULL || len > best)) {
			p = q;
			best = len;
		}
	}
	if (p != NULL)
		snprintf(buf, size, "%s:%d:%d", L->file, p->line, p->col);
	else
		snprintf(buf, size, "%s:1:1", L->file);
}

static int
key_index(const char *path)
{
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(conf_schema[k].path, path) == 0)
			return (int)k;
	return -1;
}

/* Is path a section (a proper prefix of some key at a dot)? */
static bool
is_section(const char *path)
{
	size_t n = strlen(path);

	for (size_t k = 0; k < NKEYS; k++)
		if (strncmp(conf_schema[k].path, path, n) == 0 &&
		    conf_schema[k].path[n] == '.')
			return true;
	return false;
}

size_t
conf_edit_distance_within(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t small[64], *row, r;

	/* A prefix or suffix the two share costs nothing: off before the
	 * table (the environment's names all begin STETHOSCOPE_). */
	while (la > 0 && lb > 0 && *a == *b)
		a++, b++, la--, lb--;
	while (la > 0 && lb > 0 && a[la - 1] == b[lb - 1])
		la--, lb--;
	/* The distance is at least the difference in length: a hostile name
	 * of kilobytes costs nothing against every key. */
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	row = lb + 1 <= ARRAY_SIZE(small) ? small : xmalloc((lb + 1) * sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	r = lb;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0], least;
		least = row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), prev + cost);
			least = MIN(least, row[j]);
			prev = cur;
		}
		if (least > max) {	/* every row after is at least as far */
			r = max + 1;
			goto out;
		}
	}
	r = MIN(row[lb], max + 1);
out:
	if (row != small)
		free(row);
	return r;
}

size_t
conf_edit_distance(const char *a, const char *b)
{
	return conf_edit_distance_within(a, b, SIZE_MAX - 1);
}

/* The nearest known key to an unknown path: among its siblings (keys and
 * sections under the same parent) first, else among all keys. */
static void
nearest_key(const char *path, char *out, size_t size)
{
	const char *dot = strrchr(path, '.');
	size_t plen = dot ? (size_t)(dot - path) : 0;
	const char *leaf = dot ? dot + 1 : path;
	size_t best = (size_t)-1;

	out[0] = '\0';
	for (size_t k = 0; k < NKEYS; k++) {
		const char *kp = conf_schema[k].path;
		char cand[256];
		const char *end;
		size_t d;

		if (plen > 0 && (strncmp(kp, path, plen) != 0 || kp[plen] != '.'))
			continue;
		kp += plen ? plen + 1 : 0;
		end = strchr(kp, '.');
		snprintf(cand, sizeof(cand), "%.*s", end ? (int)(end - kp) : (int)strlen(kp), kp);
		d = conf_edit_distance_within(leaf, cand, best - 1);
		if (d < best) {
			best = d;
			snprintf(out, size, "%.*s%s%s", (int)plen, path, plen ? "." : "", cand);
		}
	}
	if (out[0] != '\0')
		return;
	for (size_t k = 0; k < NKEYS; k++) {
		size_t d = conf_edit_distance_within(path, conf_schema[k].path, best - 1);
		if (d < best) {
			best = d;
			sth_strlcpy(out, conf_schema[k].path, size);
		}
	}
}

static const char *
json_kind(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return "null";
	case json_type_boolean: return "boolean";
	case json_type_double: return "number";
	case json_type_int: return "integer";
	case json_type_object: return "object";
	case json_type_array: return "array";
	case json_type_string: return "string";
	}
	return "value";
}

/* "string \"abc\"", "integer 70000", "object" ... for messages. */
static void
json_found(struct json_object *v, char *buf, size_t size)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		snprintf(buf, size, "string \"%.60s\"", json_object_get_string(v));
		break;
	case json_type_int:
	case json_type_double:
	case json_type_boolean:
		snprintf(buf, size, "%s %s", json_kind(v), json_object_to_json_string(v));
		break;
	default:
		snprintf(buf, size, "%s", json_kind(v));
	}
}

static void
strlist_free(struct conf_strlist *l)
{
	for (size_t k = 0; k < l->n; k++)
		free(l->v[k]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Splits "a,b,c" into a list (empty items dropped). */
static void
strlist_from_csv(struct conf_strlist *l, const char *csv)
{
	const char *p = csv;

	strlist_free(l);
	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		while (n > 0 && isspace((unsigned char)*p)) {
			p++;
			n--;
		}
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n > 0) {
			l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
			l->v[l->n] = xmalloc(n + 1);
			memcpy(l->v[l->n], p, n);
			l->v[l->n][n] = '\0';
			l->n++;
		}
		p = e ? e + 1 : NULL;
	}
}

static void
set_str(char **slot, const char *s)
{
	free(*slot);
	*slot = s ? xstrdup(s) : NULL;
}

static void
range_text(const struct ckey *k, char *buf, size_t size)
{
	if (k->min <= -1e300 && k->max >= 1e300)
		buf[0] = '\0';
	else
		snprintf(buf, size, " in %.15g..%.15g%s%s", k->min, k->max,
		    k->unit ? " " : "", k->unit ? k->unit : "");
}

/* Stores a json value into the key's slot.  Returns 0, or -1 after
 * recording an error at `where`. */
static int
store_value(struct cload *L, const struct ckey *k, struct json_object *v,
    const char *where)
{
	char *base = (char *)L->c;
	char found[128], rng[96];
	enum json_type t = json_object_get_type(v);

	json_found(v, found, sizeof(found));
	switch (k->type) {
	case CT_BOOL:
		if (t != json_type_boolean) {
			cl_error(L, "%s: %s: expected boolean (true or false), found %s", where, k->path, found);
			return -1;
		}
		*(bool *)(base + k->off) = json_object_get_boolean(v);
		return 0;
	case CT_INT: {
		double d;
		range_text(k, rng, sizeof(rng));
		if (t == json_type_int)
			d = (double)json_object_get_int64(v);
		else if (t == json_type_double && floor(json_object_get_double(v)) == json_object_get_double(v))
			d = json_object_get_double(v);
		else {
			cl_error(L, "%s: %s: expected integer%s, found %s", where, k->path, rng, found);
			return -1;
		}
		if (d < k->min || d > k->max) {
			cl_error(L, "%s: %s: expected integer%s, found %s", where, k->path, rng, found);
			return -1;
		}
		*(int64_t *)(base + k->off) = (int64_t)d;
		return 0;
	}
	case CT_DOUBLE: {
		double d;
		range_text(k, rng, sizeof(rng));
		if (t != json_type_int && t != json_type_double) {
			cl_error(L, "%s: %s: expected number%s, found %s", where, k->path, rng, found);
			return -1;
		}
		d = json_object_get_double(v);
		if (d < k->min || d > k->max) {
			cl_error(L, "%s: %s: expected number%s, found %s", where, k->path, rng, found);
			return -1;
		}
		*(double *)(base + k->off) = d;
		return 0;
	}
	case CT_STR:
		if (t != json_type_string) {
			cl_error(L, "%s: %s: expected string, found %s", where, k->path, found);
			return -1;
		}
		set_str((char **)(base + k->off), json_object_get_string(v));
		return 0;
	case CT_ENUM: {
		const char *s = t == json_type_string ? json_object_get_string(v) : NULL;
		const char *p = k->choices;
		while (s != NULL && p != NULL) {
			const char *e = strchr(p, '|');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (strlen(s) == n && strncasecmp(s, p, n) == 0) {
				char *canon = xmalloc(n + 1);
				memcpy(canon, p, n);
				canon[n] = '\0';
				free(*(char **)(base + k->off));
				*(char **)(base + k->off) = canon;
				return 0;
			}
			p = e ? e + 1 : NULL;
		}
		cl_error(L, "%s: %s: expected one of %s, found %s", where, k->path, k->choices, found);
		return -1;
	}
	case CT_STR_OR_LIST:
		if (t == json_type_string) {
			strlist_from_csv((struct conf_strlist *)(base + k->off), json_object_get_string(v));
			return 0;
		}
		/* FALLTHROUGH */
	case CT_STRLIST: {
		struct conf_strlist *l = (struct conf_strlist *)(base + k->off);
		if (t != json_type_array) {
			cl_error(L, "%s: %s: expected array of strings, found %s", where, k->path, found);
			return -1;
		}
		strlist_free(l);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			if (json_object_get_type(e) != json_type_string) {
				json_found(e, found, sizeof(found));
				cl_error(L, "%s: %s[%zu]: expected string, found %s", where, k->path, i, found);
				return -1;
			}
			l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
			l->v[l->n++] = xstrdup(json_object_get_string(e));
		}
		return 0;
	}
	case CT_INTLIST: {
		struct conf_intlist *l = (struct conf_intlist *)(base + k->off);
		range_text(k, rng, sizeof(rng));
		if (t == json_type_int) {
			struct json_object *arr = json_object_new_array();
			int r;
			json_object_array_add(arr, json_object_get(v));
			r = store_value(L, k, arr, where);
			json_object_put(arr);
			return r;
		}
		if (t != json_type_array) {
			cl_error(L, "%s: %s: expected array of integers%s, found %s", where, k->path, rng, found);
			return -1;
		}
		free(l->v);
		l->v = NULL;
		l->n = 0;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int64_t x = json_object_get_int64(e);
			if (json_object_get_type(e) != json_type_int || x < k->min || x > k->max) {
				json_found(e, found, sizeof(found));
				cl_error(L, "%s: %s[%zu]: expected integer%s, found %s", where, k->path, i, rng, found);
				return -1;
			}
			l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
			l->v[l->n++] = x;
		}
		return 0;
	}
	}
	return -1;
}

static const char *
canonical_path(const char *path, char *buf, size_t size)
{
	for (size_t a = 0; a < ARRAY_SIZE(conf_alias); a++) {
		size_t n = strlen(conf_alias[a].from);
		if (strncmp(path, conf_alias[a].from, n) == 0 &&
		    (path[n] == '\0' || path[n] == '.')) {
			snprintf(buf, size, "%s%s", conf_alias[a].to, path + n);
			return buf;
		}
	}
	return path;
}

static void
walk(struct cload *L, struct json_object *obj, const char *path)
{
	json_object_object_foreach(obj, key, val) {
		char raw[512], canon[512], where[600];
		const char *cp;
		int idx;

		snprintf(raw, sizeof(raw), "%s%s%s", path, *path ? "." : "", key);
		if (key[0] == '_')
			continue;	/* the schema's comment convention */
		cp = canonical_path(raw, canon, sizeof(canon));
		cl_where(L, raw, where, sizeof(where));
		idx = key_index(cp);
		if (idx >= 0) {
			if (L->c->given[idx] && strcmp(cp, raw) != 0) {
				cl_error(L, "%s: %s: expected one spelling of the key, found both %s and its alias", where, raw, conf_schema[idx].path);
				continue;
			}
			if (val == NULL)	/* null: keep the default */
				continue;
			if (store_value(L, &conf_schema[idx], val, where) == 0) {
				L->c->given[idx] = 1;
				L->c->origin[idx] = CONF_FROM_FILE;
			}
			continue;
		}
		if (is_section(cp)) {
			if (json_object_get_type(val) != json_type_object) {
				char found[128];
				json_found(val, found, sizeof(found));
				cl_error(L, "%s: %s: expected object, found %s", where, raw, found);
				continue;
			}
			walk(L, val, cp);
			continue;
		}
		{
			char near[300];
			nearest_key(cp, near, sizeof(near));
			if (L->flags & CONF_STRICT)
				cl_error(L, "%s: %s: expected a known key (nearest: %s), found unknown key", where, raw, near);
			else
				cl_warn(L, "%s: %s: unknown key, ignored (nearest known key: %s)", where, raw, near);
		}
	}
}

static void
set_defaults(struct conf *c)
{
	char *base = (char *)c;

	for (size_t k = 0; k < NKEYS; k++) {
		const struct ckey *e = &conf_schema[k];
		switch (e->type) {
		case CT_BOOL: *(bool *)(base + e->off) = e->def_n != 0; break;
		case CT_INT: *(int64_t *)(base + e->off) = (int64_t)e->def_n; break;
		case CT_DOUBLE: *(double *)(base + e->off) = e->def_n; break;
		case CT_STR:
		case CT_ENUM: set_str((char **)(base + e->off), e->def_s); break;
		case CT_STRLIST:
		case CT_STR_OR_LIST:
			strlist_from_csv((struct conf_strlist *)(base + e->off), e->def_s);
			break;
		case CT_INTLIST: {
			struct conf_intlist *l = (struct conf_intlist *)(base + e->off);
			struct conf_strlist tmp = { 0 };
			strlist_from_csv(&tmp, e->def_s);
			l->v = xcalloc(tmp.n, sizeof(*l->v));
			l->n = tmp.n;
			for (size_t i = 0; i < tmp.n; i++)
				l->v[i] = strtoll(tmp.v[i], NULL, 10);
			strlist_free(&tmp);
			break;
		}
		}
	}
}

/* A value given as a string (command line, environment) for key idx: read
 * by the key's type through the same checks as the file's values; a list
 * or an object may also be JSON text ("[...]", "{...}"). */
static bool
apply_string(struct cload *L, int idx, const char *value, const char *where)
{
	const struct ckey *k = &conf_schema[idx];
	struct json_object *v = NULL;
	struct conf_override one = { k->path, value };
	const struct conf_override *o = &one;
	bool ok;

	if ((k->type == CT_STRLIST || k->type == CT_INTLIST || k->type == CT_STR_OR_LIST) &&
	    (value[0] == '[' || value[0] == '{')) {
		enum json_tokener_error jerr;
		v = json_tokener_parse_verbose(value, &jerr);
		if (v == NULL) {
			cl_error(L, "%s: %s: expected JSON text (a list), found \"%s\" (%s)", where, k->path,
			    value, json_tokener_error_desc(jerr));
			return false;
		}
		ok = store_value(L, k, v, where) == 0;
		json_object_put(v);
		return ok;
	}
	switch (k->type) {
	case CT_BOOL:
		if (strcmp(o->value, "true") == 0 || strcmp(o->value, "1") == 0)
			v = json_object_new_boolean(1);
		else if (strcmp(o->value, "false") == 0 || strcmp(o->value, "0") == 0)
			v = json_object_new_boolean(0);
		break;
	case CT_INT: {
		char *end;
		errno = 0;
		long long x = strtoll(o->value, &end, 10);
		if (errno == 0 && *o->value != '\0' && *end == '\0')
			v = json_object_new_int64(x);
		break;
	}
	case CT_DOUBLE: {
		char *end;
		double x = strtod(o->value, &end);
		if (*o->value != '\0' && *end == '\0' && isfinite(x))
			v = json_object_new_double(x);
		break;
	}
	case CT_INTLIST: {
		struct conf_strlist tmp = { 0 };
		strlist_from_csv(&tmp, o->value);
		v = json_object_new_array();
		for (size_t i = 0; i < tmp.n; i++) {
			char *end;
			long long x = strtoll(tmp.v[i], &end, 10);
			if (*end != '\0') {
				json_object_put(v);
				v = NULL;
				break;
			}
			json_object_array_add(v, json_object_new_int64(x));
		}
		strlist_free(&tmp);
		break;
	}
	case CT_STRLIST: {
		struct conf_strlist tmp = { 0 };
		strlist_from_csv(&tmp, o->value);
		v = json_object_new_array();
		for (size_t i = 0; i < tmp.n; i++)
			json_object_array_add(v, json_object_new_string(tmp.v[i]));
		strlist_free(&tmp);
		break;
	}
	default:
		v = json_object_new_string(o->value);
	}
	if (v == NULL) {
		v = json_object_new_string(o->value);
		/* store_value reports the type mismatch with the found value. */
	}
	ok = store_value(L, k, v, where) == 0;
	json_object_put(v);
	return ok;
}

/* Applies one command-line override. */
static void
apply_override(struct cload *L, const struct conf_override *o)
{
	char canon[512];
	const char *cp = canonical_path(o->path, canon, sizeof(canon));
	int idx = key_index(cp);

	if (idx < 0) {
		cl_error(L, "command line: %s: expected a known key, found unknown key", o->path);
		return;
	}
	if (apply_string(L, idx, o->value, "command line")) {
		L->c->given[idx] = 1;
		L->c->origin[idx] = CONF_FROM_CMDLINE;
	}
}

/*
 * runtime.profile: a group of keys set together, under every key given
 * (file, environment, command line).  docs/configuration.md lists them;
 * make bench shows what each moves.  "balanced" is the defaults.
 */
struct profile_key {
	const char *profile, *path, *value;
};

static const struct profile_key profile_keys[] = {
	/* throughput: room for bursts everywhere, at the cost of memory */
	{ "throughput", "io.input.capture.scapy_bufsize", "268435456" },
	{ "throughput", "runtime.capture_queue_size", "500000" },
	{ "throughput", "runtime.max_output_buffer_bytes", "16000000" },
	{ "throughput", "io.output.pcap.queue_size", "2097152" },
	{ "throughput", "io.output.pcap.queue_bytes", "536870912" },
	{ "throughput", "sink.memcap", "1073741824" },
	/* latency: each packet handed on at once (libpcap's immediate mode:
	 * TPACKET_V2, a slot a packet, so a larger buffer for the same
	 * burst); a hole waits less before it is declared a gap */
	{ "latency", "io.input.capture.immediate", "true" },
	{ "latency", "io.input.capture.scapy_bufsize", "268435456" },
	{ "latency", "reasm.gap_grace_ms", "200" },
	{ "latency", "runtime.close_grace_ms", "20" },
	/* memory: small rings, buffers and caps (less room for a burst) */
	{ "memory", "io.input.capture.scapy_bufsize", "16777216" },
	{ "memory", "runtime.ring_bytes", "4194304" },
	{ "memory", "runtime.max_output_buffer_bytes", "262144" },
	{ "memory", "reasm.ooo_bytes_per_dir", "262144" },
	{ "memory", "reasm.memcap", "268435456" },
	{ "memory", "reasm.frag_memcap", "8388608" },
	{ "memory", "sink.memcap", "67108864" },
	{ "memory", "voip.hold_bytes", "4194304" },
	{ "memory", "io.output.pcap.queue_bytes", "8388608" },
	{ "memory", "io.output.nats.queue_bytes", "8388608" },
	{ "memory", "control.resume_bytes", "1048576" },
};

static void
apply_profile(struct cload *L)
{
	const char *p = L->c->profile;
	char where[64];

	if (p == NULL)
		return;
	snprintf(where, sizeof(where), "runtime.profile %s", p);
	for (size_t k = 0; k < ARRAY_SIZE(profile_keys); k++) {
		int idx;
		if (strcmp(profile_keys[k].profile, p) != 0)
			continue;
		if ((idx = key_index(profile_keys[k].path)) < 0 || L->c->given[idx])
			continue;	/* a key given wins */
		if (apply_string(L, idx, profile_keys[k].value, where))
			L->c->origin[idx] = CONF_FROM_PROFILE;
	}
}

void
conf_print_profiles(FILE *out)
{
	for (size_t k = 0; k < ARRAY_SIZE(profile_keys); k++)
		fprintf(out, "%s\t%s\t%s\n", profile_keys[k].profile, profile_keys[k].path, profile_keys[k].value);
}

void
conf_env_name(const char *path, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "STETHOSCOPE_");

	for (const char *p = path; *p && n + 1 < size; p++)
		buf[n++] = *p == '.' || *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	buf[n < size ? n : size - 1] = '\0';
}

/* Variables of ours that are not keys. */
static const char *const env_not_keys[] = {
	"STETHOSCOPE_CONFIG", "STETHOSCOPE_LOG_LEVEL", "STETHOSCOPE_CTL", "STETHOSCOPE_BINDIR",
};

/*
 * The environment, over the file and under the command line: for every
 * key, STETHOSCOPE_ and its path in upper case with '.' and '-' as '_'
 * (the Go version's spellings too: io.output.listner as io.output.listener).
 * A variable of ours that names no key is a warning, with the nearest.
 */
static void
apply_env(struct cload *L)
{
	extern char **environ;

	for (size_t k = 0; k < NKEYS; k++) {
		char name[300], aname[300], where[340];
		const char *val, *aval = NULL;

		conf_env_name(conf_schema[k].path, name, sizeof(name));
		val = getenv(name);
		for (size_t a = 0; a < ARRAY_SIZE(conf_alias); a++) {
			size_t n = strlen(conf_alias[a].to);
			char apath[300];
			if (strncmp(conf_schema[k].path, conf_alias[a].to, n) != 0 ||
			    (conf_schema[k].path[n] != '\0' && conf_schema[k].path[n] != '.'))
				continue;
			snprintf(apath, sizeof(apath), "%s%s", conf_alias[a].from, conf_schema[k].path + n);
			conf_env_name(apath, aname, sizeof(aname));
			if (strcmp(aname, name) != 0 && (aval = getenv(aname)) != NULL)
				break;
		}
		if (val != NULL && aval != NULL) {
			cl_error(L, "environment %s: expected one spelling of the variable, found both it and %s",
			    name, aname);
			continue;
		}
		if (val == NULL && aval != NULL) {
			val = aval;
			snprintf(name, sizeof(name), "%s", aname);
		}
		if (val == NULL)
			continue;
		snprintf(where, sizeof(where), "environment %s", name);
		if (apply_string(L, (int)k, val, where)) {
			L->c->given[k] = 1;
			L->c->origin[k] = CONF_FROM_ENV;
		}
	}
	for (char **e = environ; e != NULL && *e != NULL; e++) {
		char name[300], kname[300], best[300] = "";
		const char *eq = strchr(*e, '=');
		size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
		bool known = false;
		int bestd;

		if (strncmp(*e, "STETHOSCOPE_", 12) != 0 || n >= sizeof(name))
			continue;
		memcpy(name, *e, n);
		name[n] = '\0';
		/* a name nearer than a third of it is a likely typo; past
		 * that, no suggestion (and a long garbage name costs little) */
		bestd = (int)MAX((size_t)2, (n - 12) / 3) + 1;
		for (size_t i = 0; i < ARRAY_SIZE(env_not_keys) && !known; i++)
			known = strcmp(name, env_not_keys[i]) == 0;
		for (size_t k = 0; k < NKEYS && !known; k++) {
			int d;
			conf_env_name(conf_schema[k].path, kname, sizeof(kname));
			if (strcmp(kname, name) == 0)
				known = true;
			else if ((d = (int)conf_edit_distance_within(kname, name, (size_t)bestd - 1)) < bestd) {
				bestd = d;
				snprintf(best, sizeof(best), "%s", kname);
			}
		}
		for (size_t a = 0; a < ARRAY_SIZE(conf_alias) && !known; a++) {
			conf_env_name(conf_alias[a].from, kname, sizeof(kname));
			known = strncmp(name, kname, strlen(kname)) == 0;
		}
		if (!known && best[0] != '\0')
			cl_warn(L, "environment %s: unknown variable, ignored (nearest: %s)", name, best);
		else if (!known)
			cl_warn(L, "environment %s: unknown variable, ignored", name);
	}
}

bool
conf_given(const struct conf *c, const char *path)
{
	int idx = key_index(path);

	return idx >= 0 && c->given != NULL && c->given[idx];
}

static bool
has_placeholder(const char *s)
{
	return s != NULL && (strstr(s, "{local_ip}") || strstr(s, "{remote_ip}") ||
	    strstr(s, "{remote_port}") || strstr(s, "{local_port}"));
}

static void
require(struct cload *L, const char *path, const char *why)
{
	char where[600];

	if (conf_given(L->c, path))
		return;
	cl_where(L, path, where, sizeof(where));
	cl_error(L, "%s: %s: expected a value (%s), found nothing", where, path, why);
}

static void
derive_and_check(struct cload *L)
{
	struct conf *c = L->c;
	char where[600];
	long ncpu;

	/* Capture: the Go version's four endpoint keys are required for a live
	 * capture whose filter is the endpoint template. */
	c->filter_is_template = c->bpf_filter == NULL ? (c->local_ip || c->remote_ip ||
	    conf_given(c, "io.input.capture.remote_port")) : has_placeholder(c->bpf_filter);
	if (c->file == NULL && c->filter_is_template) {
		const char *why = "required for a live capture with the bpf-filter template";
		require(L, "io.input.capture.iface", why);
		require(L, "io.input.capture.local_ip", why);
		require(L, "io.input.capture.remote_ip", why);
		require(L, "io.input.capture.remote_port", why);
	}
	if (c->c2s_buffer_bytes < 0)
		c->c2s_buffer_bytes = c->buffer_bytes;
	if (c->s2c_buffer_bytes < 0)
		c->s2c_buffer_bytes = c->buffer_bytes;

	if (c->conn_enabled) {
		require(L, "io.output.remote-host.requests_port", "required when io.output.remote-host is enabled");
		require(L, "io.output.remote-host.responses_port", "required when io.output.remote-host is enabled");
	}
	if (c->lst_enabled) {
		require(L, "io.output.listener.port_range_start", "required when the listener is enabled");
		require(L, "io.output.listener.port_range_end", "required when the listener is enabled");
		if (conf_given(c, "io.output.listener.port_range_start") &&
		    conf_given(c, "io.output.listener.port_range_end") &&
		    c->lst_range_end < c->lst_range_start) {
			cl_where(L, "io.output.listener.port_range_end", where, sizeof(where));
			cl_error(L, "%s: io.output.listener.port_range_end: expected integer >= port_range_start (%lld), found integer %lld",
			    where, (long long)c->lst_range_start, (long long)c->lst_range_end);
		}
	}
	if (conf_given(c, "io.output.listener.first_requests_port") !=
	    conf_given(c, "io.output.listener.first_responses_port")) {
		const char *missing = conf_given(c, "io.output.listener.first_requests_port") ?
		    "io.output.listener.first_responses_port" : "io.output.listener.first_requests_port";
		cl_where(L, missing, where, sizeof(where));
		cl_error(L, "%s: %s: expected a value (first_requests_port and first_responses_port come together), found nothing",
		    where, missing);
	}
	for (size_t k = 0; k < c->nats_publish.n; k++) {
		static const char *const kinds[] = { "events", "sessions", "calls", "chunks", "packets" };
		bool ok = false;
		for (size_t j = 0; j < ARRAY_SIZE(kinds); j++)
			ok = ok || strcmp(c->nats_publish.v[k], kinds[j]) == 0;
		if (!ok) {
			cl_where(L, "io.output.nats.publish", where, sizeof(where));
			cl_error(L, "%s: io.output.nats.publish: expected events, sessions, calls, chunks or packets, found \"%s\"",
			    where, c->nats_publish.v[k]);
		}
	}
	if (conf_given(c, "runtime.ring_bytes") &&
	    (c->ring_bytes & (c->ring_bytes - 1)) != 0) {
		cl_where(L, "runtime.ring_bytes", where, sizeof(where));
		cl_error(L, "%s: runtime.ring_bytes: expected a power of two, found integer %lld",
		    where, (long long)c->ring_bytes);
	}

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (!conf_given(c, "runtime.workers"))
		c->workers = ncpu > 0 ? ncpu : 1;
	if (c->workers < 1 || c->workers > 256) {
		int64_t w = c->workers < 1 ? 1 : 256;
		cl_where(L, "runtime.workers", where, sizeof(where));
		cl_warn(L, "%s: runtime.workers: %lld is outside 1..256, clamped to %lld",
		    where, (long long)c->workers, (long long)w);
		c->workers = w;
	}
	c->role = strcmp(c->role_name, "server") == 0 ? ROLE_SERVER : ROLE_CLIENT;
	if (c->overflow_name != NULL)
		c->overflow = strcmp(c->overflow_name, "block") == 0 ? OVERFLOW_BLOCK : OVERFLOW_DROP;
	else
		c->overflow = c->file != NULL ? OVERFLOW_BLOCK : OVERFLOW_DROP;
	c->stats_interval = conf_given(c, "runtime.stats_interval_sec") ?
	    c->stats_interval_sec : c->log_stats_report_interval;
	c->drain_timeout_eff_ms = c->drain_timeout_ms ? c->drain_timeout_ms : 5000;
	if (c->capture_user == NULL)
		c->capture_user = xstrdup(c->user);
	if (c->run_dir == NULL) {
		char buf[512];
		if (geteuid() == 0)
			snprintf(buf, sizeof(buf), "/run/stethoscope/%s", c->name);
		else
			snprintf(buf, sizeof(buf), "run/%s", c->name);
		c->run_dir = xstrdup(buf);
	}
}

static char *
read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t r;
		if (n + 4096 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > 16 * 1024 * 1024) {
				snprintf(err, errlen, "%s: larger than 16 MiB, not a configuration file", path);
				free(buf);
				if (f != stdin)
					fclose(f);
				return NULL;
			}
			buf = xrealloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		free(buf);
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Loads from text (NULL: no file); `path` names it in messages. */
static int
conf_load_common(struct conf *c, const char *path, const char *text, size_t len,
    const struct conf_override *ov, size_t nov, int flags, struct conf_diag *diag)
{
	struct jsonish_doc doc = { 0 };
	struct cload L = { .c = c, .d = diag, .file = path ? path : "(no file)", .flags = flags };
	char err[512];

	memset(c, 0, sizeof(*c));
	memset(diag, 0, sizeof(*diag));
	c->given = xcalloc(NKEYS, 1);
	c->origin = xcalloc(NKEYS, 1);
	set_defaults(c);
	if (path != NULL) {
		const char *b = strrchr(path, '/');
		char *dot;
		c->path = xstrdup(path);
		c->name = xstrdup(b ? b + 1 : path);
		if ((dot = strrchr(c->name, '.')) != NULL && dot != c->name)
			*dot = '\0';
		if (strcmp(c->name, "-") == 0 || c->name[0] == '\0') {
			free(c->name);
			c->name = xstrdup("stdin");
		}
	} else
		c->name = xstrdup("default");

	if (text != NULL) {
		if (memchr(text, '\0', len) != NULL) {
			cl_error(&L, "%s:1:1: expected text, found a NUL byte (binary file?)", L.file);
			return -1;
		}
		if (jsonish_parse(text, len, &doc, err, sizeof(err)) < 0) {
			cl_error(&L, "%s:%s", L.file, err);
			return -1;
		}
		L.doc = &doc;
		walk(&L, doc.root, "");
	}
	if (!(flags & CONF_NO_ENV))
		apply_env(&L);
	for (size_t k = 0; k < nov; k++)
		apply_override(&L, &ov[k]);
	apply_profile(&L);
	derive_and_check(&L);
	jsonish_free(&doc);
	return diag->nerrors > 0 ? -1 : 0;
}

int
conf_load_text(struct conf *c, const char *name, const char *text, size_t len,
    int flags, struct conf_diag *diag)
{
	return conf_load_common(c, name ? name : "(text)", text, len, NULL, 0, flags, diag);
}

int
conf_load(struct conf *c, const char *path, const struct conf_override *ov,
    size_t nov, int flags, struct conf_diag *diag)
{
	char err[512];
	size_t len = 0;
	char *text = NULL;
	int r;

	if (path != NULL && (text = read_file(path, &len, err, sizeof(err))) == NULL) {
		struct cload L = { .c = c, .d = diag, .file = path, .flags = flags };
		memset(c, 0, sizeof(*c));
		memset(diag, 0, sizeof(*diag));
		c->given = xcalloc(NKEYS, 1);
		set_defaults(c);
		c->name = xstrdup("default");
		cl_error(&L, "%s", err);
		return -1;
	}
	r = conf_load_common(c, path, text, len, ov, nov, flags, diag);
	free(text);
	return r;
}

char *
conf_capture_filter(const struct conf *c)
{
	char buf[4096];
	const char *t = c->bpf_filter;
	size_t o = 0;

	if (t == NULL) {
		if (!c->filter_is_template)
			return xstrdup(c->voip_enabled ?
			    "tcp or udp or (ip[6:2] & 0x1fff != 0) or ip6[6] == 44" : "tcp");
		t = GO_TEMPLATE;
	}
	if (!has_placeholder(t) && c->bpf_filter != NULL)
		return xstrdup(t);
	while (*t && o + 1 < sizeof(buf)) {
		const char *val = NULL;
		char num[16];
		size_t skip = 0;
		if (strncmp(t, "{local_ip}", 10) == 0) {
			val = c->local_ip ? c->local_ip : "";
			skip = 10;
		} else if (strncmp(t, "{remote_ip}", 11) == 0) {
			val = c->remote_ip ? c->remote_ip : "";
			skip = 11;
		} else if (strncmp(t, "{remote_port}", 13) == 0) {
			snprintf(num, sizeof(num), "%lld", (long long)c->remote_port);
			val = num;
			skip = 13;
		} else if (strncmp(t, "{local_port}", 12) == 0) {
			snprintf(num, sizeof(num), "%lld", (long long)c->local_port);
			val = num;
			skip = 12;
		}
		if (val != NULL) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", val);
			if (o >= sizeof(buf))
				o = sizeof(buf) - 1;
			t += skip;
		} else
			buf[o++] = *t++;
	}
	buf[o] = '\0';
	if (c->local_port > 0 && strstr(c->bpf_filter ? c->bpf_filter : GO_TEMPLATE, "{local_port}") == NULL) {
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "(%s) and tcp port %lld", buf, (long long)c->local_port);
		sth_strlcpy(buf, tmp, sizeof(buf));
	}
	if (c->voip_enabled) {
		/* a generated filter: RTP runs between other addresses and
		 * ports than the template's, and fragments carry no ports */
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "(%s) or udp or (ip[6:2] & 0x1fff != 0) or ip6[6] == 44", buf);
		return xstrdup(tmp);
	}
	return xstrdup(buf);
}

static void
put_path(struct json_object *root, const char *path, struct json_object *v)
{
	char tmp[512];
	char *p = tmp, *dot;
	struct json_object *cur = root;

	sth_strlcpy(tmp, path, sizeof(tmp));
	while ((dot = strchr(p, '.')) != NULL) {
		struct json_object *next;
		*dot = '\0';
		if (!json_object_object_get_ex(cur, p, &next)) {
			next = json_object_new_object();
			json_object_object_add(cur, p, next);
		}
		cur = next;
		p = dot + 1;
	}
	json_object_object_add(cur, p, v);
}

void
conf_print_schema(FILE *out)
{
	static const char *const tnames[] = { "bool", "integer", "number", "string", "enum", "list",
	    "list of integers", "string or list" };

	for (size_t k = 0; k < NKEYS; k++) {
		const struct ckey *e = &conf_schema[k];
		struct json_object *o = json_object_new_object();
		char env[300];
		json_object_object_add(o, "key", json_object_new_string(e->path));
		json_object_object_add(o, "type", json_object_new_string(tnames[e->type]));
		switch (e->type) {
		case CT_BOOL: json_object_object_add(o, "default", json_object_new_boolean(e->def_n != 0)); break;
		case CT_INT: json_object_object_add(o, "default", json_object_new_int64((int64_t)e->def_n)); break;
		case CT_DOUBLE: json_object_object_add(o, "default", json_object_new_double(e->def_n)); break;
		default: json_object_object_add(o, "default", e->def_s ? json_object_new_string(e->def_s) : NULL);
		}
		if (e->type == CT_INT || e->type == CT_DOUBLE || e->type == CT_INTLIST) {
			if (e->min != 0 || e->max != 0) {
				json_object_object_add(o, "min", json_object_new_double(e->min));
				json_object_object_add(o, "max", json_object_new_double(e->max));
			}
		}
		json_object_object_add(o, "unit", e->unit ? json_object_new_string(e->unit) : NULL);
		json_object_object_add(o, "choices", e->choices ? json_object_new_string(e->choices) : NULL);
		conf_env_name(e->path, env, sizeof(env));
		json_object_object_add(o, "env", json_object_new_string(env));
		json_object_object_add(o, "reload", json_object_new_string(conf_reload_names[e->rl]));
		for (size_t a = 0; a < ARRAY_SIZE(conf_alias); a++) {
			size_t n = strlen(conf_alias[a].to);
			if (strncmp(e->path, conf_alias[a].to, n) == 0 && (e->path[n] == '\0' || e->path[n] == '.')) {
				char go[300];
				snprintf(go, sizeof(go), "%s%s", conf_alias[a].from, e->path + n);
				json_object_object_add(o, "go", json_object_new_string(go));
			}
		}
		fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
}

void
conf_print_effective(const struct conf *c, FILE *out)
{
	conf_print_effective_ex(c, out, CONF_PRINT_SOURCES);
}

/* Key k's effective value as JSON (NULL: none). */
static struct json_object *
key_json(const struct conf *c, size_t k)
{
	const char *base = (const char *)c;
	const struct ckey *e = &conf_schema[k];
	struct json_object *v = NULL;
	switch (e->type) {
	case CT_BOOL: v = json_object_new_boolean(*(const bool *)(base + e->off)); break;
	case CT_INT: {
		int64_t x = *(const int64_t *)(base + e->off);
		bool optional_port = e->def_n == 0 && e->min >= 1;
		v = (optional_port && x == 0) ? NULL : json_object_new_int64(x);
		break;
	}
	case CT_DOUBLE: v = json_object_new_double(*(const double *)(base + e->off)); break;
	case CT_STR:
	case CT_ENUM: {
		const char *s = *(char *const *)(base + e->off);
		v = s ? json_object_new_string(s) : NULL;
		break;
	}
	case CT_STRLIST:
	case CT_STR_OR_LIST: {
		const struct conf_strlist *l = (const void *)(base + e->off);
		v = json_object_new_array();
		for (size_t i = 0; i < l->n; i++)
			json_object_array_add(v, json_object_new_string(l->v[i]));
		break;
	}
	case CT_INTLIST: {
		const struct conf_intlist *l = (const void *)(base + e->off);
		v = json_object_new_array();
		for (size_t i = 0; i < l->n; i++)
			json_object_array_add(v, json_object_new_int64(l->v[i]));
		break;
	}
	}
	return v;
}

void
conf_strlist_set_json(struct conf_strlist *l, struct json_object *a)
{
	size_t n;

	if (a == NULL || !json_object_is_type(a, json_type_array))
		return;
	strlist_free(l);
	n = json_object_array_length(a);
	l->v = xcalloc(n ? n : 1, sizeof(*l->v));
	for (size_t i = 0; i < n; i++) {
		const char *v = json_object_get_string(json_object_array_get_idx(a, i));
		l->v[l->n++] = xstrdup(v ? v : "");
	}
}

const char *const conf_reload_names[] = { "restart", "live", "sink", "capd" };

enum conf_reload
conf_key_reload(const char *path)
{
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(conf_schema[k].path, path) == 0)
			return conf_schema[k].rl;
	return RL_RESTART;
}

size_t
conf_diff(const struct conf *a, const struct conf *b,
    void (*fn)(const char *key, const char *was, const char *now, void *arg), void *arg)
{
	size_t n = 0;

	for (size_t k = 0; k < NKEYS; k++) {
		struct json_object *x = key_json(a, k), *y = key_json(b, k);
		const char *xs = x ? json_object_to_json_string_ext(x, JSON_C_TO_STRING_PLAIN) : "null";
		const char *ys = y ? json_object_to_json_string_ext(y, JSON_C_TO_STRING_PLAIN) : "null";
		if (strcmp(xs, ys) != 0) {
			fn(conf_schema[k].path, xs, ys, arg);
			n++;
		}
		json_object_put(x);
		json_object_put(y);
	}
	return n;
}

void
conf_print_effective_ex(const struct conf *c, FILE *out, int flags)
{
	struct json_object *root = json_object_new_object();

	for (size_t k = 0; k < NKEYS; k++) {
		const struct ckey *e = &conf_schema[k];
		struct json_object *v = key_json(c, k);
		if ((flags & CONF_PRINT_GIVEN) && !(c->given && c->given[k])) {
			json_object_put(v);
			continue;
		}
		put_path(root, e->path, v);
	}
	if (flags & CONF_PRINT_SOURCES) {
		struct json_object *src = json_object_new_object();
		for (size_t k = 0; k < NKEYS && c->origin; k++) {
			char name[300], buf[400];
			switch (c->origin[k]) {
			case CONF_FROM_FILE:
				snprintf(buf, sizeof(buf), "file %s", c->path ? c->path : "");
				break;
			case CONF_FROM_ENV:
				conf_env_name(conf_schema[k].path, name, sizeof(name));
				snprintf(buf, sizeof(buf), "environment %s", name);
				break;
			case CONF_FROM_CMDLINE:
				snprintf(buf, sizeof(buf), "command line");
				break;
			case CONF_FROM_PROFILE:
				snprintf(buf, sizeof(buf), "profile %s", c->profile ? c->profile : "");
				break;
			default:
				continue;
			}
			json_object_object_add(src, conf_schema[k].path, json_object_new_string(buf));
		}
		json_object_object_add(root, "_sources", src);
	}
	if (flags & CONF_PRINT_GIVEN)
		goto out;
	/* The derived values, as the daemons will use them. */
	put_path(root, "runtime.overflow", json_object_new_string(c->overflow == OVERFLOW_BLOCK ? "block" : "drop"));
	put_path(root, "runtime.stats_interval_sec", json_object_new_double(c->stats_interval));
	{
		char *f = conf_capture_filter(c);
		put_path(root, "io.input.capture.bpf-filter", json_object_new_string(f));
		free(f);
	}
out:
	fprintf(out, "%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

void
conf_free(struct conf *c)
{
	char *base = (char *)c;

	for (size_t k = 0; k < NKEYS; k++) {
		const struct ckey *e = &conf_schema[k];
		switch (e->type) {
		case CT_STR:
		case CT_ENUM: free(*(char **)(base + e->off)); break;
		case CT_STRLIST:
		case CT_STR_OR_LIST: strlist_free((struct conf_strlist *)(base + e->off)); break;
		case CT_INTLIST: free(((struct conf_intlist *)(base + e->off))->v); break;
		default: break;
		}
	}
	free(c->path);
	free(c->name);
	free(c->given);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

void
conf_diag_free(struct conf_diag *d)
{
	for (size_t k = 0; k < d->nerrors; k++)
		free(d->errors[k]);
	for (size_t k = 0; k < d->nwarnings; k++)
		free(d->warnings[k]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}
