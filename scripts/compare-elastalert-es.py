#!/usr/bin/env python3
"""ElastAlert 2 itself against an OpenSearch-speaking server, beside Fireman in both of its
modes, on the same rules and the same documents (not a unit test: a CI suite).

    scripts/compare-elastalert-es.py [--iotw PATH] [--minutes N]

1. osmem-server (scripts/install-test-peers.sh) is started; `iotw simulate` makes a site;
   `iotw setup` installs the index templates and `iotw capture` ships the site into it.
2. ElastAlert 2 (2.19.0, in target/peers/elastalert) runs the rules against it through its
   own query path: `ElastAlerter.run_rule` once per second of the site, as `run_every: 1s`
   would (each run queries the second just passed, hands the hits to the rule type and
   garbage-collects; realert 0). Each match is recorded with the second it was found in.
   `buffer_time` is one second: every document is indexed before ElastAlert runs, so
   re-reading older ones would only be deduplicated (and take minutes).
3. Fireman runs the same rule files with `iotw fireman run` against the same index (its
   Elasticsearch mode, `--run-every 1s` from the site's first second, so that the runs it
   counts for `use_count_query` and `use_terms_query` rules are ElastAlert's) and with
   `iotw fireman test` over the capture (in the stream; rules fed counts are compared in ES
   mode only: in the stream every document is seen).
4. Compared per rule: the (second, query_key) of every match; for flatline the spells of low
   counts (first and one-past-last second). A match ElastAlert finds in the run ending at
   second k came from a document in (k-1, k]; Fireman's alert carries the document's (or the
   condition's) exact time t, counted here as second ceil(t). ElastAlert's query bounds are
   written here with their microseconds: its own format drops a zero fraction, and a bound on
   a whole second ("...:07Z") is rounded up to the end of that second by `lte` and `gt` (as
   Elasticsearch does with missing date components, and osmem with it), which would shift
   every window it queries by most of a second. The index keeps `@timestamp` to the
   millisecond, which is what ElastAlert's ranges compare: Fireman's times are cut to the
   millisecond before they are counted in seconds.
"""
import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (rule file body, query_key); every rule has realert 0 and runs over iotw-*.
RULES = {
    "any": ("type: any\nfilter:\n- term: {genesys.message.name: EventAbandoned}\n", None),
    "blacklist": ("type: blacklist\ncompare_key: genesys.this_dn\nblacklist: [\"5003\", \"5005\"]\n"
                  "filter:\n- term: {genesys.message.name: EventRinging}\n", None),
    "whitelist": ("type: whitelist\ncompare_key: genesys.this_dn\nwhitelist: [\"5001\", \"5002\", \"5004\"]\n"
                  "ignore_null: true\nfilter:\n- term: {genesys.message.name: EventEstablished}\n", None),
    "change": ("type: change\nquery_key: genesys.this_dn\ncompare_key: genesys.message.name\nignore_null: true\n"
               "filter:\n- terms: {genesys.message.name: [EventEstablished, EventReleased, EventRinging]}\n",
               "genesys.this_dn"),
    "frequency": ("type: frequency\nnum_events: 3\ntimeframe: {minutes: 2}\nquery_key: genesys.this_dn\n"
                  "filter:\n- term: {genesys.message.name: EventEstablished}\n", "genesys.this_dn"),
    "spike": ("type: spike\ntimeframe: {minutes: 2}\nspike_height: 2\nspike_type: both\nthreshold_cur: 2\n"
              "threshold_ref: 2\nfilter:\n- term: {genesys.message.name: EventRinging}\n", None),
    "flatline": ("type: flatline\nthreshold: 3\ntimeframe: {minutes: 1}\n"
                 "filter:\n- term: {sip.method: INVITE}\n", None),
    # Fed counts instead of documents (ElastAlert's _count and terms aggregation queries).
    "frequency_count": ("type: frequency\nnum_events: 12\ntimeframe: {minutes: 1}\nuse_count_query: true\n"
                        "filter:\n- term: {genesys.message.name: EventEstablished}\n", None),
    "frequency_terms": ("type: frequency\nnum_events: 3\ntimeframe: {minutes: 2}\nquery_key: genesys.this_dn\n"
                        "use_terms_query: true\nfilter:\n- term: {genesys.message.name: EventEstablished}\n",
                        "genesys.this_dn"),
    "spike_count": ("type: spike\ntimeframe: {minutes: 2}\nspike_height: 2\nspike_type: both\nthreshold_cur: 2\n"
                    "threshold_ref: 2\nuse_count_query: true\n"
                    "filter:\n- term: {genesys.message.name: EventRinging}\n", None),
    "flatline_count": ("type: flatline\nthreshold: 3\ntimeframe: {minutes: 1}\nuse_count_query: true\n"
                       "filter:\n- term: {sip.method: INVITE}\n", None),
}


