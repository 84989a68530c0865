/*
 * counters.h — every counter the daemons keep, as one typed table
 * (DESIGN.md section 4 as data): its name on the ctld link and in `stats`
 * replies, its Prometheus metric, unit, owner, scope, label and help.
 *
 * One encoder, one decoder.  A daemon fills a struct ctr_enc with its
 * values (ctr_set, ctr_set_label) and sends ctr_enc_line() to ctld once a
 * second and once more when it stops ("final").  ctld decodes each line
 * against the table (ctr_decode: unknown names, wrong owners and bad
 * values are refused and counted) into a struct ctr_vals per daemon, and
 * generates from the table and those values the stats line
 * (ctr_stats_line), the `stats` reply (ctr_vals_json) and /metrics
 * (ctr_metrics).  Adding a counter is a row here and a ctr_set where the
 * daemon keeps it; the rest follows.
 *
 * The link, one JSON line (common/ctlc.h carries it):
 *   {"cat":"stats","event":"daemon_counters","final":false,
 *    "counters":{"packets":12,"decode_error":{"bad_ip_header":3},...}}
 * a labelled counter is an object of label value -> count.
 */
#ifndef STH_COUNTERS_H
#define STH_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ctr_owner { OWN_CAPD, OWN_REASMD, OWN_SINKD, OWN_CTLD, OWN_ANY, OWN_MAX };
enum ctr_kind { KIND_COUNTER, KIND_GAUGE };

/*
 * X(id, owner, kind, key, metric, unit, label, family, scope, help)
 *   key     the name on the ctld link and in `stats` replies
 *   metric  the Prometheus name after "stethoscope_"
 *   label   NULL, or the label a counter's values are split by
 *   family  sinkd rows: NULL for every output family, else the one
 */
