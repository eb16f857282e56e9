#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The report side of bench/bench.sh (python3 stdlib only).

  report.py --best WORKLOAD results.csv --out DIR
      the ringlb mode with the best median throughput in WORKLOAD
  report.py --missed results.csv --out DIR
      the workloads (bulk1 keepalive close) where that mode misses its
      target against HAProxy
  report.py --table results.csv --out DIR [--doc FILE.rst]
      medians, the table on stdout, DIR/summary.json, and with --doc the
      reST page and its gnuplot bar charts (in FILE's images/ directory)

Every number in the page comes from DIR: results.csv, syscalls.csv,
memory.csv, counts.csv, fr-skipped.csv, fr-dropped.csv, machine.txt,
profiles/ and smaps/.

Two kinds of figures. Fixed offered rate (workloads "rate-ka@unpinned"
and the like, from bench/pace.c): the proxy's CPU time per request and
the latency at a rate every contender can carry, the figures to decide
by. Closed loop (wrk, iperf3): throughput when every side runs flat out,
which on a small shared machine mostly measures the scheduler.
"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

CONTENDER_ORDER = ["direct", "floor", "ringlb-uring-splice", "ringlb-uring-buffers",
                   "ringlb-epoll-splice", "ringlb-epoll-buffers",
                   "ringlb-auto", "haproxy", "nginx", "socat"]
DEFAULT = "ringlb-auto"         # ringlb as shipped: --engine/--forward auto
FLOOR = "floor"                 # bench/floor.c: the kernel operations alone
RINGLB = [c for c in CONTENDER_ORDER if c.startswith("ringlb-")]
WORKLOADS = ["bulk1", "bulk8", "keepalive", "close"]
MAIN_METRIC = {"bulk1": "gbps", "bulk8": "gbps", "keepalive": "rate",
               "close": "rate"}
UNITS = {"bulk1": "Gbit/s", "bulk8": "Gbit/s", "keepalive": "req/s",
         "close": "conn/s"}
TITLES = {"bulk1": "Bulk, 1 stream (iperf3)",
          "bulk8": "Bulk, 8 streams (iperf3 -P 8)",
          "keepalive": "Request/response, keep-alive (wrk)",
          "close": "Connection churn, Connection: close (wrk)"}
# targets: ringlb's best mode / HAProxy, in the same run
TARGETS = {"bulk1": 1.2, "keepalive": 1.3, "close": 1.2}
SYSCALL_TARGET = 0.15
MEM_TARGET_KIB = 8.0

# fixed offered rate: blocks are "workload@placement"
FR_WORKLOADS = ["rate-ka", "rate-close", "pipeline"]
PLACEMENTS = ["unpinned", "pinned"]
FR_TITLES = {"rate-ka": "keep-alive at a fixed request rate",
             "rate-close": "connection churn at a fixed connection rate",
             "pipeline": "pipelined requests (closed loop)"}
FR_UNIT = {"rate-ka": "request", "rate-close": "connection",
           "pipeline": "request"}
# issue 11's targets: ringlb's default mode against HAProxy, same run
FR_CPU_TARGET = {"rate-ka": 0.60, "rate-close": 0.50}
AUTO_SLACK = 1.05               # auto within 5% of ringlb's best mode
PIPE_TARGET = 0.85              # pipelined req/s >= 0.85x direct's
# a figure is stable enough to compare when its interquartile range over
# the rounds is within this share of its median
STABLE_IQR = 0.10


def num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def order(names):
    known = [c for c in CONTENDER_ORDER if c in names]
    return known + sorted(n for n in names if n not in CONTENDER_ORDER)


class Results:
    def __init__(self, out, results_csv):
        self.out = out
        self.raw = {}           # (workload, contender, metric) -> [values]
        self.rounds = {}        # (workload, contender, metric) -> {round: v}
        with open(results_csv) as f:
            rows = list(csv.DictReader(f))
        # a dropped fixed-rate run leaves none of its figures in
        dropped = {(r["round"], r["workload"], r["contender"]) for r in rows
                   if r["metric"] == "dropped" and num(r["value"])}
        for row in rows:
            if (row["round"], row["workload"], row["contender"]) in dropped \
                    or row["metric"] == "dropped":
                continue
            v = num(row["value"])
            key = (row["workload"], row["contender"], row["metric"])
            self.raw.setdefault(key, [])
            if v is not None:
                self.raw[key].append(v)
                self.rounds.setdefault(key, {})[row["round"]] = v
        self.contenders = order({k[1] for k in self.raw if k[1] != "all"})
        self.workloads = [w for w in WORKLOADS
                          if any(k[0] == w for k in self.raw)]
        self.blocks = [w + "@" + p for p in PLACEMENTS for w in FR_WORKLOADS
                       if any(k[0] == w + "@" + p for k in self.raw)]
        self.sys = self._syscalls()
        self.mem = self._memory()
        self.machine = self._machine()
        self.counts = self._counts()
        self.skipped = self._csv("fr-skipped.csv")
        self.dropped = self._csv("fr-dropped.csv")

    # ---- figures ----------------------------------------------------
    def values(self, w, c, m):
        return self.raw.get((w, c, m), [])

    def med(self, w, c, m):
        v = self.values(w, c, m)
        return statistics.median(v) if v else None

    def best(self, w):
        """ringlb mode with the highest median main metric in w"""
        m = MAIN_METRIC[w]
        cands = [(self.med(w, c, m), c) for c in RINGLB
                 if self.med(w, c, m) is not None]
        return max(cands)[1] if cands else None

    def _syscalls(self):
        path = os.path.join(self.out, "syscalls.csv")
        d = {}                  # (contender, workload) -> dict
        if not os.path.exists(path):
            return d
        with open(path) as f:
            for row in csv.DictReader(f):
                e = d.setdefault((row["contender"], row["workload"]),
                                 {"requests": num(row["requests"]) or 0,
                                  "calls": {}})
                n = num(row["count"])
                if n is not None:
                    e["calls"][row["syscall"]] = n
        for e in d.values():
            tot = e["calls"].get("total")
            e["per_req"] = (tot / e["requests"]
                            if tot is not None and e["requests"] else None)
        return d

    def per_req(self, c, w):
        e = self.sys.get((c, w))
        return e["per_req"] if e else None

    def _memory(self):
        path = os.path.join(self.out, "memory.csv")
        d = {}
        if not os.path.exists(path):
            return d
        with open(path) as f:
            for row in csv.DictReader(f):
                n = num(row["conns"]) or 0
                e = {k: num(v) for k, v in row.items() if k != "contender"}
                e["kib_per_conn"] = ((e["pss_after_kib"] - e["pss_before_kib"])
                                     / n if n else None)
                e["rss_kib_per_conn"] = ((e["rss_after_kib"]
                                          - e["rss_before_kib"]) / n
                                         if n else None)
                d[row["contender"]] = e
        return d

    def _machine(self):
        d = {}
        path = os.path.join(self.out, "machine.txt")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    d[k] = v
        return d

    def _csv(self, name):
        path = os.path.join(self.out, name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return list(csv.DictReader(f))

    def _counts(self):
        """(block, contender) -> {requests, proc_ms, events}"""
        d = {}
        for row in self._csv("counts.csv"):
            e = d.setdefault((row["block"], row["contender"]),
                             {"requests": num(row["requests"]) or 0,
                              "proc_ms": num(row["proc_cpu_ms"]),
                              "events": {}})
            e["events"][row["event"]] = num(row["count"])
        return d

    def count_per(self, b, c, event):
        e = self.counts.get((b, c))
        if not e or not e["requests"] or e["events"].get(event) is None:
            return None
        return e["events"][event] / e["requests"]

    # ---- fixed offered rate ------------------------------------------
    def fr_contenders(self, b):
        return [c for c in self.contenders
                if self.values(b, c, "p50_us") or self.values(b, c, "cpu_us")]

    def fr_rounds_done(self, b):
        return len(self.values(b, "all", "idle_before_pct"))

    def spread(self, b, c, m):
        """(min, max, iqr / median) over the rounds, or None"""
        v = sorted(self.values(b, c, m))
        if not v:
            return None
        med = statistics.median(v)
        if len(v) >= 4:
            q = statistics.quantiles(v, n=4)
            iqr = q[2] - q[0]
        else:
            iqr = v[-1] - v[0]
        return v[0], v[-1], (iqr / med if med else None)

    def stable(self, b, c, m):
        s = self.spread(b, c, m)
        return bool(s and s[2] is not None and s[2] <= STABLE_IQR
                    and len(self.values(b, c, m)) >= 3)

    def paired(self, b, c1, c2, m):
        """c1/c2 per round where both ran: (median, min, max, [ratios])"""
        a, z = self.rounds.get((b, c1, m), {}), self.rounds.get((b, c2, m),
                                                                 {})
        rs = [a[r] / z[r] for r in a if r in z and z[r]]
        if not rs:
            return None
        return statistics.median(rs), min(rs), max(rs), rs

    def best_mode(self, b, m, low=True):
        """ringlb's best mode (not auto) in block b by median metric m"""
        cands = [(self.med(b, c, m), c) for c in RINGLB
                 if c != DEFAULT and self.med(b, c, m) is not None]
        if not cands:
            return None
        return (min(cands) if low else max(cands))[1]

    # ---- issue 11's targets, at a fixed offered rate -------------------
    def _target(self, name, b, c1, c2, m, goal, low, unit):
        """c1/c2 on metric m in block b, per round; low: goal is a ceiling"""
        pr = self.paired(b, c1, c2, m)
        m1, m2 = self.med(b, c1, m), self.med(b, c2, m)
        t = {"name": name, "block": b, "mode": c1, "against": c2,
             "detail": "%s vs %s%s" % (fmt(m1), fmt(m2), unit),
             "goal": ("<= %.2fx" if low else ">= %.2fx") % goal,
             "ratio": None, "range": None, "rounds": None, "met": None}
        if pr:
            med, lo, hi, rs = pr
            ok = [x <= goal if low else x >= goal for x in rs]
            t.update(ratio=med, range=(lo, hi),
                     rounds="%d/%d" % (sum(ok), len(ok)),
                     met=med <= goal if low else med >= goal)
        return t

    def fr_targets(self):
        t = []
        for p in PLACEMENTS:
            ka, cl = "rate-ka@" + p, "rate-close@" + p
            if ka in self.blocks:
                t.append(self._target(
                    "keep-alive CPU/request vs HAProxy (%s)" % p, ka,
                    DEFAULT, "haproxy", "cpu_us", FR_CPU_TARGET["rate-ka"],
                    True, " us"))
            if cl in self.blocks:
                t.append(self._target(
                    "churn CPU/connection vs HAProxy (%s)" % p, cl,
                    DEFAULT, "haproxy", "cpu_us",
                    FR_CPU_TARGET["rate-close"], True, " us"))
            for b, what in ((ka, "keep-alive"), (cl, "churn")):
                if b in self.blocks:
                    t.append(self._target(
                        "%s p99 latency vs HAProxy (%s)" % (what, p), b,
                        DEFAULT, "haproxy", "p99_us", 1.0, True, " us"))
            if ka in self.blocks:
                t.append(self._target(
                    "uring-splice vs epoll-splice CPU/request (%s)" % p, ka,
                    "ringlb-uring-splice", "ringlb-epoll-splice", "cpu_us",
                    1.0, True, " us"))
            for b, what in ((ka, "keep-alive"), (cl, "churn")):
                best = self.best_mode(b, "cpu_us") if b in self.blocks \
                    else None
                if best:
                    t.append(self._target(
                        "auto vs best mode, %s CPU (%s)" % (what, p), b,
                        DEFAULT, best, "cpu_us", AUTO_SLACK, True, " us"))
        b = "pipeline@unpinned"
        if b in self.blocks:
            t.append(self._target("pipelined req/s vs direct", b, DEFAULT,
                                  "direct", "achieved", PIPE_TARGET, False,
                                  " req/s"))
            best = self.best_mode(b, "achieved", low=False)
            if best:
                t.append(self._target("auto vs best mode, pipelined req/s",
                                      b, DEFAULT, best, "achieved",
                                      1 / AUTO_SLACK, False, " req/s"))
        for w in ("bulk1", "bulk8"):
            if w not in self.workloads:
                continue
            best = self.best_mode(w, "gbps", low=False)
            if best:
                t.append(self._target(
                    "auto vs best mode, %s Gbit/s (closed loop)" % w, w,
                    DEFAULT, best, "gbps", 1 / AUTO_SLACK, False, ""))
        return t

    def floor_refs(self):
        """per CPU block: the floor against HAProxy, ringlb-auto against
        the floor, and the target that block is judged by"""
        rows = []
        for p in PLACEMENTS:
            for w in ("rate-ka", "rate-close"):
                b = w + "@" + p
                if b not in self.blocks or not self.values(b, FLOOR,
                                                           "cpu_us"):
                    continue
                rows.append({
                    "block": b, "goal": FR_CPU_TARGET[w],
                    "us": {c: self.med(b, c, "cpu_us")
                           for c in (FLOOR, DEFAULT, "haproxy")},
                    "floor_vs_haproxy": self.paired(b, FLOOR, "haproxy",
                                                    "cpu_us"),
                    "default_vs_floor": self.paired(b, DEFAULT, FLOOR,
                                                    "cpu_us")})
        return rows

    # ---- targets ----------------------------------------------------
    def targets(self):
        """list of dicts: name, value text, goal text, met (True/False/None),
        workload (for profiles)"""
        t = []
        for w, goal in TARGETS.items():
            if w not in self.workloads:
                continue
            b = self.best(w)
            m = MAIN_METRIC[w]
            rb, rh = (self.med(w, b, m) if b else None,
                      self.med(w, "haproxy", m))
            ratio = rb / rh if rb and rh else None
            t.append({"name": "%s %s vs HAProxy" % (w, UNITS[w]),
                      "workload": w, "mode": b, "ratio": ratio,
                      "detail": "%s %s vs %s" % (fmt(rb), UNITS[w], fmt(rh)),
                      "goal": ">= %.2fx" % goal,
                      "met": None if ratio is None else ratio >= goal})
        for w in ("keepalive", "close"):
            if w not in self.workloads:
                continue
            b = self.best(w)
            pb, ph = (self.med(w, b, "p99_us") if b else None,
                      self.med(w, "haproxy", "p99_us"))
            ratio = pb / ph if pb and ph else None
            t.append({"name": "%s p99 latency vs HAProxy" % w,
                      "workload": w, "mode": b, "ratio": ratio,
                      "detail": "%s us vs %s us" % (fmt(pb), fmt(ph)),
                      "goal": "<= 1.00x",
                      "met": None if ratio is None else ratio <= 1.0})
        for fwd in ("splice", "buffers"):
            u = self.per_req("ringlb-uring-" + fwd, "keepalive")
            e = self.per_req("ringlb-epoll-" + fwd, "keepalive")
            if u is None and e is None:
                continue
            ratio = u / e if u is not None and e else None
            t.append({"name": "syscalls/request, uring+%s vs epoll+%s"
                      % (fwd, fwd),
                      "workload": "syscalls", "mode": "ringlb-uring-" + fwd,
                      "ratio": ratio,
                      "detail": "%s vs %s" % (fmt(u), fmt(e)),
                      "goal": "<= %.2fx" % SYSCALL_TARGET,
                      "met": None if ratio is None
                      else ratio <= SYSCALL_TARGET})
        for c in RINGLB:
            e = self.mem.get(c)
            if not e:
                continue
            k = e["kib_per_conn"]
            t.append({"name": "memory per idle connection, %s" % c,
                      "workload": "memory", "mode": c, "ratio": None,
                      "detail": "%s KiB" % fmt(k),
                      "goal": "<= %.0f KiB" % MEM_TARGET_KIB,
                      "met": None if k is None else k <= MEM_TARGET_KIB})
        return t

    def missed_workloads(self):
        ws = []
        for t in self.targets():
            w = t["workload"]
            if t["met"] is False and w in TARGETS and w not in ws:
                ws.append(w)
        return ws

    # ---- table --------------------------------------------------------
    def columns(self):
        """(header, function(contender) -> text)"""
        cols = []

        def mk(w, m, f, hz=None):
            return lambda c: f(self.med(w, c, m))
        for w in ("bulk1", "bulk8"):
            if w in self.workloads:
                cols.append(("%s Gb/s" % w, mk(w, "gbps", fmt)))
                cols.append(("cpu%", mk(w, "cpu_pct", fmt0)))
        if "keepalive" in self.workloads:
            cols.append(("ka req/s", mk("keepalive", "rate", fmt0)))
            cols.append(("p50us", mk("keepalive", "p50_us", fmt0)))
            cols.append(("p99us", mk("keepalive", "p99_us", fmt0)))
            cols.append(("cpu%", mk("keepalive", "cpu_pct", fmt0)))
        if "close" in self.workloads:
            cols.append(("close conn/s", mk("close", "rate", fmt0)))
            cols.append(("p99us", mk("close", "p99_us", fmt0)))
            cols.append(("cpu%", mk("close", "cpu_pct", fmt0)))
        if self.sys:
            cols.append(("sys/req ka",
                         lambda c: fmt(self.per_req(c, "keepalive"))))
            cols.append(("sys/conn close",
                         lambda c: fmt(self.per_req(c, "close"))))
        if self.mem:
            cols.append(("KiB/idle conn", lambda c: fmt(
                self.mem[c]["kib_per_conn"] if c in self.mem else None)))
        return cols

    def table_rows(self):
        cols = self.columns()
        head = ["contender"] + [h for h, _ in cols]
        # the floor runs in the fixed-rate workloads only
        rows = [[c] + [f(c) for _, f in cols] for c in self.contenders
                if c != FLOOR]
        return head, rows

    def text_table(self):
        head, rows = self.table_rows()
        wid = [max(len(r[i]) for r in [head] + rows)
               for i in range(len(head))]
        lines = ["  ".join(h.rjust(wid[i]) if i else h.ljust(wid[i])
                           for i, h in enumerate(head))]
        for r in rows:
            lines.append("  ".join(x.rjust(wid[i]) if i else x.ljust(wid[i])
                                   for i, x in enumerate(r)))
        return "\n".join(lines)

    def summary(self):
        s = {"machine": self.machine, "medians": {}, "syscalls": {},
             "memory": self.mem, "targets": self.targets(), "best": {},
             "fr_targets": self.fr_targets(),
             "floor": self.floor_refs(),
             "fr_counts": {"%s %s" % k: v for k, v in self.counts.items()},
             "fr_skipped": self.skipped, "fr_dropped": self.dropped}
        for (w, c, m), v in self.raw.items():
            s["medians"].setdefault(w, {}).setdefault(c, {})[m] = {
                "median": statistics.median(v) if v else None,
                "min": min(v) if v else None, "max": max(v) if v else None,
                "n": len(v)}
        for (c, w), e in self.sys.items():
            s["syscalls"].setdefault(c, {})[w] = e
        for w in self.workloads:
            s["best"][w] = self.best(w)
        return s


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt0(v):
    return "-" if v is None else "%.0f" % v


# ---- plots --------------------------------------------------------------
def gnuplot(script, cwd):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd,
                       check=True, capture_output=True, timeout=60)
        return True
    except (OSError, subprocess.SubprocessError) as e:
        sys.stderr.write("report: gnuplot failed: %s\n" % e)
        return False


def bar_chart(path, title, ylabel, series, labels, data, errs=None,
              workdir="."):
    """series: names of bar series; data[label] = [value per series];
    errs[label] = [(lo, hi) per series] or None"""
    dat = os.path.join(workdir, os.path.basename(path) + ".dat")
    with open(dat, "w") as f:
        for lab in labels:
            row = [lab.replace("ringlb-", "ringlb\\n")]
            for i in range(len(series)):
                v = data[lab][i]
                lo, hi = (errs[lab][i] if errs and errs[lab][i][0] is not None
                          else (v, v))
                row += ["%g" % v if v is not None else "NaN",
                        "%g" % lo if lo is not None else "NaN",
                        "%g" % hi if hi is not None else "NaN"]
            f.write("\"%s\" %s\n" % (row[0], " ".join(row[1:])))
    plots = []
    colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"]
    for i, s in enumerate(series):
        col = 2 + 3 * i
        plots.append("'%s' using %d:%d:%d:xtic(1) title '%s' lc rgb '%s'"
                     % (os.path.basename(dat), col, col + 1, col + 2, s,
                        colors[i % len(colors)]))
    script = """
set terminal pngcairo size 900,440 font 'sans,10'
set bmargin 4.5
set output '%s'
set title '%s'
set ylabel '%s'
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set key %s
set xtics font 'sans,9'
plot %s
""" % (os.path.abspath(path), title.replace("'", ""), ylabel,
       "top right" if len(series) > 1 else "off", ", ".join(plots))
    return gnuplot(script, workdir)


def make_plots(R, imgdir, workdir):
    """the PNGs; returns {key: filename}"""
    os.makedirs(imgdir, exist_ok=True)
    made = fr_plots(R, imgdir, workdir)
    for w in R.workloads:
        m = MAIN_METRIC[w]
        labels = [c for c in R.contenders if R.values(w, c, m)]
        if not labels:
            continue
        data = {c: [R.med(w, c, m)] for c in labels}
        errs = {c: [(min(R.values(w, c, m)), max(R.values(w, c, m)))]
                for c in labels}
        fn = "bench-%s.png" % w
        if bar_chart(os.path.join(imgdir, fn),
                     "%s (median of %d, bars: min-max)"
                     % (TITLES[w], max(len(R.values(w, c, m))
                                       for c in labels)),
                     UNITS[w], [UNITS[w]], labels, data, errs, workdir):
            made[w] = fn
        if w in ("keepalive", "close"):
            labels = [c for c in R.contenders if R.values(w, c, "p99_us")]
            data = {c: [R.med(w, c, "p50_us"), R.med(w, c, "p99_us")]
                    for c in labels}
            errs = {c: [(min(R.values(w, c, "p50_us")),
                         max(R.values(w, c, "p50_us"))),
                        (min(R.values(w, c, "p99_us")),
                         max(R.values(w, c, "p99_us")))] for c in labels}
            fn = "bench-%s-latency.png" % w
            if bar_chart(os.path.join(imgdir, fn),
                         "%s: latency (median of rounds)" % TITLES[w],
                         "microseconds", ["p50", "p99"], labels, data, errs,
                         workdir):
                made[w + "-latency"] = fn
    labels = [c for c in R.contenders
              if R.per_req(c, "keepalive") is not None]
    if labels:
        data = {c: [R.per_req(c, "keepalive"), R.per_req(c, "close")]
                for c in labels}
        fn = "bench-syscalls.png"
        if bar_chart(os.path.join(imgdir, fn),
                     "Syscalls per request (perf stat raw_syscalls:sys_enter)",
                     "syscalls", ["keep-alive, per request",
                                  "close, per connection"],
                     labels, data, None, workdir):
            made["syscalls"] = fn
    labels = [c for c in R.contenders if c in R.mem
              and R.mem[c]["kib_per_conn"] is not None]
    if labels:
        data = {c: [R.mem[c]["kib_per_conn"]] for c in labels}
        fn = "bench-memory.png"
        if bar_chart(os.path.join(imgdir, fn),
                     "Memory per idle connection (PSS delta / connections)",
                     "KiB", ["KiB"], labels, data, None, workdir):
            made["memory"] = fn
    return made


# ---- reST ------------------------------------------------------------------
def rst_table(head, rows, widths=None):
    out = [".. list-table::", "   :header-rows: 1", ""]
    for r in [head] + rows:
        out.append("   * - " + (r[0] or "\\ "))
        for x in r[1:]:
            out.append("     - " + (x or "\\ "))
    return "\n".join(out) + "\n"


def literal(text):
    lines = text.rstrip("\n").split("\n") if text.strip() else ["(empty)"]
    return "::\n\n" + "\n".join("    " + ln for ln in lines) + "\n"


def read(path, limit=None):
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except OSError:
        return ""
    if limit:
        lines = lines[:limit]
    return "\n".join(ln.rstrip() for ln in lines)


def smaps_growth(before, after, top=8):
    """mappings whose Rss grew the most: [(name, kib)]"""
    def parse(path):
        d = {}
        name = None
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if not parts:
                        continue
                    if "-" in parts[0] and len(parts) >= 5 and \
                            not parts[0].endswith(":"):
                        name = parts[5] if len(parts) > 5 else "[anon]"
                    elif parts[0] == "Rss:" and name:
                        d[name] = d.get(name, 0) + int(parts[1])
        except OSError:
            pass
        return d
    b, a = parse(before), parse(after)
    g = [(n, a.get(n, 0) - b.get(n, 0)) for n in set(a) | set(b)]
    g = [x for x in g if x[1]]
    return sorted(g, key=lambda x: -x[1])[:top]


def hline(title, ch):
    return "%s\n%s\n" % (title, ch * len(title))


def write_doc(R, path):
    docdir = os.path.dirname(os.path.abspath(path))
    imgdir = os.path.join(docdir, "images")
    work = os.path.join(R.out, "plots")
    os.makedirs(work, exist_ok=True)
    plots = make_plots(R, imgdir, work)
    for fn in plots.values():
        shutil.copy(os.path.join(imgdir, fn), work)
    M = R.machine
    rounds = M.get("rounds", "?")
    t = []
    t.append(".. This file is generated by bench/bench.sh (bench/report.py) "
             "from one run of\n   `make bench`. Do not edit: run it again.\n")
    t.append(hline("Benchmarks", "="))
    t.append(
        "Every figure on this page comes from one run of ``make bench`` "
        "(``bench/bench.sh``) on the machine below; the raw results are in "
        "``$BUILD/bench/`` (``results.csv``, ``pace.jsonl``, "
        "``counts.csv``, ``syscalls.csv``, ``memory.csv``, "
        "``summary.json``). All contenders ran on loopback at the same "
        "time in front of the same backends, one worker each, and were "
        "measured in turn, interleaved: each round runs every contender "
        "once per workload, in a rotated order, and the tables give the "
        "median of the rounds. The machine is shared and noisy, so "
        "compare contenders within this run, as ratios, not with other "
        "runs.\n\n"
        "Two kinds of figures. **At a fixed offered rate** (first): "
        "each proxy carries the same load, well below its capacity, and "
        "the figures are what that costs it (CPU time per request) and "
        "what the clients see (latency from the time each request was "
        "due). These decide. **Closed loop** (after): wrk and iperf3 "
        "run flat out; on two shared cores that mostly measures how the "
        "scheduler shares them between client, proxy and backend, so "
        "those tables are kept for reference, not to decide by.\n")

    t.append(hline("Machine and versions", "-"))
    rows = [[k, M.get(k, "-")] for k in
            ("date", "os", "kernel", "cpu", "cpus", "mem", "load", "ringlb",
             "liburing", "haproxy", "nginx", "socat", "iperf3", "wrk",
             "perf", "elapsed")]
    rows[-1][1] += " s"
    t.append(rst_table(["", ""], rows))

    if R.blocks:
        t.append(hline("Targets at a fixed offered rate", "-"))
        t.append(
            "ringlb's default configuration (``ringlb-auto``: "
            "``--engine auto --forward auto``) against HAProxy %s in the "
            "same run, one worker each, at the fixed rates below. *ratio* "
            "is the median over the rounds of the ratio within each round; "
            "the CPU targets compare CPU time per request (lower is "
            "better), the latency targets p99 from the due time, *auto vs "
            "best mode* compares the default with ringlb's best explicit "
            "mode in that workload, and the pipelined target compares "
            "requests per second with the direct connection's (no "
            "proxy: the physical limit).\n"
            % (M.get("haproxy", "").split(" ")[2:3] or [""])[0])
        t.append(fr_targets_table(R))
        missed = [x["name"] for x in R.fr_targets() if x["met"] is False]
        t.append(("Not met in this run: %s.\n" % "; ".join(missed))
                 if missed else "All of them are met in this run.\n")
        t.append(floor_text(R))
        t.append(fr_section(R, plots))

    if not R.workloads:
        return finish_doc(R, t, path)
    t.append(hline("Closed-loop targets (the earlier issue)", "-"))
    t.append("Closed loop: wrk and iperf3 as fast as they go, so these "
             "mostly measure the scheduler on two shared cores. "
             "ringlb's best mode per workload (the ringlb mode with the "
             "highest median in that workload) against HAProxy in this run; "
             "the syscall target compares ringlb's io_uring engine with its "
             "own epoll engine on the same forwarding path (keep-alive "
             "load); the memory target applies to every ringlb mode.\n")
    rows = []
    for x in R.targets():
        rows.append([x["name"], x["mode"] or "-", x["detail"],
                     "-" if x["ratio"] is None else "%.2fx" % x["ratio"],
                     x["goal"],
                     {True: "met", False: "**not met**",
                      None: "no data"}[x["met"]]])
    t.append(rst_table(["target", "ringlb mode", "figures", "ratio", "goal",
                        "result"], rows))
    missed = [x for x in R.targets() if x["met"] is False]
    if missed:
        t.append("Not met in this run: %s. The profiles below show where "
                 "the time goes.\n" % "; ".join(x["name"] for x in missed))
    else:
        t.append("All targets are met in this run.\n")

    t.append(hline("Closed-loop results", "-"))
    t.append("Closed loop, medians of %s rounds. *cpu%%* is the proxy's CPU time over "
             "the measurement (user + system, all threads and processes, "
             "io-wq workers included; 100 = one core). *sys/req* counts "
             "the proxy's syscalls (``raw_syscalls:sys_enter``) per "
             "request of a separate %s-second keep-alive run, *sys/conn* "
             "per connection of a ``Connection: close`` run. *KiB/idle "
             "conn* is the growth of the proxy's PSS with %s idle "
             "keep-alive connections open, divided by their number "
             "(kernel socket memory is not included, for anybody).\n"
             % (rounds, M.get("sysdur", "?"), M.get("idle_conns", "?")))
    head, rows = R.table_rows()
    t.append(rst_table(head, rows))

    t.append("CPU efficiency (work per CPU-second of the proxy: less "
             "sensitive to a noisy machine than the rates):\n")
    rows = []
    for c in R.contenders:
        if c in ("direct", FLOOR):
            continue
        r = [c]
        for w in R.workloads:
            v, cpu = R.med(w, c, MAIN_METRIC[w]), R.med(w, c, "cpu_pct")
            if v is None or not cpu:
                r.append("-")
            elif w.startswith("bulk"):
                r.append("%.1f" % (v / (cpu / 100)))
            else:
                r.append("%.0f" % (v / (cpu / 100)))
        rows.append(r)
    t.append(rst_table(["contender"] + [
        "%s %s per CPU-s" % (w, "Gbit" if w.startswith("bulk") else
                             UNITS[w].split("/")[0])
        for w in R.workloads], rows))

    for w in R.workloads:
        t.append(hline(TITLES[w], "~"))
        if w in plots:
            t.append(".. image:: images/%s\n   :alt: %s\n" % (plots[w],
                                                             TITLES[w]))
        if w + "-latency" in plots:
            t.append(".. image:: images/%s\n   :alt: latency\n"
                     % plots[w + "-latency"])
    if "syscalls" in plots:
        t.append(hline("Syscalls per request", "~"))
        t.append(".. image:: images/%s\n   :alt: syscalls\n"
                 % plots["syscalls"])
        t.append(syscall_breakdown(R))
    if "memory" in plots:
        t.append(hline("Memory per idle connection", "~"))
        t.append(".. image:: images/%s\n   :alt: memory\n" % plots["memory"])
        rows = []
        for c in R.contenders:
            e = R.mem.get(c)
            if not e:
                continue
            rows.append([c, fmt0(e["conns"]),
                         "%.1f" % (e["pss_before_kib"] / 1024),
                         "%.1f" % (e["pss_after_kib"] / 1024),
                         fmt(e["kib_per_conn"]), fmt(e["rss_kib_per_conn"]),
                         fmt0(e["backend_conns"])])
        t.append(rst_table(["contender", "idle conns", "PSS before (MiB)",
                            "PSS after (MiB)", "KiB/conn (PSS)",
                            "KiB/conn (RSS)", "backend conns seen"], rows))

    t.append(profiles_section(R))

    return finish_doc(R, t, path)


def finish_doc(R, t, path):
    """How it was measured, the hand-kept record, and the file"""
    M = R.machine
    t.append(hline("How it was measured", "-"))
    t.append(
        "Command: ``%s``. Backends: ``iperf3 -s`` and nginx (one worker) "
        "returning a %s-byte body with keep-alive. Each proxy has one "
        "listener per backend and %s thread(s)/worker(s): ringlb "
        "``threads = %s`` with ``engine``/``forward`` set per mode "
        "(``ringlb-auto``: both ``auto``, the default) and "
        "``log-level = warn`` (no access lines; the others do not log "
        "either), HAProxy ``nbthread %s`` in ``mode tcp`` with ``option "
        "splice-auto``, nginx ``stream`` with ``worker_processes %s``, "
        "socat ``fork``. The configuration files are kept in "
        "``$BUILD/bench/logs/``.\n"
        % (M.get("command", "make bench"), M.get("body_bytes", "?"),
           M.get("threads", "?"), M.get("threads", "?"),
           M.get("threads", "?"), M.get("threads", "?")))
    d = M.get("duration", "?")
    fd, fw = M.get("fr_duration", "?"), M.get("fr_warmup", "?")
    t.append(literal(
        "rate-ka:    pace -m ka -r %s -c %s -d %s -w %s 127.0.0.1:PORT\n"
        "rate-close: pace -m close -r %s -d %s -w %s 127.0.0.1:PORT\n"
        "pipeline:   pace -m pipeline -c %s -D %s -d %s -w %s "
        "127.0.0.1:PORT\n"
        "            (pace is bench/pace.c, run under taskset -c on the "
        "load CPUs)\n"
        "placement:  taskset -a -p -c CPUS on every thread of the proxy "
        "(pinned: %s)\n"
        "            and of the backend (pinned: %s); io-wq workers made "
        "later inherit it\n"
        "cpu us:     utime+stime from /proc/PID/stat of the proxy's "
        "processes, before/after the run,\n"
        "            over the requests (connections) completed in it\n"
        "busy check: /proc/stat non-idle share over 1 s before each block "
        "(limit %s%%, %s checks %s s apart)\n"
        "counts:     perf stat -D -1 --control fifo -e task-clock,"
        "context-switches,cpu-migrations,\n"
        "            raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_"
        "enter,io_uring:io_uring_queue_async_work\n"
        "            -p PIDS, enabled for one more pace run per contender "
        "and block\n"
        "bulk1:      iperf3 -c 127.0.0.1 -p PORT -t %s -P 1 -J\n"
        "bulk8:      iperf3 -c 127.0.0.1 -p PORT -t %s -P 8 -J\n"
        "keepalive:  wrk -t%s -c%s -d%ss -s bench/wrk-json.lua "
        "http://127.0.0.1:PORT/\n"
        "close:      the same with BENCH_CLOSE=1 (Connection: close)\n"
        "cpu%%:       utime+stime (+ reaped children) from /proc/PID/stat "
        "of the proxy's process tree, before/after\n"
        "syscalls:   perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_"
        "... -p PIDS during wrk -d%ss (keep-alive, then close)\n"
        "memory:     fresh proxy, 1 s of wrk to warm up, PSS (smaps_rollup),"
        "\n            bench/idle.py opens %s connections, one request "
        "each, then idle; PSS again\n"
        "profiles:   perf record -e cpu-clock -F 1999 -g -p PIDS for %s s "
        "under the same load"
        % (M.get("rate_ka", "?"), M.get("rate_ka_conns", "?"), fd, fw,
           M.get("rate_close", "?"), fd, fw, M.get("pipe_conns", "?"),
           M.get("pipe_depth", "?"), fd, fw, M.get("pin_proxy", "?"),
           M.get("pin_load", "?"), M.get("busy_max", "?"),
           M.get("busy_tries", "?"), M.get("busy_wait", "?"),
           d, d, M.get("wrk_threads", "?"), M.get("wrk_conns", "?"), d,
           M.get("sysdur", "?"), M.get("idle_conns", "?"),
           M.get("prof_dur", "?"))))
    # the record of changes tried, kept or dropped: written by hand, as
    # measured then (not by this run), so it survives regeneration
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "what-we-tried.rst")
    if os.path.exists(notes):
        t.append(read(notes))
    with open(path, "w") as f:
        f.write("\n".join(t))


