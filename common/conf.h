/*
 * conf.h — stethoscope's configuration: the schema of DESIGN.md section 5
 * read from one json-ish file into a plain C struct.
 *
 * One table (conf.c) holds every key: its path, type, default and range.
 * From it come the defaults, the type checks, the effective-config dump
 * and the "unknown key" warnings (with the nearest known key).  Errors read
 * "FILE:LINE:COL: key.path: expected WHAT, found WHAT"; all errors found
 * are reported, not just the first.  The Go version's spellings are
 * accepted: io.output.listner (for io.output.listener), iface, verbosity,
 * retry-every, pcap.path (legacy for dir), scapy_bufsize.
 */
#ifndef STH_CONF_H
#define STH_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct conf_strlist {
	char **v;
	size_t n;
};

struct conf_intlist {
	int64_t *v;
	size_t n;
};

enum conf_role { ROLE_CLIENT = 0, ROLE_SERVER };

/* What a reload (SIGHUP to stethoscope-run, ctld's `reload`) does with a
 * changed key: the schema table's column. */
enum conf_reload {
	RL_RESTART = 0,	/* needs a restart of the run: the reload applies nothing */
	RL_LIVE,	/* applied by the running daemons */
	RL_SINK,	/* starts, stops or restarts that output's sinkd */
	RL_CAPD,	/* restarts capd alone (live capture; a file: RL_RESTART) */
};
extern const char *const conf_reload_names[];
enum conf_overflow { OVERFLOW_DROP = 0, OVERFLOW_BLOCK };

struct conf {
	/* io.input.capture */
	char *iface, *local_ip, *remote_ip, *bpf_filter, *linktype, *file;
	int64_t remote_port, local_port;	/* 0 = not given */
	double session_idle_sec;
	int64_t buffer_bytes, c2s_buffer_bytes, s2c_buffer_bytes;
	int64_t scapy_bufsize, snaplen;
	bool promisc;
	bool immediate;			/* io.input.capture.immediate */
	int64_t capture_timeout_ms;	/* io.input.capture.timeout_ms */
	/* io.output.remote-host (the connector) */
	bool conn_enabled;
	char *conn_host;
	int64_t conn_requests_port, conn_responses_port;
	double conn_connect_sec, conn_retry_every_sec;
	/* io.output.listener (the Go version spelled it listner) */
	bool lst_enabled;
	char *lst_bind_ip;
	int64_t lst_range_start, lst_range_end, lst_first_requests_port,
	    lst_first_responses_port;
	double lst_ack_stall_sec;	/* 0 = off */
	/* io.output.pcap */
	bool pcap_enabled, pcap_per_session, pcap_sync, pcap_close_on_fin;
	char *pcap_dir, *pcap_format, *pcap_name;
	int64_t pcap_queue_size, pcap_queue_bytes, pcap_rotate_bytes, pcap_max_total_bytes, pcap_max_files;
	double pcap_idle_close_sec, pcap_fin_close_grace_sec;
	/* io.output.json */
	bool json_enabled;
	char *json_path;
	struct conf_strlist json_cats;
	/* io.output.files */
	bool files_enabled, files_streams;
	int64_t files_max_total_bytes, files_max_files;
	char *files_dir;
	/* io.output.hep */
	bool hep_enabled, hep_large_over_tcp;
	char *hep_host, *hep_transport, *hep_password;
	int64_t hep_port, hep_node_id, hep_udp_max_bytes;
	/* io.output.nats */
	bool nats_enabled;
	char *nats_url, *nats_prefix, *nats_stream, *nats_sensor, *nats_user, *nats_password;
	char *nats_run_id, *nats_token, *nats_creds, *nats_tls_ca, *nats_tls_cert, *nats_tls_key;
	struct conf_strlist nats_publish;
	int64_t nats_queue_bytes, nats_queue_msgs, nats_max_pending, nats_ack_timeout_ms;
	int64_t nats_retries, nats_stream_max_bytes, nats_duplicate_window_sec;
	/* io.mapping */
	char *role_name;
	/* control */
	char *ctl_bind_ip, *ctl_unix_socket, *ctl_token;
	int64_t ctl_listen_port, ctl_metrics_port;
	int64_t ctl_max_sessions;	/* ctld's session table */
	int64_t ctl_max_calls;		/* ctld's call table */
	int64_t ctl_max_clients, ctl_clients_memcap, ctl_resume_bytes;
	struct conf_strlist ctl_default_cats;
	/* logging */
	char *log_console_verbosity, *log_file_path, *log_file_verbosity;
	bool log_file_enabled;
	double log_stats_report_interval;
	/* runtime */
	int64_t workers, capture_queue_size, max_output_buffer_bytes,
	    drain_timeout_ms, close_grace_ms, ring_bytes, max_open_files;
	double close_linger_sec, stats_interval_sec;
	char *profile;			/* runtime.profile */
	char *overflow_name, *user, *capture_user, *group, *run_dir;
	/* reasm */
	int64_t max_sessions, ooo_bytes_per_dir, memcap, frag_memcap;
	int64_t gap_grace_ms, ooo_timeout_ms;
	double frag_timeout_sec;
	struct conf_strlist analysers;	/* protocol analysers enabled (reasmd/analyser.h) */
	/* sink */
	int64_t sink_memcap;		/* startup buffers of one sinkd, together */
	/* voip */
	bool voip_enabled, voip_rtp, voip_per_call_pcap, voip_call_table;
	struct conf_intlist sip_ports;
	struct conf_strlist sipuser;
	char *rtp_port_range;
	bool voip_detect;		/* SIP found by content on any UDP port */
	int64_t voip_max_message_bytes, voip_call_idle_sec;
	int64_t voip_max_calls, voip_max_streams, voip_max_endpoints;
	int64_t voip_hold_bytes;	/* SIP-over-TCP frames held for their calls */
	char *voip_pcap_name;		/* per-call pcap file names */
	int64_t voip_pcap_rotate_bytes;
	double voip_media_grace_sec;