#define CTR_TABLE(X) \
	/* capd */ \
	X(CAPTURED, CAPD, COUNTER, "captured", "captured_packets_total", "packets", NULL, NULL, \
	    "capd", "Packets capd read from its capture sources.") \
	X(CAPTURED_BYTES, CAPD, COUNTER, "captured_bytes", "captured_bytes_total", "bytes", NULL, NULL, \
	    "capd", "Bytes of the packets capd read (as captured).") \
	X(HANDED, CAPD, COUNTER, "handed", "handed_packets_total", "packets", "shard", NULL, \
	    "per shard", "Packets capd put on a shard's ring.") \
	X(RING_FULL, CAPD, COUNTER, "ring_full", "ring_full_drops_packets_total", "packets", "shard", NULL, \
	    "per shard", "Packets dropped because a shard's ring was full or no reasmd was connected.") \
	X(RING_FULL_BYTES, CAPD, COUNTER, "ring_full_bytes", "ring_full_drops_bytes_total", "bytes", "shard", NULL, \
	    "per shard", "Bytes of the packets dropped as ring_full.") \
	X(SHARD_DISCONNECTS, CAPD, COUNTER, "shard_disconnects", "shard_disconnects_total", "disconnects", "shard", NULL, \
	    "per shard", "Times a shard's reasmd went away.") \
	X(PCAP_KERNEL, CAPD, COUNTER, "pcap_kernel", "pcap_kernel_drops_packets_total", "packets", "interface", NULL, \
	    "per interface", "Packets the kernel or the interface dropped before capd read them (ps_drop + ps_ifdrop).") \
	X(PEERS_DROPPED, CAPD, COUNTER, "peers_dropped", "capd_peers_dropped_total", "connections", NULL, NULL, \
	    "capd.sock", "Connections to capd.sock dropped before a valid hello (silent past the deadline, garbage, too many waiting).") \
	X(IF_RECEIVED, CAPD, COUNTER, "received", "kernel_received_packets_total", "packets", "interface", NULL, \
	    "per interface", "Packets the kernel says it received for capd (ps_recv).") \
	X(CAPTURE_UNREAD, CAPD, COUNTER, "capture_unread", "capture_unread_drops_packets_total", "packets", "interface", NULL, \
	    "per interface", "Packets the kernel captured for capd that were still unread when it stopped, after reading on for 250 ms (Linux).") \
	/* reasmd */ \
	X(R_PACKETS, REASMD, COUNTER, "packets", "reasm_packets_total", "packets", NULL, NULL, \
	    "per shard", "Frames reasmd read.") \
	X(R_TCP_PACKETS, REASMD, COUNTER, "tcp_packets", "reasm_tcp_packets_total", "packets", NULL, NULL, \
	    "per shard", "TCP segments reasmd read (after fragment reassembly).") \
	X(R_UDP_PACKETS, REASMD, COUNTER, "udp_packets", "reasm_udp_datagrams_total", "datagrams", NULL, NULL, \
	    "per shard", "UDP datagrams reasmd read (after fragment reassembly).") \
	X(R_UDP_BYTES, REASMD, COUNTER, "udp_bytes", "reasm_udp_payload_bytes_total", "bytes", NULL, NULL, \
	    "per shard", "Payload bytes of those UDP datagrams.") \
	X(R_NOT_TCP, REASMD, COUNTER, "not_tcp", "reasm_not_tcp_packets_total", "packets", NULL, NULL, \
	    "per shard", "Frames that carry no TCP (passed on as packets only).") \
	X(R_DECODE_ERROR, REASMD, COUNTER, "decode_error", "decode_error_packets_total", "packets", "reason", NULL, \
	    "per shard", "Frames reasmd could not decode, by reason.") \
	X(R_FRAGMENTS, REASMD, COUNTER, "fragments", "ip_fragments_total", "packets", NULL, NULL, \
	    "per shard", "IP fragments read.") \
	X(R_FRAG_DATAGRAMS, REASMD, COUNTER, "frag_datagrams", "ip_reassembled_datagrams_total", "datagrams", NULL, NULL, \
	    "per shard", "Datagrams rebuilt from fragments.") \
	X(R_FRAG_OVERLAPS, REASMD, COUNTER, "frag_overlaps", "ip_fragment_overlaps_total", "packets", NULL, NULL, \
	    "per shard", "Fragments overlapping earlier ones (the first copy wins).") \
	X(R_FRAG_TIMEOUTS, REASMD, COUNTER, "frag_timeouts", "ip_fragment_timeouts_total", "datagrams", NULL, NULL, \
	    "per shard", "Incomplete datagrams dropped after reasm.frag_timeout_sec.") \
	X(R_FRAG_LIMIT, REASMD, COUNTER, "frag_limit", "frag_limit_drops_packets_total", "packets", NULL, NULL, \
	    "per shard", "Fragments dropped at reasm.frag_memcap.") \
	X(R_SESSIONS, REASMD, COUNTER, "sessions", "tcp_sessions_total", "sessions", NULL, NULL, \
	    "per shard", "TCP sessions opened.") \
	X(R_SESSIONS_OPEN, REASMD, GAUGE, "sessions_open", "tcp_sessions_open", "sessions", NULL, NULL, \
	    "per shard", "TCP sessions open now.") \
	X(R_CLOSED, REASMD, COUNTER, "closed", "tcp_sessions_closed_total", "sessions", "reason", NULL, \
	    "per shard", "TCP sessions closed, by reason.") \
	X(R_DELIVERED, REASMD, COUNTER, "bytes_delivered", "stream_delivered_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Stream bytes delivered in order.") \
	X(R_GAP_BYTES, REASMD, COUNTER, "gap_bytes", "stream_gap_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Stream bytes lost for good (gaps).") \
	X(R_GAPS, REASMD, COUNTER, "gaps", "stream_gaps_total", "gaps", NULL, NULL, \
	    "per session direction", "Gaps reported (tcp_gap events).") \
	X(R_RETRANS, REASMD, COUNTER, "retrans_bytes", "stream_retransmitted_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Copies of stream bytes already delivered or held.") \
	X(R_LATE, REASMD, COUNTER, "late_bytes", "stream_late_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Stream bytes captured after an ACK covered them (delivered).") \
	X(R_LATE_AFTER_GAP, REASMD, COUNTER, "late_after_gap_bytes", "stream_late_after_gap_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Stream bytes that came after their hole had become a gap (not delivered).") \
	X(R_TABLE_FULL, REASMD, COUNTER, "table_full", "table_full_drops_packets_total", "packets", NULL, NULL, \
	    "per shard", "Segments of new sessions dropped at reasm.max_sessions.") \
	X(R_OOO_LIMIT, REASMD, COUNTER, "ooo_limit", "ooo_limit_drops_bytes_total", "bytes", NULL, NULL, \
	    "per shard", "Buffered bytes dropped at reasm.ooo_bytes_per_dir or reasm.memcap.") \
	X(R_OOO_BUFFERED, REASMD, GAUGE, "ooo_buffered", "ooo_buffered_bytes", "bytes", NULL, NULL, \
	    "per shard", "Out-of-order bytes held now (bounded by reasm.memcap).") \
	X(R_CHAIN_MAX, REASMD, GAUGE, "hash_chain_max", "tcp_hash_chain_max_sessions", "sessions", NULL, NULL, \
	    "per shard", "The longest chain of the session table a lookup walked (the keyed hash keeps it short under crafted flows).") \
	X(R_LATE_FRAMES, REASMD, COUNTER, "late_frames", "late_frames_packets_total", "packets", NULL, NULL, \
	    "per shard", "Frames of sessions already closed (final ACKs, stray segments).") \
	X(R_CLOSED_BY_CONTROL, REASMD, COUNTER, "closed_by_control", "closed_by_control_packets_total", "packets", NULL, NULL, \
	    "per shard", "Packets of flows closed by control (close_session), counted and not reopened until a new SYN, their FIN or RST, or session_idle_sec.") \
	X(R_HALF_OPEN_EVICTED, REASMD, COUNTER, "half_open_evicted", "half_open_evicted_sessions_total", "sessions", NULL, NULL, \
	    "per shard", "Half-open sessions (only SYNs seen) closed as table_full, oldest first, to make room when reasm.max_sessions was reached: a SYN flood cannot crowd out sessions that carry data.") \
	X(R_FILES_RETENTION, REASMD, COUNTER, "files_retention_removed", "files_retention_removed_files_total", "files", NULL, NULL, \
	    "per shard", "-o stream files removed, oldest first, to keep io.output.files.max_total_bytes and max_files (a shard's share).") \
	X(R_STREAM_WRITE_ERROR, REASMD, COUNTER, "stream_write_error", "stream_write_error_bytes_total", "bytes", NULL, NULL, \
	    "per shard", "Record bytes the -w stream could not take once a write failed (its reader went away, a full disk); the other outputs go on.") \
	X(R_WRITE_ERROR, REASMD, COUNTER, "write_error", "files_write_error_bytes_total", "bytes", NULL, NULL, \
	    "per shard", "Stream bytes the -o files could not take.") \
	X(R_JSONL_ERROR, REASMD, COUNTER, "jsonl_write_error", "files_jsonl_write_error_lines_total", "lines", NULL, NULL, \
	    "per shard", "sessions.jsonl lines -o could not write whole.") \
	X(R_PEERS_DROPPED, REASMD, COUNTER, "peers_dropped", "reasm_peers_dropped_total", "connections", NULL, NULL, \
	    "reasmd.N.sock", "Connections to reasmd.N.sock dropped before a valid hello (silent past the deadline, garbage, too many waiting).") \
	X(R_SINK_RECORDS, REASMD, COUNTER, "sink_records", "sink_records_total", "records", "sink", NULL, \
	    "per sink", "Records reasmd gave a sink.") \
	X(R_SINK_FULL, REASMD, COUNTER, "sink_ring_full_records", "sink_ring_full_drops_records_total", "records", "sink", NULL, \
	    "per sink", "Records a sink lost: its ring was full or it was not connected.") \
	X(R_SINK_FULL_BYTES, REASMD, COUNTER, "sink_ring_full_record_bytes", "sink_ring_full_drops_bytes_total", "bytes", "sink", NULL, \
	    "per sink", "Bytes of the records counted as sink_ring_full (headers included).") \
	X(R_SINK_LOST, REASMD, COUNTER, "sink_lost_in_ring_bytes", "sink_lost_in_ring_bytes_total", "bytes", "sink", NULL, \
	    "per sink", "Record bytes a sink had not read when it died (lost with it; a session still open is its missed start when it comes back).") \
	X(R_HTTP_REQUESTS, REASMD, COUNTER, "http_requests", "http_requests_total", "messages", NULL, NULL, \
	    "per shard", "HTTP/1.x requests the http analyser reported.") \
	X(R_HTTP_RESPONSES, REASMD, COUNTER, "http_responses", "http_responses_total", "messages", NULL, NULL, \
	    "per shard", "HTTP/1.x responses the http analyser reported.") \
	X(R_HTTP_RESYNC, REASMD, COUNTER, "http_resyncs", "http_resyncs_total", "resyncs", NULL, NULL, \
	    "per shard", "Times the http analyser lost a message (a gap, bad syntax, a header over 16 KiB) and looked for the next.") \
	X(R_VOIP_SIP_MESSAGES, REASMD, COUNTER, "voip_sip_messages", "voip_sip_messages_total", "messages", NULL, NULL, \
	    "per shard", "SIP messages the voip analyser read (UDP and TCP, retransmissions included).") \
	X(R_VOIP_SIP_BAD, REASMD, COUNTER, "voip_sip_bad", "voip_sip_bad_total", "messages", NULL, NULL, \
	    "per shard", "Datagrams on a SIP port, or TCP SIP stream text, that were not a SIP message (skipped; TCP looks for the next start line).") \
	X(R_VOIP_SIP_TOO_BIG, REASMD, COUNTER, "voip_sip_too_big", "voip_sip_too_big_total", "messages", NULL, NULL, \
	    "per shard", "SIP messages over voip.max_message_bytes, skipped.") \
	X(R_VOIP_CALLS_OPEN, REASMD, GAUGE, "voip_calls_open", "voip_dialogs_open", "dialogs", NULL, NULL, \
	    "per shard", "SIP dialogs followed now (calls, registrations and others).") \
	X(R_VOIP_CALLS, REASMD, COUNTER, "voip_calls", "voip_calls_total", "calls", "state", NULL, \
	    "per shard", "Calls written out, by their state.") \
	X(R_VOIP_CALLS_FULL, REASMD, COUNTER, "voip_calls_full", "voip_calls_full_total", "dialogs", NULL, NULL, \
	    "per shard", "Dialogs not followed: voip.max_calls were.") \
	X(R_VOIP_STREAMS_FULL, REASMD, COUNTER, "voip_streams_full", "voip_streams_full_total", "streams", NULL, NULL, \
	    "per shard", "RTP/RTCP streams not followed: voip.max_streams were.") \
	X(R_VOIP_ENDPOINTS_FULL, REASMD, COUNTER, "voip_endpoints_full", "voip_endpoints_full_total", "endpoints", NULL, NULL, \
	    "per shard", "Media endpoints from SDP not kept: voip.max_endpoints were.") \
	X(R_VOIP_RTP_PACKETS, REASMD, COUNTER, "voip_rtp_packets", "voip_rtp_packets_total", "packets", NULL, NULL, \
	    "per shard", "RTP packets of the calls' streams.") \
	X(R_VOIP_RTP_LOST, REASMD, COUNTER, "voip_rtp_lost", "voip_rtp_lost_packets_total", "packets", NULL, NULL, \
	    "per shard", "RTP packets lost (RFC 3550 A.3) in the streams written out.") \
	X(R_VOIP_JITTER, REASMD, COUNTER, "voip_streams_by_jitter", "voip_rtp_streams_max_jitter_total", "streams", "le_ms", NULL, \
	    "per shard", "RTP streams written out whose maximum jitter was at most le_ms milliseconds (1, 5, 10, 20, 50, 100, 200, +Inf): cumulative, as a histogram's buckets.") \
	X(R_VOIP_HOLD_FRAMES, REASMD, COUNTER, "voip_hold_frames", "voip_hold_frames_total", "packets", NULL, NULL, \
	    "per shard", "Frames of SIP-over-TCP sessions held until the messages they carry were complete (to go out tagged with their calls).") \
	X(R_VOIP_HOLD_FULL, REASMD, COUNTER, "voip_hold_full", "voip_hold_full_frames_total", "packets", NULL, NULL, \
	    "per shard", "Held frames sent on before their messages were complete, without their calls: voip.hold_bytes was full (not lost; a per-call pcap misses them).") \
	X(R_VOIP_HOLD_TIMEOUT, REASMD, COUNTER, "voip_hold_timeout", "voip_hold_timeout_frames_total", "packets", NULL, NULL, \
	    "per shard", "Held frames sent on without their calls after 5 s of capture time (a message that did not complete).") \
	X(R_VOIP_HOLD_BYTES, REASMD, GAUGE, "voip_hold_bytes", "voip_hold_bytes", "bytes", NULL, NULL, \
	    "per shard", "Bytes of frames held now (at most voip.hold_bytes).") \
	/* sinkd */ \
	X(S_SESSIONS, SINKD, COUNTER, "sessions", "sink_sessions_total", "sessions", NULL, NULL, \
	    "per sinkd", "Sessions a sinkd took.") \
	X(S_RECEIVED, SINKD, COUNTER, "received", "sink_received_bytes_total", "bytes", NULL, NULL, \
	    "per sinkd", "Stream bytes a sinkd received.") \
	X(S_DELIVERED, SINKD, COUNTER, "delivered", "sink_delivered_bytes_total", "bytes", NULL, NULL, \
	    "per session, direction, target", "Stream bytes a sinkd delivered to its consumers.") \
	X(S_DROPPED, SINKD, COUNTER, "dropped", "sink_dropped_bytes_total", "bytes", "reason", NULL, \
	    "per session, direction, target", "Stream bytes a sinkd dropped, by reason.") \
	X(S_GAP, SINKD, COUNTER, "gap_bytes", "sink_gap_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Stream bytes of the gaps a sinkd was told of.") \
	X(S_RING_FULL, SINKD, COUNTER, "sink_ring_full_bytes", "sink_ring_full_stream_bytes_total", "bytes", NULL, NULL, \
	    "per session", "Stream bytes reasmd could not give this sinkd (sink_ring_full).") \
	X(S_UNBALANCED, SINKD, COUNTER, "unbalanced", "sink_unbalanced_sessions_total", "sessions", NULL, NULL, \
	    "per sinkd", "Sessions whose books did not balance (a bug if ever non-zero).") \
	X(S_ORPHANS, SINKD, COUNTER, "orphan_records", "sink_orphan_records_total", "records", NULL, NULL, \
	    "per sinkd", "Records for sessions a sinkd does not know (it joined late).") \
	X(S_JOINED, SINKD, COUNTER, "sessions_joined", "sink_sessions_joined_total", "sessions", NULL, NULL, \
	    "per sinkd", "Sessions already open when this sinkd (re)started: it was told of them (session_joined).") \
	X(S_MISSED, SINKD, COUNTER, "missed_start_bytes", "sink_missed_start_bytes_total", "bytes", NULL, NULL, \
	    "per session direction", "Stream bytes delivered before this sinkd joined a session (its missed start, a gap to its consumers).") \
	X(S_TABLE_FULL, SINKD, COUNTER, "table_full", "sink_table_full_sessions_total", "sessions", NULL, NULL, \
	    "per sinkd", "Sessions a sinkd could not take (its table was full).") \
	X(S_MEMCAP, SINKD, COUNTER, "startup_memcap_bytes", "sink_startup_memcap_bytes_total", "bytes", NULL, NULL, \
	    "per sinkd", "Startup-buffer bytes cut to stay under sink.memcap (part of startup_buffer_full).") \
	X(S_PCAP_FRAMES, SINKD, COUNTER, "pcap_frames", "pcap_frames_total", "packets", NULL, "pcap", \
	    "per file", "Frames the pcap sink took.") \
	X(S_PCAP_WRITTEN, SINKD, COUNTER, "pcap_written", "pcap_written_frames_total", "packets", NULL, "pcap", \
	    "per file", "Frames written to pcap files.") \
	X(S_PCAP_QUEUE_FULL, SINKD, COUNTER, "pcap_queue_full", "pcap_queue_full_drops_packets_total", "packets", NULL, "pcap", \
	    "per session / file", "Frames dropped because the pcap writer's queue was full.") \
	X(S_PCAP_WRITE_ERROR, SINKD, COUNTER, "pcap_write_error", "pcap_write_error_drops_packets_total", "packets", NULL, "pcap", \
	    "per session / file", "Frames that could not be written (full disk, unwritable directory).") \
	X(S_PCAP_INTERRUPTED, SINKD, COUNTER, "pcap_files_interrupted", "pcap_files_interrupted_total", "files", NULL, "pcap", \
	    "per file", "Files a sinkd that died left open, renamed __interrupted when the next one started (their frames up to the death are in them).") \
	X(S_PCAP_FD_LIMIT, SINKD, COUNTER, "pcap_fd_limit", "pcap_fd_limit_total", "times", NULL, "pcap", \
	    "per sinkd", "Opens that met the descriptor limit (EMFILE): a file was closed to open another, and fewer are kept open.") \
	X(S_PCAP_SHUTDOWN, SINKD, COUNTER, "pcap_shutdown_timeout", "pcap_shutdown_timeout_drops_packets_total", "packets", NULL, "pcap", \
	    "per file", "Frames still queued when the drain deadline passed.") \
	X(S_PCAP_OUT_OF_ORDER, SINKD, COUNTER, "pcap_out_of_order", "pcap_out_of_order_frames_total", "packets", NULL, "pcap", \
	    "rolling file", "Frames older than frames already in the rolling file (written at once).") \
	X(S_PCAP_NO_SESSION, SINKD, COUNTER, "pcap_not_in_session", "pcap_not_in_session_frames_total", "packets", NULL, "pcap", \
	    "per-session files", "Frames of no session (per-session files hold sessions' frames only).") \
	X(S_PCAP_FILES, SINKD, COUNTER, "pcap_files", "pcap_files_total", "files", NULL, "pcap", \
	    "per sinkd", "pcap files made.") \
	X(S_PCAP_RETENTION_FILES, SINKD, COUNTER, "pcap_retention_removed", "pcap_retention_removed_files_total", "files", NULL, "pcap", \
	    "per sinkd", "Finished pcap files removed, oldest first, to keep io.output.pcap.max_total_bytes and max_files.") \
	X(S_PCAP_RETENTION_BYTES, SINKD, COUNTER, "pcap_retention_removed_bytes", "pcap_retention_removed_bytes_total", "bytes", NULL, "pcap", \
	    "per sinkd", "The bytes of those files.") \
	X(S_PCAP_CALLS, SINKD, COUNTER, "pcap_calls", "pcap_calls_total", "calls", NULL, "pcap", \
	    "per sinkd", "Calls given a per-call file (voip.per_call_pcap).") \
	X(S_PCAP_CALL_FRAMES, SINKD, COUNTER, "pcap_call_frames", "pcap_call_frames_total", "packets", NULL, "pcap", \
	    "per call", "Frames queued for per-call files (a frame of two calls counts twice).") \
	X(S_PCAP_CALLS_FULL, SINKD, COUNTER, "pcap_calls_full", "pcap_calls_full_total", "calls", NULL, "pcap", \
	    "per sinkd", "Calls given no file: voip.max_calls calls had files open.") \
	X(S_PCAP_NO_CALL, SINKD, COUNTER, "pcap_not_in_call", "pcap_not_in_call_frames_total", "packets", NULL, "pcap", \
	    "per-call files", "Frames naming a call the sink does not know (it joined late, or the call had no file).") \
	X(S_HEP_MESSAGES, SINKD, COUNTER, "hep_messages", "hep_messages_total", "messages", NULL, "hep", \
	    "per sinkd", "SIP messages and RTCP reports the hep sink took.") \
	X(S_HEP_SENT, SINKD, COUNTER, "hep_sent", "hep_sent_total", "messages", NULL, "hep", \
	    "per sinkd", "HEP packets sent (UDP) or queued on the collector's TCP connection.") \
	X(S_HEP_TOO_LARGE, SINKD, COUNTER, "hep_too_large", "hep_too_large_total", "messages", NULL, "hep", \
	    "per sinkd", "Messages not sent: over io.output.hep.udp_max_bytes without large_over_tcp, or over the 65535 bytes a HEP packet holds.") \
	X(S_HEP_SEND_ERROR, SINKD, COUNTER, "hep_send_error", "hep_send_error_total", "messages", NULL, "hep", \
	    "per sinkd", "Sends that failed: a UDP send error, or a TCP connection that broke with packets in flight (counted once per break).") \
	X(S_HEP_BUFFER_FULL, SINKD, COUNTER, "hep_buffer_full", "hep_buffer_full_total", "messages", NULL, "hep", \
	    "per sinkd", "Messages dropped because runtime.max_output_buffer_bytes waited for the TCP collector.") \
	X(S_NATS_PRODUCED, SINKD, COUNTER, "nats_produced", "nats_produced_messages_total", "messages", "kind", "nats", \
	    "per sinkd", "Messages the nats sink made, by kind (event, session, call, chunk, packet, loss): acked + dropped + pending.") \
	X(S_NATS_PUBLISHED, SINKD, COUNTER, "nats_published", "nats_published_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Messages handed to the broker (first attempts).") \
	X(S_NATS_ACKED, SINKD, COUNTER, "nats_acked", "nats_acked_messages_total", "messages", "kind", "nats", \
	    "per sinkd", "Messages the JetStream stream acknowledged, by kind (a resend the server had already is acked as a duplicate, once).") \
	X(S_NATS_QUEUE_FULL, SINKD, COUNTER, "nats_queue_full", "nats_queue_full_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Messages dropped: io.output.nats.queue_bytes or queue_msgs was full while the broker was away or slow.") \
	X(S_NATS_NACK, SINKD, COUNTER, "nats_nack", "nats_nack_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Messages the server refused io.output.nats.retries + 1 times.") \
	X(S_NATS_TIMEOUT, SINKD, COUNTER, "nats_timeout", "nats_timeout_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Messages with no ack within io.output.nats.ack_timeout_ms, io.output.nats.retries + 1 times.") \
	X(S_NATS_TOO_LARGE, SINKD, COUNTER, "nats_too_large", "nats_too_large_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Records over the server's max_payload (chunks are split below it).") \
	X(S_NATS_SHUTDOWN, SINKD, COUNTER, "nats_shutdown", "nats_shutdown_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Messages still pending when the drain deadline passed.") \
	X(S_NATS_RESENT, SINKD, COUNTER, "nats_resent", "nats_resent_messages_total", "messages", NULL, "nats", \
	    "per sinkd", "Resends after a negative or missing ack.") \
	X(S_NATS_RECONNECTS, SINKD, COUNTER, "nats_reconnects", "nats_reconnects_total", "connections", NULL, "nats", \
	    "per sinkd", "Reconnections to the broker.") \
	X(S_NATS_PENDING, SINKD, GAUGE, "nats_pending", "nats_pending_messages", "messages", NULL, "nats", \
	    "per sinkd", "Messages queued, waiting to be resent or awaiting their ack.") \
	X(S_NATS_CONNECTED, SINKD, GAUGE, "nats_connected", "nats_connected", "boolean", NULL, "nats", \
	    "per sinkd", "1 while connected to a broker.") \
	X(S_NATS_STREAM_OK, SINKD, GAUGE, "nats_stream_ok", "nats_stream_ok", "boolean", NULL, "nats", \
	    "per sinkd", "1 once the JetStream stream is found or made.") \
	X(S_CONSUMERS, SINKD, COUNTER, "consumers", "listener_consumers_total", "connections", NULL, "listener", \
	    "per sinkd", "Consumers that connected to listener ports.") \
	X(S_CUTOFFS, SINKD, COUNTER, "cutoffs", "listener_cutoffs_total", "connections", NULL, "listener", \
	    "per sinkd", "Consumers cut off for not reading.") \
	X(S_NO_PORTS_SESSIONS, SINKD, COUNTER, "no_ports_sessions", "listener_no_ports_sessions_total", "sessions", NULL, "listener", \
	    "per sinkd", "Sessions that found no free port pair in the range.") \
	X(S_CONNECTS, SINKD, COUNTER, "connects", "connector_connects_total", "connections", NULL, "connector", \
	    "per sinkd", "Connections the connector made to its target.") \
	X(S_RECONNECTS, SINKD, COUNTER, "reconnects", "connector_reconnects_total", "connections", NULL, "connector", \
	    "per sinkd", "Reconnections after a target went away.") \
	X(S_FAILURES, SINKD, COUNTER, "connect_failures", "connector_connect_failures_total", "attempts", NULL, "connector", \
	    "per sinkd", "Connection attempts that failed.") \
	X(S_JSON_WRITTEN, SINKD, COUNTER, "json_written", "json_events_written_total", "events", NULL, "json", \
	    "per sinkd", "Events the json sink wrote.") \
	X(S_JSON_FILTERED, SINKD, COUNTER, "json_filtered", "json_events_filtered_total", "events", NULL, "json", \
	    "per sinkd", "Events left out by io.output.json.cats.") \
	X(S_JSON_ERRORS, SINKD, COUNTER, "json_write_error", "json_write_error_events_total", "events", NULL, "json", \
	    "per sinkd", "Events that could not be written, or were not JSON.") \
	/* every daemon */ \
	X(CTL_DROPPED, ANY, COUNTER, "ctl_events_dropped", "ctl_events_dropped_total", "events", NULL, NULL, \
	    "per daemon", "Events and counter lines a daemon could not send to ctld (its buffer was full or ctld was away).") \
	/* ctld */ \
	X(C_SESSIONS_OPEN, CTLD, GAUGE, "sessions_open", "sessions_open", "sessions", NULL, NULL, \
	    "ctld", "Sessions open, as ctld lists them.") \
	X(C_CLIENTS, CTLD, GAUGE, "control_clients", "control_clients", "clients", NULL, NULL, \
	    "ctld", "Control clients connected.") \
	X(C_EVENTS, CTLD, COUNTER, "events", "events_total", "events", NULL, NULL, \
	    "ctld", "Events ctld received from the daemons.") \
	X(C_COMMANDS, CTLD, COUNTER, "commands", "commands_total", "commands", NULL, NULL, \
	    "ctld", "Commands from control clients.") \
	X(C_SLOW_CUT, CTLD, COUNTER, "slow_clients_cut", "slow_clients_cut_total", "clients", NULL, NULL, \
	    "ctld", "Control clients cut off for not reading.") \
	X(C_REFUSED, CTLD, COUNTER, "clients_refused", "control_clients_refused_total", "clients", NULL, NULL, \
	    "ctld", "Control clients refused: control.max_clients were connected.") \
	X(C_ACCEPT_ERR, CTLD, COUNTER, "accept_errors", "control_accept_errors_total", "errors", NULL, NULL, \
	    "ctld", "Failed accepts (out of descriptors): ctld stops accepting for 100 ms each time.") \
	X(C_SHARD_LOST, CTLD, COUNTER, "shard_lost", "shard_lost_total", "restarts", NULL, NULL, \
	    "per shard restart", "Times a reasmd shard died; its open sessions were lost.") \
	X(C_SESSIONS_LOST, CTLD, COUNTER, "sessions_lost", "ctl_sessions_lost_total", "sessions", NULL, NULL, \
	    "per shard restart", "Sessions ctld stopped listing because their shard died.") \
	X(C_TABLE_FULL, CTLD, COUNTER, "sessions_table_full", "ctl_sessions_table_full_total", "sessions", NULL, NULL, \
	    "ctld", "Sessions ctld did not list: control.max_sessions were listed already.") \
	X(C_CALLS_OPEN, CTLD, GAUGE, "calls_open", "ctl_calls_open", "calls", NULL, NULL, \
	    "ctld", "VoIP calls ctld lists as going on (list_calls).") \
	X(C_CALLS_FULL, CTLD, COUNTER, "calls_table_full", "ctl_calls_table_full_total", "calls", NULL, NULL, \
	    "ctld", "Calls ctld did not list: control.max_calls were listed, none of them ended.") \
	X(C_EVENTS_MISSED, CTLD, COUNTER, "events_missed", "ctl_events_missed_total", "events", NULL, NULL, \
	    "ctld", "Events a subscriber that came back (the json sink after a restart) asked for and ctld no longer kept (control.resume_bytes).") \
	X(C_RESUME_KEPT, CTLD, GAUGE, "events_kept", "ctl_events_kept", "events", NULL, NULL, \
	    "ctld", "Events kept for a subscriber's return (control.resume_bytes).") \
	X(C_BAD_LINES, CTLD, COUNTER, "bad_daemon_lines", "bad_daemon_lines_total", "lines", NULL, NULL, \
	    "ctld", "Lines from daemons ctld refused (not JSON, unknown counters, wrong link version).")