def syscall_breakdown(R):
    """per-syscall counts per request, keep-alive and close"""
    out = []
    for w, what in (("keepalive", "per request (keep-alive)"),
                    ("close", "per connection (Connection: close)")):
        cs = [c for c in R.contenders if (c, w) in R.sys
              and R.sys[(c, w)]["requests"]]
        if not cs:
            continue
        names = set()
        for c in cs:
            names |= set(R.sys[(c, w)]["calls"])
        names.discard("total")
        shown = sorted(
            (n for n in names
             if max(R.sys[(c, w)]["calls"].get(n, 0)
                    / R.sys[(c, w)]["requests"] for c in cs) >= 0.01),
            key=lambda n: -max(R.sys[(c, w)]["calls"].get(n, 0)
                               for c in cs))
        rows = []
        for n in shown + ["other", "total"]:
            r = [n]
            for c in cs:
                e = R.sys[(c, w)]
                if n == "other":
                    v = e["calls"].get("total", 0) - sum(
                        e["calls"].get(x, 0) for x in names)
                else:
                    v = e["calls"].get(n, 0)
                r.append("%.2f" % (v / e["requests"]))
            rows.append(r)
        out.append("Syscalls %s, by name:\n" % what)
        out.append(rst_table(["syscall"] + [c.replace("ringlb-", "")
                                            for c in cs], rows))
    return "\n".join(out)


