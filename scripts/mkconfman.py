#!/usr/bin/env python3
"""mkconfman.py SCHEMA DOC OUT — stethoscope.conf(5), generated.

SCHEMA: the output of `capd --print-schema` (conf.c's table: every key,
its type, default, range, unit, variable and Go-version spelling); DOC:
docs/configuration.md, whose table gives each key what it does (the
tests check it names every key).  Types, defaults and ranges come from the
schema only, so the page cannot drift from the code.
"""
import json
import re
import sys
import time


def esc(s):
    s = s.replace("\\", "\\e")
    s = s.replace("-", "\\-")
    return s


def text(s):
    """markdown-ish cell -> roff text"""
    s = re.sub(r"`([^`]*)`", r"\1", s)
    s = re.sub(r"\*\*([^*]*)\*\*", r"\1", s)
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)
    s = esc(s)
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def size(v, unit):
    if unit == "bytes" and isinstance(v, (int, float)) and v > 0:
        for n, name in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if v >= n and v % n == 0:
                return "%d %s" % (v // n, name)
    if isinstance(v, float) and v == int(v):
        v = int(v)
    if isinstance(v, float):
        return "%g" % v
    return str(v)


def main():
    schema = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    doc = {}
    for line in open(sys.argv[2]):
        m = re.match(r"\| `([\w.\-]+)` \|([^|]*)\|([^|]*)\|([^|]*)\|(.*)\|\s*$", line)
        if m:
            doc[m.group(1)] = m.group(5).strip()
    date = time.strftime("%Y-%m-%d", time.gmtime())
    out = []
    w = out.append
    w('.TH STETHOSCOPE.CONF 5 "%s" "stethoscope" "stethoscope manual"' % date)
    w(".SH NAME")
    w("stethoscope.conf \\- the configuration of the stethoscope tap")
    w(".SH DESCRIPTION")
    w("One json\\-ish file (comments, unquoted keys and trailing commas accepted), given to")
    w("every daemon and to")
    w(".B stethoscope\\-run")
    w("with")
    w(".B \\-c FILE")
    w("or")
    w(".BR STETHOSCOPE_CONFIG .")
    w("Keys are written as nested objects:")
    w(".B io.output.pcap.dir")
    w("is")
    w(".RB { \" io: { output: { pcap: { dir: \\(dq/data\\(dq } } } \" } .")
    w("Configurations written for the Go version run unchanged, with its spellings;")
    w("keys starting with _ are comments; an unknown key is a warning with the nearest")
    w("known one (an error with")
    w(".BR \\-\\-strict ).")
    w("Errors read FILE:LINE:COL: key.path: expected WHAT, found WHAT, all of them at once.")
    w(".PP")
    w(".B DAEMON \\-\\-check\\-config")
    w("prints the effective configuration and, under _sources, where each value that is")
    w("not a default came from;")
    w(".B DAEMON \\-\\-print\\-schema")
    w("prints the table this page is made from.")
    w(".SH ENVIRONMENT")
    w("Every key can be set from the environment:")
    w(".B STETHOSCOPE_")
    w("and the key's path in upper case with . and \\- as _, as each key below says.")
    w("Lists and objects are JSON text (a list also a,b):")
    w(".RS")
    w(".nf")
    w("STETHOSCOPE_IO_OUTPUT_PCAP_DIR=/data/pcap")
    w("STETHOSCOPE_RUNTIME_WORKERS=4")
    w("STETHOSCOPE_VOIP_SIPUSER='[\\(dqalice\\(dq,\\(dq+4930*\\(dq]'")
    w(".fi")
    w(".RE")
    w(".PP")
    w("Precedence: the file, then the environment, then the command line.")
    w("The values are checked as the file's are, and a message names the variable.")
    w(".B STETHOSCOPE_CONFIG")
    w("(the file) and")
    w(".B STETHOSCOPE_LOG_LEVEL")
    w("(console verbosity) keep their meaning; another STETHOSCOPE_ variable that names")
    w("no key is warned, with the nearest.")
    w(".SH RELOAD")
    w("SIGHUP to")
    w(".B stethoscope\\-run")
    w("(or")
    w(".B stethoscope\\-ctl reload )")
    w("reads the configuration again and applies what changed, without losing a session.")
    w("Each key below says what its change does:")
    w(".TP")
    w(".B live")
    w("the running daemons take the new value (log verbosities, the stats interval,")
    w("voip.sipuser, the control token and default categories);")
    w(".TP")
    w(".B sink")
    w("that output's sinkd is started, stopped or restarted; one started mid\\-run is told of")
    w("the sessions already open, and their missed start is a gap;")
    w(".TP")
    w(".B capd")
    w("capd alone is restarted (the sessions stay open in reasmd; the outage is an event);")
    w("when replaying a file, a restart of the run;")
    w(".TP")
    w(".B restart")
    w("the run must be restarted: a reload that changes such a key applies nothing, and")
    w("names the key in its reply and the log.")
    w(".PP")
    w("Every reload, whatever changed, first opens")
    w(".B logging.file.path")
    w("again: after logrotate has moved the file, a SIGHUP in its")
    w(".B postrotate")
    w("puts every daemon's lines in the new one (under the launcher the daemons log")
    w("down its pipe and the launcher writes the file).")
    w(".SH KEYS")
    section = None
    for k in schema:
        key = k["key"]
        sec = key.rsplit(".", 1)[0]
        if sec != section:
            section = sec
            w(".SS %s" % esc(sec))
        w(".TP")
        w(".B %s" % esc(key))
        facts = []
        t = k["type"]
        if k.get("choices"):
            t = "one of " + ", ".join(k["choices"].split("|"))
        facts.append(esc(t))
        d = k.get("default")
        unit = k.get("unit")
        if d is None or d == "":
            facts.append("no default")
        elif isinstance(d, bool):
            facts.append("default " + ("true" if d else "false"))
        elif isinstance(d, (int, float)):
            ds = size(d, unit)
            facts.append("default " + esc(ds) + (" " + esc(unit) if unit and not ds.endswith("iB") else ""))
        else:
            facts.append("default " + text(str(d)))
        if "min" in k and "max" in k:
            facts.append("range " + esc(size(k["min"], unit)) + " .. " + esc(size(k["max"], unit)))
        w("; ".join(facts) + ".")
        w("Environment:")
        w(".BR %s ." % esc(k["env"]))
        w("Reload: %s." % esc(k.get("reload", "restart")))
        if k.get("go"):
            w("The Go version's spelling:")
            w(".BR %s ." % esc(k["go"]))
        if key in doc and doc[key]:
            w(".br")
            w(text(doc[key]))
    w(".SH SEE ALSO")
    w(".BR stethoscope (1),")
    w(".BR stethoscope\\-run (1),")
    w(".BR capd (1),")
    w(".BR reasmd (1),")
    w(".BR sinkd (1),")
    w(".BR ctld (1),")
    w(".BR stethoscope\\-ctl (1)")
    open(sys.argv[3], "w").write("\n".join(out) + "\n")
    missing = [k["key"] for k in schema if k["key"] not in doc]
    if missing:
        sys.stderr.write("mkconfman: docs/configuration.md does not describe: %s\n" % ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