#define CTR_ENUM(id, o, k, key, m, u, l, f, s, h) CTR_##id,
enum ctr_id { CTR_TABLE(CTR_ENUM) CTR_MAX };
#undef CTR_ENUM

struct ctr_def {
	const char *key, *metric, *unit, *label, *family, *scope, *help;
	uint8_t owner, kind;
};
extern const struct ctr_def ctr_defs[CTR_MAX];

extern const char *const ctr_owner_names[OWN_MAX];
/* The owner of a daemon's hello name ("sinkd listener" is OWN_SINKD);
 * -1 if unknown. */
int ctr_owner_of(const char *daemon);
/* Does row id belong to a daemon of owner (and sinkd family, or NULL)? */
bool ctr_applies(enum ctr_id id, int owner, const char *family);

/* ---- the encoder (a daemon) ---- */
#define CTR_LABELS_MAX 64	/* label values per counter on the link */
struct ctr_enc;
struct ctr_enc *ctr_enc_new(enum ctr_owner owner);
void ctr_set(struct ctr_enc *e, enum ctr_id id, uint64_t v);
void ctr_set_label(struct ctr_enc *e, enum ctr_id id, const char *label, uint64_t v);
/* A labelled counter with no values yet (it is there, empty). */
void ctr_declare(struct ctr_enc *e, enum ctr_id id);
/* The line (no newline), valid until the next call or ctr_enc_free. */
const char *ctr_enc_line(struct ctr_enc *e, bool final);
void ctr_enc_free(struct ctr_enc *e);