# ---- the fixed-rate part of the page ------------------------------------------
def fr_setting(R, w):
    M = R.machine
    if w == "rate-ka":
        return "%s req/s over %s keep-alive connections" % (
            M.get("rate_ka", "?"), M.get("rate_ka_conns", "?"))
    if w == "rate-close":
        return "%s conn/s, one request each (Connection: close)" % \
            M.get("rate_close", "?")
    return "%s connections, %s requests in flight on each" % (
        M.get("pipe_conns", "?"), M.get("pipe_depth", "?"))


def block_title(R, b):
    w, _, p = b.partition("@")
    what = {"rate-ka": "Keep-alive", "rate-close": "Churn",
            "pipeline": "Pipelined"}[w]
    where = ("unpinned" if p == "unpinned" else
             "pinned: proxy on CPU %s, load generator and backend on CPU %s"
             % (R.machine.get("pin_proxy", "?"), R.machine.get("pin_load",
                                                               "?")))
    return "%s, %s (%s)" % (what, fr_setting(R, w), where)


def med_range(R, b, c, m, f=None):
    f = f or fmt
    v = R.med(b, c, m)
    s = R.spread(b, c, m)
    if v is None:
        return "-"
    if not s or s[0] == s[1]:
        return f(v)
    return "%s (%s-%s)" % (f(v), f(s[0]), f(s[1]))