def run(argv, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{p.stderr}")
    return p


def start_osmem():
    binary = subprocess.run(["python3", "-c", "import osmem_server; print(osmem_server.resolve_binary())"],
                            capture_output=True, text=True).stdout.strip()
    if not binary:
        sys.exit("osmem-server is not installed: run scripts/install-test-peers.sh")
    p = subprocess.Popen([binary, "-addr", "127.0.0.1:0", "-no-stdin-watch", "-no-ja",
                          "-parent-pid", str(os.getpid())], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    hello = json.loads(p.stdout.readline())
    return p, hello["url"]


def parse_ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def elastalert(url, rules_dir, tmp, t0, seconds):
    """Every match of every rule: {rule: [(second, key)]}."""
    from elastalert.elastalert import ElastAlerter

    host, port = url.split("//")[1].split(":")
    conf = os.path.join(tmp, "ea.yaml")
    with open(conf, "w") as fh:
        fh.write(f"rules_folder: {rules_dir}\nrun_every: {{seconds: 1}}\nbuffer_time: {{seconds: 1}}\n"
                 f"es_host: {host}\nes_port: {port}\nwriteback_index: elastalert\n"
                 "alert_time_limit: {days: 2}\nmax_query_size: 10000\n")
    run([os.path.join(peers.ELASTALERT_VENV, "bin", "elastalert-create-index"), "--config", conf], cwd=tmp)
    ea = ElastAlerter(["--config", conf])
    out = {}
    for rule in ea.rules:
        found = []
        current = {"k": 0}
        plain = rule["type"].add_match

        def add_match(match, *a, _found=found, _cur=current, _plain=plain, _rule=rule, **kw):
            key = None
            qk = _rule.get("query_key")
            if qk:
                # A terms bucket's match holds the key under the field's dotted name.
                cur = match.get(qk)
                if cur is None:
                    cur = match
                    for part in qk.split("."):
                        cur = cur.get(part) if isinstance(cur, dict) else None
                key = cur if cur is not None else match.get("key")
            _found.append((_cur["k"], None if key is None else str(key)))
            return _plain(match, *a, **kw)

        rule["type"].add_match = add_match
        rule["dt_to_ts"] = lambda dt: dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for k in range(1, seconds + 1):
            current["k"] = k
            end = t0 + datetime.timedelta(seconds=k)
            start = t0 if k == 1 else None
            ea.run_rule(rule, end, start)
        out[rule["name"]] = found
    return out


def fireman_alerts(ndjson, t0):
    """{rule: [(exact seconds since t0, state, key)]}"""
    out = {}
    for line in ndjson.splitlines():
        a = json.loads(line)
        if a.get("event", {}).get("kind") != "alert":
            continue
        # The index keeps `@timestamp` to the millisecond (a `date`), and ElastAlert's ranges
        # compare that: a document 0.4 ms after a whole second falls in the run ending on it.
        ts = parse_ts(a["@timestamp"])
        t = (ts.replace(microsecond=ts.microsecond // 1000 * 1000) - t0).total_seconds()
        out.setdefault(a["rule"]["name"], []).append((t, a["fireman"]["state"], a["fireman"].get("key")))
    return out


def counted(name):
    """Whether the rule is fed counts (use_count_query, use_terms_query): ES mode only."""
    return "use_count_query" in RULES[name][0] or "use_terms_query" in RULES[name][0]


def compare(kind, ea, fm, end):
    if kind.startswith("flatline"):
        left = peers.spells([k for k, _ in ea])
        right, start = [], None
        for t, state, _ in sorted(fm):
            if state == "firing" and start is None:
                start = math.ceil(t)
            elif state == "resolved" and start is not None:
                right.append((start, math.ceil(t)))
                start = None
        if start is not None:
            right.append((start, end + 1))
        return left, right
    left = sorted(ea)
    right = sorted((math.ceil(t), None if k is None else str(k)) for t, state, k in fm if state == "firing")
    return left, right


def main():
    peers.reexec_in_elastalert_venv()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iotw", default=os.path.join(ROOT, "target", "release", "iotw"))
    ap.add_argument("--minutes", type=int, default=10)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        osmem, url = start_osmem()
        try:
            site = os.path.join(tmp, "site.pcapng")
            run([a.iotw, "simulate", "--duration", f"{a.minutes}m", "--agents", "8", "--seed", "3", "--out", site])
            cfg = os.path.join(tmp, "iotw.toml")
            with open(cfg, "w") as fh:
                fh.write(f'[output]\nkind = "elasticsearch"\ndata_dir = "{tmp}/data"\n\n'
                         f'[elasticsearch]\nurls = ["{url}"]\nflush_interval = "100ms"\n')
            # osmem refuses the lifecycle policy step; the templates are what matter here.
            subprocess.run([a.iotw, "setup", "-c", cfg], capture_output=True, text=True)
            run([a.iotw, "capture", "-c", cfg, "-r", site, "--no-progress", "--quiet"])
            docs = run([a.iotw, "capture", "-r", site, "--output", "ndjson", "--no-progress", "--quiet"]).stdout
            times = [parse_ts(json.loads(l)["@timestamp"]) for l in docs.splitlines()]
            t0 = min(times).replace(microsecond=0)
            seconds = math.ceil((max(times) - t0).total_seconds()) + 1
            rules_dir = os.path.join(tmp, "rules")
            os.makedirs(rules_dir)
            for name, (body, _) in RULES.items():
                with open(os.path.join(rules_dir, f"{name}.yaml"), "w") as fh:
                    fh.write(f"name: {name}\nindex: iotw-*\ntimestamp_field: \"@timestamp\"\n"
                             f"realert: {{minutes: 0}}\nalert: debug\n{body}")
            started = time.time()
            ea = elastalert(url, rules_dir, tmp, t0, seconds)
            ea_time = time.time() - started
            iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
            es_mode = run([a.iotw, "fireman", "run", rules_dir, "--url", url, "--from", iso(t0),
                           "--until", iso(t0 + datetime.timedelta(seconds=seconds)), "--run-every", "1s",
                           "--ndjson"]).stdout
            in_stream = run([a.iotw, "fireman", "test", rules_dir, "-r", site, "--output", "ndjson"]).stdout
        finally:
            osmem.kill()
    modes = {"ES mode": fireman_alerts(es_mode, t0), "in the stream": fireman_alerts(in_stream, t0)}
    failures = 0
    print(f"{len(times)} documents over {seconds} s; ElastAlert 2 ran {len(RULES)} rules x {seconds} runs "
          f"against osmem in {ea_time:.0f} s")
    print(f"{'rule':<15} {'ElastAlert 2':>12}  {'Fireman ES mode':>15}  {'in the stream':>13}")
    for name in RULES:
        cells = []
        for mode, fm in modes.items():
            if mode == "in the stream" and counted(name):
                # Counts per run are ElastAlert's polling: in the stream each document is seen.
                cells.append("n/a")
                continue
            left, right = compare(name, ea.get(name, []), fm.get(name, []), seconds)
            same = left == right
            failures += not same
            cells.append(f"{len(right)} {'agree' if same else 'DIFFER'}")
            if not same:
                print(f"{name} ({mode}):\n  ElastAlert 2 {left}\n  Fireman      {right}", file=sys.stderr)
        n = len(compare(name, ea.get(name, []), [], seconds)[0])
        print(f"{name:<15} {n:>12}  {cells[0]:>15}  {cells[1]:>13}")
    empty = [n for n in RULES if not ea.get(n)]
    if empty:
        print(f"rules with no match on this site (their agreement proves little): {', '.join(empty)}")
    compared = 2 * len(RULES) - sum(1 for n in RULES if counted(n))
    print(f"{compared - failures} of {compared} comparisons agree")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
