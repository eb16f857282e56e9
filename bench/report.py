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
memory.csv, machine.txt, profiles/ and smaps/.
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

CONTENDER_ORDER = ["direct", "ringlb-uring-splice", "ringlb-uring-buffers",
                   "ringlb-epoll-splice", "ringlb-epoll-buffers", "haproxy",
                   "nginx", "socat"]
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
        with open(results_csv) as f:
            for row in csv.DictReader(f):
                v = num(row["value"])
                key = (row["workload"], row["contender"], row["metric"])
                self.raw.setdefault(key, [])
                if v is not None:
                    self.raw[key].append(v)
        self.contenders = order({k[1] for k in self.raw})
        self.workloads = [w for w in WORKLOADS
                          if any(k[0] == w for k in self.raw)]
        self.sys = self._syscalls()
        self.mem = self._memory()
        self.machine = self._machine()

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
        rows = [[c] + [f(c) for _, f in cols] for c in self.contenders]
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
             "memory": self.mem, "targets": self.targets(), "best": {}}
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
set terminal pngcairo size 900,420 font 'sans,10'
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
    made = {}
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
        "``$BUILD/bench/`` (``results.csv``, ``syscalls.csv``, "
        "``memory.csv``, ``summary.json``). All contenders ran on loopback "
        "at the same time in front of the same backends, and were measured "
        "in turn, interleaved: each of the %s rounds runs every contender "
        "once per workload, in a rotated order, and the tables give the "
        "median of the rounds. The machine is shared and noisy, so compare "
        "contenders within this run, as ratios, not with other runs.\n"
        % rounds)

    t.append(hline("Machine and versions", "-"))
    rows = [[k, M.get(k, "-")] for k in
            ("date", "os", "kernel", "cpu", "cpus", "mem", "load", "ringlb",
             "liburing", "haproxy", "nginx", "socat", "iperf3", "wrk",
             "perf", "elapsed")]
    rows[-1][1] += " s"
    t.append(rst_table(["", ""], rows))

    t.append(hline("Targets", "-"))
    t.append("ringlb's best mode per workload (the ringlb mode with the "
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

    t.append(hline("Results", "-"))
    t.append("Medians of %s rounds. *cpu%%* is the proxy's CPU time over "
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
        if c == "direct":
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

    t.append(hline("How it was measured", "-"))
    t.append(
        "Command: ``%s``. Backends: ``iperf3 -s`` and nginx (one worker) "
        "returning a %s-byte body with keep-alive. Each proxy has one "
        "listener per backend and %s thread(s)/worker(s): ringlb "
        "``threads = %s`` with ``engine``/``forward`` set per mode and "
        "``log-level = warn`` (no access lines; the others do not log "
        "either), HAProxy ``nbthread %s`` in ``mode tcp`` with ``option "
        "splice-auto``, nginx ``stream`` with ``worker_processes %s``, "
        "socat ``fork``. The configuration files are kept in "
        "``$BUILD/bench/logs/``.\n"
        % (M.get("command", "make bench"), M.get("body_bytes", "?"),
           M.get("threads", "?"), M.get("threads", "?"),
           M.get("threads", "?"), M.get("threads", "?")))
    d = M.get("duration", "?")
    t.append(literal(
        "bulk1:     iperf3 -c 127.0.0.1 -p PORT -t %s -P 1 -J\n"
        "bulk8:     iperf3 -c 127.0.0.1 -p PORT -t %s -P 8 -J\n"
        "keepalive: wrk -t%s -c%s -d%ss -s bench/wrk-json.lua "
        "http://127.0.0.1:PORT/\n"
        "close:     the same with BENCH_CLOSE=1 (Connection: close)\n"
        "cpu%%:      utime+stime (+ reaped children) from /proc/PID/stat "
        "of the proxy's process tree, before/after\n"
        "syscalls:  perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_"
        "... -p PIDS during wrk -d%ss (keep-alive, then close)\n"
        "memory:    fresh proxy, 1 s of wrk to warm up, PSS (smaps_rollup),"
        "\n           bench/idle.py opens %s connections, one request "
        "each, then idle; PSS again\n"
        "profiles:  perf record -e cpu-clock -F 1999 -g -p PIDS for %s s "
        "under the same load"
        % (d, d, M.get("wrk_threads", "?"), M.get("wrk_conns", "?"), d,
           M.get("sysdur", "?"), M.get("idle_conns", "?"),
           M.get("prof_dur", "?"))))
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


def profiles_section(R):
    pdir = os.path.join(R.out, "profiles")
    t = []
    files = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
    targets = R.targets()
    missed = [x for x in targets if x["met"] is False]
    if not missed:
        return ""
    t.append(hline("Where the time goes", "-"))
    t.append("Generated for each target missed in this run.\n")
    for w in ("bulk1", "keepalive", "close"):
        if not any(x["workload"] == w for x in missed):
            continue
        for c in [R.best(w), "haproxy"]:
            base = os.path.join(pdir, "%s-%s" % (c, w))
            if not os.path.exists(base + ".sym.txt"):
                continue
            t.append(hline("%s, %s" % (TITLES[w], c), "~"))
            t.append("``perf record -e cpu-clock`` of the proxy under the "
                     "%s load; share of the proxy's samples by thread, "
                     "then by symbol (kernel and user):\n" % w)
            t.append(literal(read(base + ".comm.txt", 12)))
            t.append(literal(read(base + ".sym.txt", 32)))
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
    print("ringlb bench: medians of %s rounds, %s s each, %s proxy "
          "thread(s), kernel %s, %s CPUs"
          % (R.machine.get("rounds", "?"), R.machine.get("duration", "?"),
             R.machine.get("threads", "?"), R.machine.get("kernel", "?"),
             R.machine.get("cpus", "?")))
    print(R.text_table())
    print()
    print("targets (ringlb best mode vs HAProxy, same run):")
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