def iqr_text(R, b, c, m):
    s = R.spread(b, c, m)
    if not s or s[2] is None:
        return "-"
    return "%.0f%%%s" % (s[2] * 100, "" if R.stable(b, c, m) else " *")


def fr_table(R, b):
    w = b.partition("@")[0]
    unit = FR_UNIT[w]
    rows = []
    if w == "pipeline":
        direct = R.med(b, "direct", "achieved")
        for c in R.fr_contenders(b):
            a = R.med(b, c, "achieved")
            rows.append([c, med_range(R, b, c, "achieved", fmt0),
                         iqr_text(R, b, c, "achieved"),
                         "%.2fx" % (a / direct) if a and direct else "-",
                         med_range(R, b, c, "cpu_us"),
                         fmt0(R.med(b, c, "p50_us")),
                         fmt0(R.med(b, c, "p99_us")),
                         "%d" % len(R.values(b, c, "achieved"))])
        return rst_table(["contender", "req/s (min-max)", "IQR",
                          "vs direct", "CPU us/req", "p50 us", "p99 us",
                          "runs"], rows)
    for c in R.fr_contenders(b):
        per = [R.count_per(b, c, e) for e in
               ("context-switches", "io_uring_enter", "iowq_punts",
                "syscalls")]
        rows.append([c, med_range(R, b, c, "cpu_us"),
                     iqr_text(R, b, c, "cpu_us"),
                     fmt0(R.med(b, c, "p50_us")),
                     fmt0(R.med(b, c, "p99_us")),
                     fmt0(R.med(b, c, "p999_us")),
                     iqr_text(R, b, c, "p99_us"),
                     "%d" % len(R.values(b, c, "achieved"))] +
                    [fmt(x) for x in per])
    return rst_table(["contender", "CPU us/%s (min-max)" % unit, "IQR",
                      "p50 us", "p99 us", "p99.9 us", "p99 IQR", "runs",
                      "ctx sw/%s" % unit, "enters/%s" % unit,
                      "io-wq punts/%s" % unit, "syscalls/%s" % unit], rows)


