#!/usr/bin/env python3
"""Fireman against ElastAlert 2 itself: the same events through ElastAlert 2's own rule-type
classes (elastalert.ruletypes, driven the way its main loop drives them) and through
`iotw fireman test --ndjson`, and the matches compared, rule type by rule type.

    scripts/compare-elastalert.py [--iotw PATH] [--seeds N]

ElastAlert 2 runs in the virtualenv scripts/install-test-peers.sh makes (target/peers/elastalert);
this script re-runs itself there. Its loop is simulated without Elasticsearch: every second it
hands the rule the events of that second (`add_data`) and then calls `garbage_collect(now)`,
as a `run_every` of one second would. iotw is given the same events plus one neutral document
half a second after each second, so that its clock moves where ElastAlert's runs are.

Compared, per rule type (several random streams each, with and without query_key):
- any, blacklist, whitelist, change, frequency: the (time, key) of every match, exactly;
- spike: the (time, key) at which each spike was found (ElastAlert reports the oldest event
  of the current window as the match; the time it was found is recorded here by wrapping
  its `add_match`);
- flatline: the spells of low counts per key: when each began and when it ended (ElastAlert
  matches at every run while the count is low; Fireman alerts once per realert and sends a
  `resolved` alert when it ends).
realert is zero on both sides (ElastAlert applies it outside the rule type), so every match
counts. Recovery alerts for frequency and spike are Fireman's own and are not compared.
"""
import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = datetime.datetime(2026, 11, 26, 8, 0, 0, tzinfo=datetime.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nested(flat):
    """{"a.b": 1} -> {"a": {"b": 1}}"""
    out = {}
    for k, v in flat.items():
        cur = out
        parts = k.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = v
    return out


# ---- scenarios: (name, ElastAlert rule options, iotw YAML, events) --------------------------
# Each event: (second, {dotted field: value}); seconds are whole so both sides see the same
# windows.

def stream(rng, seconds, rate_of, fields_of):
    ev = []
    for s in range(seconds):
        n = sum(1 for _ in range(8) if rng.random() < rate_of(s) / 8)
        for _ in range(n):
            ev.append((s, fields_of(rng, s)))
    return ev


def scenarios(seed):
    rng = random.Random(seed)
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    out = []

    def sip(rng, s):
        return {"event.dataset": "sip", "source.ip": rng.choice(hosts), "sip.method": "INVITE",
                "sip.code": rng.choice([200, 200, 200, 503, 486]),
                "sip.from.uri.username": rng.choice(["01134960001", "07700900666", "02079460123", "01614960555"]),
                "sip.user_agent.original": rng.choice(["Acme SBC 4.2", "Acme SBC 4.2", "friendly-scanner", None])}

    burst = lambda s: 1.5 if (s // 300) % 4 == 2 else 0.2  # noqa: E731
    ev = stream(rng, 3600, burst, sip)
    ev503 = [(s, f) for s, f in ev if f["sip.code"] == 503]
    for qk in (None, "source.ip"):
        opts = {"num_events": 8, "timeframe": datetime.timedelta(seconds=60)}
        yaml = "num_events: 8\ntimeframe: {seconds: 60}\n"
        out.append(("frequency", opts, yaml, qk, ev503))
    out.append(("any", {}, "", None, [(s, f) for s, f in ev if f["sip.code"] == 486][:200]))
    out.append(("blacklist", {"compare_key": "sip.from.uri.username", "blacklist": ["07700900666", "02079460123"]},
                "compare_key: sip.from.uri.username\nblacklist: [\"07700900666\", \"02079460123\"]\n", None, ev[:400]))
    for ignore in (True, False):
        out.append(("whitelist", {"compare_key": "sip.user_agent.original", "whitelist": ["Acme SBC 4.2"],
                                  "ignore_null": ignore},
                    f"compare_key: sip.user_agent.original\nwhitelist: [\"Acme SBC 4.2\"]\nignore_null: {str(ignore).lower()}\n",
                    "source.ip", ev[:400]))
    # Agents' DNs seen from hosts that now and then change.
    where = {}
    dn_ev = []
    for s in range(0, 3600, 7):
        dn = rng.choice(["5001", "5002", "5003", "5004"])
        if rng.random() < 0.05:
            where[dn] = rng.choice(hosts + ["10.1.1.9"])
        dn_ev.append((s, {"event.dataset": "genesys", "genesys.this_dn": dn,
                          "source.ip": where.setdefault(dn, rng.choice(hosts))}))
    out.append(("change", {"compare_key": "source.ip", "query_key": "genesys.this_dn", "ignore_null": True},
                "compare_key: source.ip\nignore_null: true\n", "genesys.this_dn", dn_ev))
    # Spikes: a base rate with bursts, over three hours.
    spiky = lambda s: 3.0 if 4000 <= s % 7200 < 4300 else (0.05 if 5200 <= s % 7200 < 6400 else 0.3)  # noqa: E731
    sp_ev = stream(rng, 10800, spiky, lambda r, s: {"event.dataset": "genesys", "genesys.message.name": "EventAbandoned",
                                                    "source.ip": r.choice(hosts[:2])})
    for qk, kind in ((None, "both"), ("source.ip", "up"), (None, "down")):
        opts = {"timeframe": datetime.timedelta(minutes=10), "spike_height": 3, "spike_type": kind,
                "threshold_cur": 5, "threshold_ref": 5}
        yaml = f"timeframe: {{minutes: 10}}\nspike_height: 3\nspike_type: {kind}\nthreshold_cur: 5\nthreshold_ref: 5\n"
        out.append(("spike", opts, yaml, qk, sp_ev))
    # Flatline: a trunk's INVITEs with gaps.
    gaps = lambda s: 0.0 if 900 <= s % 2400 < 1300 else 0.5  # noqa: E731
    fl_ev = stream(rng, 7200, gaps, lambda r, s: {"event.dataset": "sip", "sip.method": "INVITE",
                                                  "source.ip": r.choice(hosts[:2])})
    for qk in (None, "source.ip"):
        opts = {"timeframe": datetime.timedelta(minutes=2), "threshold": 5}
        out.append(("flatline", opts, "timeframe: {minutes: 2}\nthreshold: 5\n", qk, fl_ev))
    return out


# ---- ElastAlert 2 ----------------------------------------------------------------------------

def run_elastalert(kind, opts, qk, events, seconds):
    from elastalert import ruletypes

    cls = {"any": ruletypes.AnyRule, "blacklist": ruletypes.BlacklistRule, "whitelist": ruletypes.WhitelistRule,
           "change": ruletypes.ChangeRule, "frequency": ruletypes.FrequencyRule, "spike": ruletypes.SpikeRule,
           "flatline": ruletypes.FlatlineRule}[kind]
    rules = dict(opts, name=kind, type=kind, timestamp_field="@timestamp")
    if qk:
        rules["query_key"] = qk
    if "compare_key" in rules:
        rules["compound_compare_key"] = [rules["compare_key"]]
    rule = cls(rules)
    found = []
    current = {"t": None}
    plain_add = rule.add_match

    def add_match(*args, **kw):
        found.append(current["t"])
        return plain_add(*args, **kw)

    rule.add_match = add_match
    by_second = {}
    for s, f in events:
        by_second.setdefault(s, []).append(f)
    for s in range(seconds + 1):
        now = T0 + datetime.timedelta(seconds=s)
        current["t"] = s
        batch = []
        for f in by_second.get(s, []):
            d = nested({k: v for k, v in f.items() if v is not None})
            d["@timestamp"] = now
            batch.append(d)
        if batch:
            rule.add_data(batch)
        if kind in ("frequency", "spike", "flatline"):
            rule.garbage_collect(now)
    keys = []
    for m in rule.matches:
        k = None
        if qk:
            cur = m
            for p in qk.split("."):
                cur = cur.get(p) if isinstance(cur, dict) else None
            k = cur if cur is not None else m.get("key")
        keys.append(None if k is None else str(k))
    return list(zip(found, keys))


# ---- iotw ------------------------------------------------------------------------------------

def run_iotw(iotw, kind, yaml_opts, qk, events, seconds, tmp):
    docs = []
    for s, f in events:
        d = nested({k: v for k, v in f.items() if v is not None})
        d["@timestamp"] = iso(T0 + datetime.timedelta(seconds=s))
        d.setdefault("event", {})["dataset"] = f.get("event.dataset", "sip")
        docs.append((s, 0, d))
    for s in range(seconds + 1):
        t = T0 + datetime.timedelta(seconds=s, milliseconds=500)
        docs.append((s, 1, {"@timestamp": iso(t), "event": {"dataset": "flow"}, "tick": True}))
    docs.sort(key=lambda x: (x[0], x[1]))
    nd = os.path.join(tmp, "docs.ndjson")
    with open(nd, "w") as fh:
        for _, _, d in docs:
            fh.write(json.dumps(d) + "\n")
    rule = os.path.join(tmp, "rule.yaml")
    filt = "filter:\n- bool: {must_not: [{exists: {field: tick}}]}\n"
    with open(rule, "w") as fh:
        fh.write(f"name: {kind}\ntype: {kind}\nrealert: {{minutes: 0}}\n{yaml_opts}{filt}")
        if qk:
            fh.write(f"query_key: {qk}\n")
    p = subprocess.run([iotw, "fireman", "test", rule, "--ndjson", nd, "--output", "ndjson"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"iotw fireman test failed:\n{p.stderr}")
    out = []
    for line in p.stdout.splitlines():
        a = json.loads(line)
        t = datetime.datetime.fromisoformat(a["@timestamp"].replace("Z", "+00:00"))
        out.append(((t - T0).total_seconds(), a["fireman"]["state"], a["fireman"].get("key")))
    return out


def main():
    peers.reexec_in_elastalert_venv()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iotw", default=os.path.join(ROOT, "target", "release", "iotw"))
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    failures = 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, a.seeds + 1):
            for kind, opts, yaml_opts, qk, events in scenarios(seed):
                seconds = max((s for s, _ in events), default=0) + 1
                ea = run_elastalert(kind, opts, qk, events, seconds)
                io = run_iotw(a.iotw, kind, yaml_opts, qk, events, seconds, tmp)
                if kind == "flatline":
                    ea_sp, io_sp = {}, {}
                    for t, k in ea:
                        ea_sp.setdefault(k, []).append(int(t))
                    ea_sp = {k: peers.spells(v) for k, v in ea_sp.items()}
                    starts = {}
                    for t, state, k in io:
                        if state == "firing" and k not in starts:
                            starts[k] = t
                        elif state == "resolved" and k in starts:
                            io_sp.setdefault(k, []).append((int(starts.pop(k)), int(t)))
                    for k, t in starts.items():
                        io_sp.setdefault(k, []).append((int(t), seconds + 1))
                    left = {str(k): v for k, v in ea_sp.items()}
                    right = {str(k): v for k, v in io_sp.items()}
                    n_ea = sum(len(v) for v in left.values())
                else:
                    left = sorted((int(t), k) for t, k in ea)
                    right = sorted((int(t), k) for t, state, k in io if state == "firing")
                    n_ea = len(left)
                same = left == right
                failures += not same
                label = f"{kind}{' by ' + qk if qk else ''} {opts.get('spike_type', '')}".strip()
                rows.append((seed, label, n_ea, "yes" if same else "NO"))
                if not same:
                    print(f"seed {seed} {label}: ElastAlert 2 {left}\n  iotw {right}", file=sys.stderr)
    print(f"{'seed':>4}  {'rule':<34} {'ElastAlert 2 matches':>20}  agree")
    for seed, label, n, verdict in rows:
        print(f"{seed:>4}  {label:<34} {n:>20}  {verdict}")
    total = len(rows)
    print(f"{total - failures} of {total} streams agree")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