/* ---- the decoder and the views (ctld) ---- */
struct ctr_lv {
	char label[48];
	uint64_t v;
};
struct ctr_vals {
	int owner;
	bool final;			/* the daemon's last word */
	bool have[CTR_MAX];
	uint64_t v[CTR_MAX];		/* unlabelled: the value; labelled: the sum */
	struct ctr_lv *lv[CTR_MAX];	/* labelled: up to CTR_LABELS_MAX values */
	uint8_t nlv[CTR_MAX];
};
struct json_object;
/* Decodes a daemon_counters event of a daemon of `owner` into *out
 * (replacing what it held).  Returns the number of entries refused (not
 * in the table, not this owner's, not a count), with the first reason in
 * err; 0 when all were taken. */
int ctr_decode(struct json_object *ev, int owner, struct ctr_vals *out, char *err, size_t errlen);
void ctr_vals_clear(struct ctr_vals *v);
/* {key: value, key: {label: value}} of what *v holds, in table order. */
struct json_object *ctr_vals_json(const struct ctr_vals *v);

/* The Prometheus text for one row: HELP and TYPE once, then a sample per
 * instance (labels: daemon, then shard or family, then the row's own). */
struct evbuffer;
struct ctr_inst {
	const char *daemon;		/* capd, reasmd, sinkd, ctld */
	const char *inst_label;		/* "shard", "family" or NULL */
	const char *inst_value;
	const struct ctr_vals *vals;
};
void ctr_metrics(struct evbuffer *b, const struct ctr_inst *inst, size_t n);

/* The stats line's text after "stats: ": today's wording (scripts read
 * it), new counters after; sum(id) adds a counter over every daemon. */
void ctr_stats_line(char *buf, size_t size, uint64_t (*sum)(enum ctr_id, void *), void *arg);

#endif