def fr_targets_table(R):
    rows = []
    for x in R.fr_targets():
        rows.append([x["name"], x["detail"],
                     "-" if x["ratio"] is None else "%.2fx" % x["ratio"],
                     "-" if not x["range"] else "%.2f-%.2fx" % x["range"],
                     x["rounds"] or "-", x["goal"],
                     {True: "met", False: "**not met**",
                      None: "no data"}[x["met"]]])
    return rst_table(["target", "figures (medians)", "ratio",
                      "per-round range", "rounds meeting it", "goal",
                      "result"], rows)


def floor_text(R):
    """the floor beside the CPU targets: what no trimming of ringlb beats"""
    refs = R.floor_refs()
    if not refs:
        return ""
    t = [hline("The floor under the CPU targets", "~")]
    t.append(
        "``floor`` (bench/floor.c) runs in the same rounds as the proxies: "
        "the kernel operations ringlb's default mode issues for this "
        "traffic (a SINGLE_ISSUER and DEFER_TASKRUN ring, multishot "
        "accept, multishot recv from a provided buffer ring, one send per "
        "buffer, one ``io_uring_enter`` per loop that waits for one "
        "completion more than the sends it queued, a blocking connect on "
        "loopback) with no proxy around them: no configuration, "
        "balancing, health, timeouts, limits, logs or metrics. Its CPU per "
        "request is what the kernel charges for those bytes and wake-ups. "
        "*floor vs HAProxy* is the least ratio a proxy built this way can "
        "reach here; *%s vs floor* is what ringlb costs on top of it. A "
        "target below the first is out of reach of any trimming of "
        "ringlb's own code: only a way to ask the kernel for less (fewer "
        "wake-ups, fewer or cheaper sends) could reach it.\n" % DEFAULT)
    rows = []
    for x in refs:
        fh, df = x["floor_vs_haproxy"], x["default_vs_floor"]
        rows.append([block_title(R, x["block"]),
                     fmt(x["us"][FLOOR]), fmt(x["us"][DEFAULT]),
                     fmt(x["us"]["haproxy"]),
                     "-" if not fh else "%.2fx (%.2f-%.2f)" % fh[:3],
                     "-" if not df else "%.2fx (%.2f-%.2f)" % df[:3],
                     "<= %.2fx" % x["goal"]])
    t.append(rst_table(["block", "floor us", "%s us" % DEFAULT,
                        "HAProxy us", "floor vs HAProxy (range)",
                        "%s vs floor (range)" % DEFAULT,
                        "target vs HAProxy"], rows))
    return "\n".join(t)