	/* Derived after loading (not keys of the file). */
	char *path;			/* the file, or NULL when none */
	char *name;			/* base name without extension, "default" */
	enum conf_role role;
	enum conf_overflow overflow;
	double stats_interval;		/* effective; 0 = off */
	int64_t drain_timeout_eff_ms;	/* drain_timeout_ms, 0 -> 5000 */
	bool filter_is_template;	/* bpf_filter has {placeholders} */
	unsigned char *given;		/* per schema entry: key present */
	unsigned char *origin;		/* per schema entry: CONF_FROM_* */
};

/* Where a key's effective value came from (file < environment < command line). */
enum { CONF_FROM_DEFAULT, CONF_FROM_FILE, CONF_FROM_ENV, CONF_FROM_CMDLINE, CONF_FROM_PROFILE };

/* A value given on a command line, applied over the file's. */
struct conf_override {
	const char *path;		/* schema path, e.g. "io.input.capture.file" */
	const char *value;		/* parsed by the key's type */
};

#define CONF_STRICT 0x1		/* unknown keys are errors */
#define CONF_NO_ENV 0x2		/* leave the STETHOSCOPE_* variables out */

struct conf_diag {
	char **errors, **warnings;
	size_t nerrors, nwarnings;
};

/*
 * Loads path (NULL: no file, all defaults) into *c, applies the overrides,
 * checks everything and fills diag with every error and warning found.
 * Returns 0 when there are no errors, -1 otherwise (c is still freed by
 * conf_free).  Relative paths stay as written (the caller's cwd).
 */
int conf_load(struct conf *c, const char *path,
    const struct conf_override *ov, size_t nov, int flags,
    struct conf_diag *diag);

/* The same from text in memory (no overrides); `name` is used in
 * messages.  For tests and the fuzzer. */
int conf_load_text(struct conf *c, const char *name, const char *text,
    size_t len, int flags, struct conf_diag *diag);

/* The variable that sets the key at path: STETHOSCOPE_ and the path in
 * upper case, '.' and '-' as '_'. */
void conf_env_name(const char *path, char *buf, size_t size);

/* Was the key at path present in the file (or set by an override)? */
bool conf_given(const struct conf *c, const char *path);

/* Every key of the schema, a JSON line each: key, type, default, min, max,
 * unit, choices, env (its variable), go (the Go version's spelling). */
void conf_print_schema(FILE *out);

/* Prints the effective configuration as indented JSON; "_sources" (a
 * comment key: the file stays loadable) says where each value that is not
 * a default came from. */
void conf_print_effective(const struct conf *c, FILE *out);
/* The same with flags: CONF_PRINT_SOURCES adds "_sources";
 * CONF_PRINT_GIVEN prints only the keys given (file, environment, command
 * line) and no derived value, so that the text loaded again gives the same
 * configuration, derivations and all. */
#define CONF_PRINT_SOURCES 0x1
#define CONF_PRINT_GIVEN 0x2
void conf_print_effective_ex(const struct conf *c, FILE *out, int flags);
/* Calls fn for every key whose effective value differs between a and b
 * (the values as JSON text); returns how many. */
size_t conf_diff(const struct conf *a, const struct conf *b,
    void (*fn)(const char *key, const char *was, const char *now, void *arg), void *arg);
/* Replaces *l with the strings of a JSON array (a reload's live value). */
struct json_object;
void conf_strlist_set_json(struct conf_strlist *l, struct json_object *a);
/* The reload class of a key (its canonical path); RL_RESTART if unknown. */
enum conf_reload conf_key_reload(const char *path);

/* The capture filter: an explicit filter as is, the template filled from
 * local_ip, remote_ip, remote_port, local_port (the Go rule: a local_port
 * adds "tcp port N" when the template lacks {local_port}), or "tcp" when
 * nothing selects a flow.  Returns a new string (caller frees). */
char *conf_capture_filter(const struct conf *c);

void conf_free(struct conf *c);
void conf_diag_free(struct conf_diag *d);

/* Every key a runtime.profile sets: "PROFILE\tKEY\tVALUE" lines. */
void conf_print_profiles(FILE *out);

/* Levenshtein distance (for "nearest known key"); exposed for tests. */
size_t conf_edit_distance(const char *a, const char *b);
/* The same when it is at most max, else max + 1 (stops early). */
size_t conf_edit_distance_within(const char *a, const char *b, size_t max);

#endif
