#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn `make vmbench`'s VM logs into Documentation/benchmarks-uringstat.rst.

usage: vmbench-report.py OUT.rst VER=DIR...

DIR is a VM's output directory (build/vm/VER-bench). Its console.log holds
one line per vmbench run, from selftests/vm/init.sh:
  # vmbench-result round=R state=unloaded|loaded|timed vmbench nop=R rr=R
    bulk=R nops=N reqs=N bytes=N sqes_seen=N     (or "vmbench failed")
and its plugin.log, from the icount QEMU plugin (bench/icount-plugin.c),
the guest's instruction count at each of vmbench's markers:
  icount: mark 0xID insns N host_ns T
ID 0 starts a run, then (PHASE << 1 | END) with PHASE 1 nop, 2 rr, 3 bulk;
the k-th run in the plugin's log is the k-th result line of the console.
The page gives, per kernel, guest instructions per io_uring NOP, per
request/response through ringlb and per MiB of bulk through ringlb, with
the module unloaded, loaded at its defaults and loaded with every request
timed (latency_sample=1) (medians over the rounds, and their spread), and the wall-clock rates (from the host's clock at the markers),
labelled as the noisy figures they are.
"""
import datetime
import os
import re
import statistics
import subprocess
import sys

RESULT = re.compile(r"vmbench-result round=(\d+) state=(\w+) (.*)$")
FIELDS = re.compile(r"(\w+)=([\d.]+)")
MARK = re.compile(r"icount: mark 0x([0-9a-f]+) insns (\d+)(?: host_ns (\d+))?")
PHASES = {1: "nop", 2: "rr", 3: "bulk"}
# what one unit of each phase is, and how many units a run's line names
UNIT = {"nop": ("NOP", "nops", 1), "rr": ("request", "reqs", 1),
        "bulk": ("MiB", "bytes", 1 << 20)}


def parse_console(path):
    rows = []
    with open(path, errors="replace") as f:
        for line in f:
            m = RESULT.search(line.replace("\r", ""))
            if not m:
                continue
            row = {"round": int(m.group(1)), "state": m.group(2),
                   "ok": "vmbench failed" not in m.group(3)}
            for k, v in FIELDS.findall(m.group(3)):
                row[k] = float(v)
            rows.append(row)
    return rows


def parse_marks(path):
    """The runs of the plugin's log: one dict each, phase -> instructions
    and "wall" -> phase -> host seconds."""
    runs = []
    if not os.path.exists(path):
        return runs
    with open(path, errors="replace") as f:
        for line in f:
            m = MARK.search(line)
            if not m:
                continue
            mid, n = int(m.group(1), 16), int(m.group(2))
            t = int(m.group(3)) / 1e9 if m.group(3) else None
            if mid == 0:
                runs.append({"_begin": {}, "_t": {}, "wall": {}})
                continue
            if not runs:
                continue
            phase, end = PHASES.get(mid >> 1), mid & 1
            if phase is None:
                continue
            if not end:
                runs[-1]["_begin"][phase] = n
                runs[-1]["_t"][phase] = t
            elif phase in runs[-1]["_begin"]:
                runs[-1][phase] = n - runs[-1]["_begin"][phase]
                if t is not None and runs[-1]["_t"].get(phase) is not None:
                    runs[-1]["wall"][phase] = t - runs[-1]["_t"][phase]
    return runs


def kernel_of(path):
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(r"VMCHECK-BEGIN (\S+)", line)
            if m:
                return m.group(1)
    return "?"


def per_unit(row, phase):
    """Instructions per unit of PHASE in ROW, or None."""
    _, key, scale = UNIT[phase]
    if phase not in row.get("insns", {}) or not row.get(key):
        return None
    return row["insns"][phase] / (row[key] / scale)


def rate(row, key):
    """ROW's wall-clock rate of KEY: the host's timing where the plugin
    gave it, else vmbench's own (the guest's clock)."""
    return row.get("wall_" + key, row.get(key))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """(max - min) / median of VALUES, as a percentage, or None."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    return (max(values) - min(values)) / statistics.median(values) * 100