def fr_findings(R):
    """what the fixed-rate figures show, in words, from this run"""
    out = []
    for b in R.blocks:
        w = b.partition("@")[0]
        unit = FR_UNIT[w]
        cs = [c for c in R.fr_contenders(b) if c != "direct"]
        if w == "pipeline":
            d = R.med(b, "direct", "achieved")
            parts = ["%s %s" % (c, fmt0(R.med(b, c, "achieved")))
                     for c in sorted(cs, key=lambda c: -(R.med(
                         b, c, "achieved") or 0))]
            cpu = ["%s %s" % (c, fmt(R.med(b, c, "cpu_us")))
                   for c in (DEFAULT, "haproxy")
                   if R.med(b, c, "cpu_us") is not None]
            rel = ""
            a = R.med(b, DEFAULT, "achieved")
            if a and d:
                rel = " %s reached %.2fx the direct connection's rate." % (
                    DEFAULT, a / d)
            out.append("* **%s.** Requests per second (closed loop, %s "
                       "requests in flight per connection): direct %s; "
                       "%s.%s CPU us per request: %s (many requests share "
                       "each read and write).\n" % (
                           block_title(R, b),
                           R.machine.get("pipe_depth", "?"), fmt0(d),
                           ", ".join(parts), rel, ", ".join(cpu) or "-"))
            continue
        ranked = sorted((c for c in cs if R.med(b, c, "cpu_us")),
                        key=lambda c: R.med(b, c, "cpu_us"))
        if not ranked:
            continue
        txt = ["* **%s.** CPU per %s, cheapest first: %s." % (
            block_title(R, b), unit, ", ".join(
                "%s %s us" % (c, fmt(R.med(b, c, "cpu_us")))
                for c in ranked))]
        pr = R.paired(b, DEFAULT, "haproxy", "cpu_us")
        if pr:
            txt.append("%s against HAProxy, round by round: %.2fx "
                       "(%.2f-%.2fx over %d rounds)." % (
                           DEFAULT, pr[0], pr[1], pr[2], len(pr[3])))
        cnt = []
        for c in ranked:
            e = R.count_per(b, c, "io_uring_enter")
            x = R.count_per(b, c, "context-switches")
            pn = R.count_per(b, c, "iowq_punts")
            sc = R.count_per(b, c, "syscalls")
            if x is None:
                continue
            bits = ["%.2f context switches" % x]
            if e:
                bits.append("%.2f io_uring_enter" % e)
            if pn:
                bits.append("%.2f io-wq punts" % pn)
            if sc is not None:
                bits.append("%.1f syscalls" % sc)
            cnt.append("%s %s" % (c, ", ".join(bits)))
        if cnt:
            txt.append("Per %s (counting pass): %s." % (unit,
                                                        "; ".join(cnt)))
        lat = ["%s %s/%s us" % (c, fmt0(R.med(b, c, "p50_us")),
                                fmt0(R.med(b, c, "p99_us")))
               for c in ["direct", DEFAULT, "haproxy"]
               if R.med(b, c, "p50_us") is not None]
        if lat:
            txt.append("Latency p50/p99 from the due time: %s "
                       "(direct has no proxy: the least latency)."
                       % ", ".join(lat))
        lag = R.med(b, "direct", "lag_p50_us")
        if lag is not None:
            txt.append("The load generator sent %.0f us late at the median "
                       "(its timer; the same for every contender, and "
                       "inside every latency above)." % lag)
        out.append(" ".join(txt) + "\n")
    return "\n".join(out)


def stability_text(R):
    """which fixed-rate figures vary little enough over the rounds"""
    out = []
    for m, what in (("cpu_us", "CPU per request"), ("p50_us", "p50"),
                    ("p99_us", "p99"), ("p999_us", "p99.9"),
                    ("achieved", "pipelined req/s")):
        pairs = [(b, c) for b in R.blocks for c in R.fr_contenders(b)
                 if len(R.values(b, c, m)) >= 1 and
                 (m != "achieved" or b.startswith("pipeline"))]
        if not pairs:
            continue
        st = [x for x in pairs if R.stable(*x, m)]
        line = "* %s: stable in %d of %d (block, contender) pairs" % (
            what, len(st), len(pairs))
        bad = [x for x in pairs if x not in st]
        if bad and len(bad) <= 8:
            line += "; not in %s" % ", ".join(
                "%s %s" % (c, b) for b, c in bad)
        out.append(line + ".")
    twin = "ringlb-" + R.machine.get("auto_resolves", "")
    if twin in RINGLB and twin != DEFAULT:
        aa = []
        for b in R.blocks:
            m = "achieved" if b.startswith("pipeline") else "cpu_us"
            pr = R.paired(b, DEFAULT, twin, m)
            if pr:
                aa.append("%s %.2fx (%.2f-%.2fx)" % (b, pr[0], pr[1],
                                                    pr[2]))
        if aa:
            out.append("* A/A check: on this kernel %s resolves to %s, so "
                       "the two run the same code and their ratio shows "
                       "the measurement's own noise (CPU per request; "
                       "req/s when pipelined): %s." % (
                           DEFAULT, twin, "; ".join(aa)))
    if not out:
        return ""
    n = max((len(R.values(b, c, "p50_us")) for b in R.blocks
             for c in R.fr_contenders(b)), default=0)
    return ("A figure counts as stable enough to compare when its "
            "interquartile range over the rounds (the whole range below 4 "
            "rounds) is within %d%% of its median, over at least 3 rounds (marked * in the tables when "
            "not; %d rounds at most here). A target's ratio is taken round "
            "by round, each contender against the other in the same "
            "round, so slow drift of the machine cancels; the per-round "
            "range and the count of rounds that meet the goal say how "
            "firm it is.\n\n%s\n" % (STABLE_IQR * 100, n, "\n".join(out)))


def noise_text(R):
    """how busy the machine was: before the blocks, and during the runs"""
    idle = [v for b in R.blocks for v in R.values(b, "all",
                                                  "idle_before_pct")]
    oth = [v for b in R.blocks for c in R.fr_contenders(b)
           for v in R.values(b, c, "others_pct")]
    t = []
    if idle:
        t.append("Before each block the machine was %.1f%% busy at the "
                 "median (%.1f-%.1f%%; all CPUs = 100%%, limit %s%%)" % (
                     statistics.median(idle), min(idle), max(idle),
                     R.machine.get("busy_max", "?")))
    if oth:
        t.append("during the runs, CPU time that neither the proxy, the "
                 "backend nor the load generator used (another job, "
                 "kernel threads) came to %.1f%% of the machine at the "
                 "median, %.1f%% at most" % (statistics.median(oth),
                                             max(oth)))
    s = "; ".join(t) + "." if t else ""
    s = s[:1].upper() + s[1:]
    if R.skipped:
        s += " Skipped for a busy machine: %d block(s)." % len(R.skipped)
    if R.dropped:
        s += " Dropped for falling more than 1%% short of the offered " \
             "rate: %d run(s)." % len(R.dropped)
    return s + "\n" if s else ""


def accounting_table(R):
    """the CPU accounting used, next to perf's task-clock"""
    rows = []
    for (b, c), e in sorted(R.counts.items()):
        tc = e["events"].get("task-clock")
        pm = e["proc_ms"]
        cs = R.count_per(b, c, "context-switches")
        if tc is None or not pm:
            continue
        rows.append([b, c, "%.0f" % pm, "%.0f" % tc, "%.2f" % (tc / pm),
                     fmt(cs)])
    if not rows:
        return ""
    ratios = [float(r[4]) for r in rows]
    return ("The proxy's CPU time is utime+stime from ``/proc/PID/stat`` "
            "of each of its processes. For a process that figure covers "
            "every thread, including io_uring's io-wq workers (threads of "
            "the process, ``iou-wrk-*``) and the threads that exited during "
            "the run (the kernel folds their time into the process's "
            "totals when they exit), and it is the scheduler's own runtime "
            "count (on the development VM it matched the sum of "
            "``/proc/PID/task/*/schedstat`` within 1%% while no thread "
            "exited). In the counting pass, ``perf stat -e task-clock`` "
            "ran on the same processes (io-wq workers inherit its "
            "counters), enabled and disabled at the moments ``/proc`` was "
            "read. Here it read %.2f-%.2f of the ``/proc`` figure. perf "
            "agrees with the scheduler for a busy loop that never sleeps; "
            "the gap comes with processes that sleep and wake thousands of "
            "times a second, where perf stops and starts its clock at the "
            "context-switch hooks while the scheduler charges the time "
            "around them. The tables above use the ``/proc`` figure, the "
            "larger, for every contender alike.\n\n"
            % (min(ratios), max(ratios))
            + rst_table(["block", "contender", "/proc CPU ms",
                         "task-clock ms", "ratio", "ctx sw/req"], rows))


def skipped_dropped_tables(R):
    t = []
    if R.skipped:
        t.append("Blocks skipped:\n")
        t.append(rst_table(["round", "block", "busy %", "why"],
                           [[x["round"], x["block"], x["busy_pct"],
                             x["reason"]] for x in R.skipped]))
    if R.dropped:
        t.append("Runs dropped (not in any median):\n")
        t.append(rst_table(["round", "block", "contender", "achieved",
                            "offered", "why"],
                           [[x["round"], x["block"], x["contender"],
                             x["achieved"], x["offered"], x["why"]]
                            for x in R.dropped]))
    return "\n".join(t)


def fr_section(R, plots):
    """the fixed-rate results: tables, plots, findings, stability"""
    M = R.machine
    t = [hline("At a fixed offered rate", "-")]
    t.append(
        "bench/pace.c offers a fixed rate, well below what every "
        "contender can carry, on a timetable fixed in advance, and "
        "measures each request from the time it was due (a stall delays "
        "the requests behind it and they all count it: no coordinated "
        "omission). Each block runs every contender once, in a rotated "
        "order; %s rounds were asked for, each run %s s after %s s of "
        "warm-up. *CPU us* is the proxy's CPU time over the run divided "
        "by the requests (or connections) completed: the figure that "
        "says what the proxy itself costs. Medians of the rounds, with "
        "the range; *IQR* is the interquartile range over the median "
        "(the whole range when fewer than 4 rounds were measured; * when "
        "above %d%%: not stable enough to compare). The counts "
        "per request come from a separate counting pass (``perf stat``: "
        "the syscall tracepoints slow every syscall, so they stay out of "
        "the timed runs).\n"
        % (M.get("fr_rounds", "?"), M.get("fr_duration", "?"),
           M.get("fr_warmup", "?"), STABLE_IQR * 100))
    t.append(noise_text(R))
    for b in R.blocks:
        t.append(hline(block_title(R, b), "~"))
        t.append(fr_table(R, b))
        if ("fr-" + b) in plots:
            t.append(".. image:: images/%s\n   :alt: %s\n"
                     % (plots["fr-" + b], block_title(R, b)))
    t.append(hline("What the fixed-rate figures show", "~"))
    t.append(fr_findings(R))
    t.append(hline("Which figures are stable enough to compare", "~"))
    t.append(stability_text(R))
    t.append(skipped_dropped_tables(R))
    t.append(hline("CPU accounting, checked", "~"))
    t.append(accounting_table(R))
    return "\n".join(t)


def fr_plots(R, imgdir, workdir):
    made = {}
    for b in R.blocks:
        w = b.partition("@")[0]
        m = "achieved" if w == "pipeline" else "cpu_us"
        labels = [c for c in R.fr_contenders(b) if R.values(b, c, m)]
        if not labels:
            continue
        data = {c: [R.med(b, c, m)] for c in labels}
        errs = {c: [(min(R.values(b, c, m)), max(R.values(b, c, m)))]
                for c in labels}
        fn = "bench-fr-%s.png" % b.replace("@", "-")
        ylabel = "req/s" if w == "pipeline" else \
            "CPU us per %s" % FR_UNIT[w]
        if bar_chart(os.path.join(imgdir, fn), "%s (median, bars: min-max)"
                     % block_title(R, b)[:90], ylabel, [ylabel], labels,
                     data, errs, workdir):
            made["fr-" + b] = fn
    return made


# Kernel symbols by subsystem, first match wins (prefixes). The sampling
# is cpu-clock (hrtimer): on a VM a sample often lands where interrupts
# are re-enabled, hence the irq-restore bucket.
CATEGORIES = [
    ("io_uring", ("io_", "__io_", "io_uring", "__sys_io_uring",
                  "__x64_sys_io_uring", "tctx_task_work")),
    ("epoll/poll", ("ep_", "__ep_", "do_epoll", "__x64_sys_epoll",
                    "__sys_epoll", "tcp_poll", "sock_poll", "ep_poll",
                    "do_sys_poll", "__pollwait")),
    ("splice/pipe", ("splice", "__splice", "do_splice", "pipe_",
                     "anon_pipe", "skb_splice", "iter_file_splice",
                     "generic_splice", "__x64_sys_splice", "sock_splice",
                     "tcp_splice", "__tcp_splice", "spd_", "free_pipe",
                     "alloc_pipe", "create_pipe", "do_pipe", "__do_pipe",
                     "__x64_sys_pipe", "pipe2", "page_cache_pipe")),
    ("TCP/IP + loopback", ("tcp", "__tcp", "ip_", "__ip", "ipv4_",
                           "inet", "__inet", "skb", "__skb", "kfree_skb",
                           "__kfree_skb", "consume_skb", "napi",
                           "__napi", "sk_", "__sk_", "sock_", "__sock",
                           "release_sock", "lock_sock", "net_",
                           "__netif", "netif_", "loopback", "dev_",
                           "__dev_", "validate_xmit", "bbr_", "raw_v4",
                           "nf_", "ipt_", "__alloc_skb", "alloc_skb",
                           "process_backlog", "csum", "__copy_skb",
                           "_copy_to_iter", "_copy_from_iter",
                           "copy_to_user", "copy_from_user",
                           "__check_object_size", "check_heap_object",
                           "__virt_addr_valid", "rep_movs",
                           "skb_", "__build_skb", "dst_", "__dst",
                           "fib_", "rt_", "ktime_get", "__sys_sendto",
                           "__sys_recvfrom", "__x64_sys_sendto",
                           "__x64_sys_recvfrom", "sock_sendmsg",
                           "sock_recvmsg", "__sys_sendmsg",
                           "__sys_recvmsg", "____sys_", "__sys_connect",
                           "__sys_accept", "do_accept", "__sys_socket",
                           "__sys_shutdown", "__sys_setsockopt",
                           "do_sock", "sockfd_lookup", "move_addr",
                           "reqsk", "secure_tcp", "siphash",
                           "__inet_hash", "inet_", "sk_alloc",
                           "sk_free", "__sk_free", "sockfs", "sock_alloc",
                           "lookup_", "ip4_", "ipv4", "mem_cgroup_charge_skmem",
                           "__mem_cgroup_charge_skmem", "mem_cgroup_uncharge_skmem",
                           "handle_softirqs", "__do_softirq", "do_softirq",
                           "__local_bh_enable", "local_bh_enable",
                           "read_tsc")),
    ("syscall entry/exit, fd table", ("do_syscall", "entry_SYSCALL",
                                      "syscall_", "__x64_sys", "x64_sys",
                                      "fdget", "__fdget", "fput",
                                      "__fput", "fget", "__fget",
                                      "alloc_fd", "file_close_fd",
                                      "close_fd", "filp_close",
                                      "fd_install", "__x64_sys_close",
                                      "exit_to_user", "arch_exit",
                                      "restore_fpregs", "switch_fpu",
                                      "fpregs_", "__rseq", "rseq_",
                                      "__fsnotify", "fsnotify",
                                      "security_", "apparmor",
                                      "aa_", "bpf_lsm", "audit")),
    ("scheduler, wakeups", ("schedule", "__schedule", "finish_task_switch",
                            "try_to_wake_up", "ttwu", "enqueue",
                            "dequeue", "pick_next", "update_curr",
                            "update_load", "psi_", "__wake_up",
                            "wake_up", "autoremove_wake",
                            "default_wake", "select_task_rq",
                            "set_next_entity", "put_prev",
                            "__update_load", "update_rq_clock",
                            "sched_", "__sched", "prepare_task_switch",
                            "__switch_to", "switch_mm", "do_task_dead",
                            "task_work", "hrtimer", "__hrtimer",
                            "schedule_hrtimeout", "reweight",
                            "check_preempt", "resched", "native_sched",
                            "kick_process", "futex", "__futex")),
    ("irq restore / locks", ("_raw_spin", "__raw_spin",
                             "__raw_callee_save", "queued_spin",
                             "native_queued", "_raw_read", "_raw_write",
                             "__pv_queued", "mutex_", "__mutex",
                             "rcu", "__rcu")),
    ("memory (slab, pages, memcg)", ("kmem_cache", "kmalloc",
                                     "__kmalloc", "kfree", "__kfree",
                                     "slab", "__slab", "___slab",
                                     "page_", "__page", "alloc_pages",
                                     "__alloc_pages", "free_", "__free",
                                     "__memcg", "memcg", "mod_memcg",
                                     "__mod_memcg", "obj_cgroup",
                                     "refill_obj", "get_page_from",
                                     "rmqueue", "__rmqueue", "memset",
                                     "clear_page", "__memset",
                                     "memcpy", "__memcpy", "mod_objcg",
                                     "drain_obj", "mem_cgroup",
                                     "__mem_cgroup", "kvfree",
                                     "__kvmalloc", "kvmalloc",
                                     "__put_partials", "put_cpu_partial",
                                     "get_partial", "__refill_stock",
                                     "consume_obj_stock")),
]


def categorize(path):
    """{category: percent} from a 'perf report --sort dso,sym' dump"""
    cats = {}
    try:
        f = open(path)
    except OSError:
        return cats
    with f:
        for line in f:
            parts = line.split()
            if len(parts) < 4 or not parts[0].endswith("%"):
                continue
            try:
                pct = float(parts[0][:-1])
            except ValueError:
                continue
            dso, kind, sym = parts[1], parts[2], " ".join(parts[3:])
            if kind != "[k]":
                name = ("proxy code (user)" if not dso.startswith("lib")
                        else "libraries (user: libc, liburing...)")
                if dso.startswith("liburing"):
                    name = "libraries (user: libc, liburing...)"
            else:
                name = "other kernel"
                for cat, prefixes in CATEGORIES:
                    if sym.startswith(prefixes):
                        name = cat
                        break
            cats[name] = cats.get(name, 0.0) + pct
    return cats