def fmt(v, digits=0):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    kernels = []
    for arg in sys.argv[2:]:
        ver, d = arg.split("=", 1)
        console = os.path.join(d, "console.log")
        rows = parse_console(console)
        if not rows:
            print(f"vmbench-report: no results in {console}", file=sys.stderr)
            return 1
        marks = parse_marks(os.path.join(d, "plugin.log"))
        if marks and len(marks) != len(rows):
            print(f"vmbench-report: {console}: {len(rows)} runs but "
                  f"{len(marks)} in plugin.log: not pairing them",
                  file=sys.stderr)
            marks = []
        for row, m in zip(rows, marks):
            if row["ok"]:
                row["insns"] = {k: v for k, v in m.items()
                                if not k.startswith("_") and k != "wall"}
                # wall-clock rates: the guest's own clock is virtual
                # under -icount, the host's is not
                for phase, secs in m["wall"].items():
                    _, key, scale = UNIT[phase]
                    if secs > 0 and row.get(key):
                        row["wall_" + phase] = row[key] / secs / (
                            1e6 if phase == "bulk" else 1)
        kernels.append((ver, kernel_of(console), rows, bool(marks)))
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"

    lines = [
        ".. Generated by `make vmbench` (bench/vmbench-report.py). Do not edit.",
        "",
        "uringstat's cost",
        "================",
        "",
        "Measured inside the QEMU test VMs (``-accel tcg,thread=single``, one",
        "vCPU, ``-icount shift=0,sleep=off``: the guest's clock follows its",
        "instruction count), one boot per kernel, with uringstat unloaded,",
        "loaded at its defaults (one request in 64 timed for the latency",
        "histogram) and loaded with every request timed",
        "(``latency_sample=1``, what 1.1.0 did), in turn, the module",
        "loaded afresh for each run and the order rotating between",
        "rounds. In each run ``bench/vmbench`` does a fixed amount of work:",
        "200,000 io_uring NOPs on a ring of its own (64 per",
        "``io_uring_enter``), 2,000 64-byte request/responses in turn on",
        "one connection through ringlb (``--engine uring``; one",
        "connection, so that every request takes the same path: with",
        "several, how requests batch depends on timing), and 64 MiB",
        "streamed through ringlb and echoed back (a stream's batching",
        "does depend on timing, hence its wider spread).",
        "",
        "The figure to judge by is the guest's instructions per unit of",
        "work, every instruction the guest ran (kernel and user, both",
        "vCPUs) between two markers ``vmbench`` executes around each phase,",
        "counted by a QEMU TCG plugin (``bench/icount-plugin.c``, built at",
        "run time against ``qemu-plugin.h`` from Debian's qemu source",
        "package). It does not depend on how fast the shared host runs the",
        "emulator (under ``-icount`` not even through the guest's timer",
        "ticks); what is left of noise is how a stream's reads and writes",
        "batch, shown as the spread ((max - min) / median over the",
        "rounds).",
        "",
        f"Run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, ringlb {rev}.",
        "",
        "Instructions per unit of work",
        "-----------------------------",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - kernel",
        "     - work",
        "     - unloaded",
        "     - loaded",
        "     - cost of the module",
        "     - every request timed",
        "     - cost, every request timed",
        "     - spread (unloaded, loaded, timed)",
    ]
    summary = []
    for ver, kernel, rows, counted in kernels:
        if not counted:
            lines += [f"   * - {kernel}", "     - (no instruction counts: "
                      "the icount plugin's log is missing)",
                      "     -", "     -", "     -", "     -", "     -"]
            continue
        for phase in ("nop", "rr", "bulk"):
            per = {st: [per_unit(r, phase) for r in rows if r["state"] == st]
                   for st in ("unloaded", "loaded", "timed")}
            mu, ml, mt = (med(per[st]) for st in ("unloaded", "loaded", "timed"))

            def cost(m):
                return None if mu is None or m is None else (m / mu - 1) * 100

            def pct(v, sign=""):
                return "n/a" if v is None else f"{v:{sign}.1f} %"

            spreads = ", ".join(pct(spread(per[st]))
                                for st in ("unloaded", "loaded", "timed"))
            lines += [f"   * - {kernel}",
                      f"     - per {UNIT[phase][0]} ({phase})",
                      f"     - {fmt(mu)}", f"     - {fmt(ml)}",
                      f"     - {pct(cost(ml), '+')}",
                      f"     - {fmt(mt)}",
                      f"     - {pct(cost(mt), '+')}",
                      f"     - {spreads}"]
            if cost(ml) is not None:
                summary.append(f"{kernel} {phase}: {cost(ml):+.1f} % instructions "
                               f"per {UNIT[phase][0]} loaded, "
                               f"{pct(cost(mt), '+')} with every request timed")

    lines += ["", "Rates (noisy)", "-------------", "",
              "Wall-clock rates of the same runs, timed by the host's clock",
              "at the markers (the guest's own clock runs on instructions",
              "under ``-icount``). Under TCG on a shared host they swing by",
              "up to 2x between rounds and overstate what atomics and locks",
              "cost on real hardware: shown for completeness, not for",
              "judging.", "",
              ".. list-table::", "   :header-rows: 1", "",
              "   * - kernel", "     - rounds",
              "     - NOPs/s unloaded", "     - NOPs/s loaded",
              "     - NOPs/s timed",
              "     - rr/s unloaded", "     - rr/s loaded", "     - rr/s timed",
              "     - bulk MB/s unloaded", "     - bulk MB/s loaded",
              "     - bulk MB/s timed",
              "     - SQEs seen (median, loaded)"]
    for ver, kernel, rows, counted in kernels:
        def m(state, key):
            return med([rate(r, key) for r in rows
                        if r["state"] == state and r["ok"]])
        lines += [f"   * - {kernel}",
                  f"     - {max(r['round'] for r in rows)}",
                  f"     - {fmt(m('unloaded', 'nop'))}",
                  f"     - {fmt(m('loaded', 'nop'))}",
                  f"     - {fmt(m('timed', 'nop'))}",
                  f"     - {fmt(m('unloaded', 'rr'))}",
                  f"     - {fmt(m('loaded', 'rr'))}",
                  f"     - {fmt(m('timed', 'rr'))}",
                  f"     - {fmt(m('unloaded', 'bulk'), 1)}",
                  f"     - {fmt(m('loaded', 'bulk'), 1)}",
                  f"     - {fmt(m('timed', 'bulk'), 1)}",
                  f"     - {fmt(m('loaded', 'sqes_seen'))}"]

    lines += ["", "Every run, as measured (instructions per unit of work, and",
              "the rates):", "", ".. code-block:: text", ""]
    for ver, kernel, rows, counted in kernels:
        for r in rows:
            if not r["ok"]:
                lines.append(f"   {kernel} round {r['round']} {r['state']:8s} "
                             "vmbench failed")
                continue
            ins = " ".join(f"{p}={fmt(per_unit(r, p))}"
                           for p in ("nop", "rr", "bulk"))
            lines.append(f"   {kernel} round {r['round']} {r['state']:8s} "
                         f"insns/unit {ins} | rates nop={fmt(rate(r, 'nop'))} "
                         f"rr={fmt(rate(r, 'rr'))} bulk={fmt(rate(r, 'bulk'), 1)} "
                         f"sqes_seen={fmt(r.get('sqes_seen'))}")
    lines.append("")
    with open(out, "w") as f:
        f.write("\n".join(lines))
    for t in summary:
        print("vmbench: " + t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