CAT_ORDER = ["proxy code (user)", "libraries (user: libc, liburing...)"] + \
    [c for c, _ in CATEGORIES] + ["other kernel"]


def breakdown_table(R, w, contenders):
    """where a request's CPU goes, per contender, in microseconds"""
    pdir = os.path.join(R.out, "profiles")
    cols, rows = [], []
    for c in contenders:
        cats = categorize(os.path.join(pdir, "%s-%s.all.txt" % (c, w)))
        if cats:
            cols.append((c, cats))
    if not cols:
        return ""
    per = {}
    for c, _ in cols:
        rate, cpu = R.med(w, c, MAIN_METRIC[w]), R.med(w, c, "cpu_pct")
        per[c] = (cpu / 100.0 / rate * 1e6 if rate and cpu else None)
        if w.startswith("bulk") and rate and cpu:
            per[c] = cpu / 100.0 / (rate / 8.0)   # CPU-s per GB
    unit = "CPU ms per GB" if w.startswith("bulk") else "CPU us per %s" % (
        "request" if w == "keepalive" else "connection")
    if w.startswith("bulk"):
        per = {c: (v * 1000 if v is not None else None)
               for c, v in per.items()}
    total = ["**total**"] + ["**%s**" % fmt(per[c]) for c, _ in cols]
    for cat in CAT_ORDER:
        if not any(cats.get(cat, 0) >= 0.5 for _, cats in cols):
            continue
        r = [cat]
        for c, cats in cols:
            p = cats.get(cat, 0.0)
            r.append("%.1f%% (%s)" % (p, fmt(per[c] * p / 100)
                                      if per[c] is not None else "-"))
        rows.append(r)
    rows.append(total)
    return ("Share of the proxy's CPU samples by where they fall, and in "
            "brackets the %s this makes (CPU time over the measurement "
            "divided by the work done):\n\n" % unit
            + rst_table(["where"] + [c for c, _ in cols], rows))


def iowq_text(R, c, w):
    """what io_uring punted to io-wq worker threads, from the profile"""
    base = os.path.join(R.out, "profiles", "%s-%s" % (c, w))
    share = 0.0
    for line in read(base + ".comm.txt").split("\n"):
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("iou-wrk"):
            share += float(parts[0].rstrip("%"))
    if not share:
        return ""
    ops, lock = [], 0.0
    skip = ("io_wq", "io_worker", "io_issue", "io_assign", "io_req",
            "io_queue", "io_submit", "io_poll", "io_uring_", "io_file",
            "io_put", "io_free", "io_cqe", "io_fill", "io_post",
            "io_acct", "io_get", "io_run", "io_ring", "io_should")
    for line in read(base + ".iowq.txt").split("\n"):
        parts = line.split()
        if len(parts) < 4:
            continue
        sym, pct = parts[3], float(parts[0].rstrip("%"))
        if sym.startswith("io_") and not sym.startswith(skip):
            ops.append("``%s`` %.1f%%" % (sym, pct))
        if sym == "__mutex_lock.constprop.0" or sym == "__mutex_lock":
            lock = max(lock, pct)
    t = ("io-wq worker threads (``iou-wrk-*``, io_uring's punted "
         "requests) took **%.1f%%** of %s's samples" % (share, c))
    if ops:
        t += "; the request handlers they ran (with what they called): " + \
            ", ".join(ops[:6])
    if lock:
        t += "; %.1f%% went to waiting for the ring's lock " \
             "(``__mutex_lock``)" % lock
    return t + ".\n"


def profiles_section(R):
    pdir = os.path.join(R.out, "profiles")
    t = []
    files = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
    targets = R.targets()
    missed = [x for x in targets if x["met"] is False]
    if not missed:
        return ""
    t.append(hline("Where the time goes (closed loop)", "-"))
    t.append("Generated for each closed-loop target missed in this "
             "run.\n")
    for w in ("bulk1", "keepalive", "close"):
        if not any(x["workload"] == w for x in missed):
            continue
        t.append(hline(TITLES[w], "~"))
        t.append(breakdown_table(R, w, [R.best(w), "haproxy"]))
        for c in [R.best(w), "haproxy"]:
            t.append(iowq_text(R, c, w))
            base = os.path.join(pdir, "%s-%s" % (c, w))
            if not os.path.exists(base + ".sym.txt"):
                continue
            t.append(hline("%s: %s" % (w, c), "^"))
            t.append("``perf record -e cpu-clock`` of the proxy under the "
                     "%s load; share of the proxy's samples by thread, "
                     "then the top symbols (kernel and user):\n" % w)
            t.append(literal(read(base + ".comm.txt", 12)))
            t.append(literal(read(base + ".sym.txt", 25)))
    sc = [x for x in missed if x["workload"] == "syscalls"]
    if sc:
        t.append(hline("Syscalls", "~"))
        t.append("The per-syscall tables above show which calls the "
                 "io_uring engine still makes per request.\n")
    mm = [x for x in missed if x["workload"] == "memory"]
    for x in mm:
        c = x["mode"]
        g = smaps_growth(os.path.join(R.out, "smaps", c + "-before.txt"),
                         os.path.join(R.out, "smaps", c + "-after.txt"))
        if not g:
            continue
        t.append(hline("Memory, %s" % c, "~"))
        t.append("Mappings of the ringlb process whose RSS grew with the "
                 "idle connections (KiB, /proc/PID/smaps before and "
                 "after):\n")
        t.append(rst_table(["mapping", "RSS growth (KiB)"],
                           [[n, "%d" % k] for n, k in g]))
    return "\n".join(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--best")
    g.add_argument("--missed", action="store_true")
    g.add_argument("--table", action="store_true")
    ap.add_argument("--doc")
    a = ap.parse_args()
    R = Results(a.out, a.results)
    if a.best:
        print(R.best(a.best) or "")
        return 0
    if a.missed:
        print(" ".join(R.missed_workloads()))
        return 0
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(R.summary(), f, indent=1, default=str)
    print()
    for b in R.blocks:
        w = b.partition("@")[0]
        print("fixed rate, %s: medians of up to %s rounds" % (
            block_title(R, b), R.machine.get("fr_rounds", "?")))
        m = "achieved" if w == "pipeline" else "cpu_us"
        print("  %-22s %14s %6s %8s %8s %9s %5s" % (
            "contender", "req/s" if w == "pipeline" else
            "CPU us/" + {"request": "req", "connection": "conn"}[
                FR_UNIT[w]], "IQR", "p50us", "p99us", "p99.9us",
            "runs"))
        for c in R.fr_contenders(b):
            print("  %-22s %14s %6s %8s %8s %9s %5d" % (
                c, fmt(R.med(b, c, m)), iqr_text(R, b, c, m),
                fmt0(R.med(b, c, "p50_us")), fmt0(R.med(b, c, "p99_us")),
                fmt0(R.med(b, c, "p999_us")),
                len(R.values(b, c, "achieved"))))
        print()
    if R.blocks:
        print("targets at a fixed rate (%s vs the other, per-round "
              "ratios):" % DEFAULT)
        for x in R.fr_targets():
            print("  %-50s %-26s %7s %-12s %-6s goal %-9s %s" % (
                x["name"], x["detail"],
                "-" if x["ratio"] is None else "%.2fx" % x["ratio"],
                "" if not x["range"] else "%.2f-%.2f" % x["range"],
                x["rounds"] or "", x["goal"],
                {True: "met", False: "NOT MET", None: "no data"}[x["met"]]))
        for x in R.floor_refs():
            fh, df = x["floor_vs_haproxy"], x["default_vs_floor"]
            print("  floor %-22s %s us; vs HAProxy %s; %s vs floor %s" % (
                x["block"], fmt(x["us"][FLOOR]),
                "-" if not fh else "%.2fx (%.2f-%.2f)" % fh[:3], DEFAULT,
                "-" if not df else "%.2fx (%.2f-%.2f)" % df[:3]))
        print()
    if not R.workloads:
        if a.doc:
            write_doc(R, a.doc)
            print("\nwrote %s" % a.doc)
        return 0
    print("ringlb bench, closed loop: medians of %s rounds, %s s each, %s "
          "proxy thread(s), kernel %s, %s CPUs"
          % (R.machine.get("rounds", "?"), R.machine.get("duration", "?"),
             R.machine.get("threads", "?"), R.machine.get("kernel", "?"),
             R.machine.get("cpus", "?")))
    print(R.text_table())
    print()
    print("closed-loop targets (ringlb best mode vs HAProxy, same run):")
    for x in R.targets():
        print("  %-52s %-22s %-30s %7s  goal %-9s %s" % (
            x["name"], x["mode"] or "-", x["detail"],
            "-" if x["ratio"] is None else "%.2fx" % x["ratio"], x["goal"],
            {True: "met", False: "NOT MET", None: "no data"}[x["met"]]))
    if a.doc:
        write_doc(R, a.doc)
        print("\nwrote %s" % a.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
