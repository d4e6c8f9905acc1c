#!/usr/bin/env python3
"""Turns gaze_benchmarks' JSON (--benchmark_out=bench.json --benchmark_out_format=json)
into the f32 / bf16 / int8 markdown table of benchmarks/README.md.

    scripts/bench_dtype_table.py bench.json > table.md

Model and op benchmarks are named BM_<Name>/<dtype>/<args> (BM_BertBase/bf16/tokens:128):
one row per name and arguments, one column per dtype, each cell the median time (the
median aggregate when the run had repetitions), the kernel the label names, the
throughput counters, and for bf16 and int8 the speed-up over the same row's f32.
Benchmarks without a dtype in their name (BM_MemoryRead) follow in a second table.
Failed or skipped runs show their message, never a number."""
import json
import re
import sys

DTYPES = ("f32", "bf16", "int8")
UNIT_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
# Counters worth a table cell, with how each is printed.
COUNTERS = {
    "tokens/s": lambda v: f"{v:,.1f} tok/s" if v < 100 else f"{v:,.0f} tok/s",
    "GB/s": lambda v: f"{v:.1f} GB/s",
    "GFLOP/s": lambda v: f"{v:.0f} GFLOP/s",
    "model_MB": lambda v: f"model {v:,.0f} MiB",
    "peak_MB": lambda v: f"peak +{v:,.0f} MiB",
}


def split_name(name):
    """BM_BertBase/bf16/tokens:128/real_time -> ("BM_BertBase", "bf16", "tokens:128")."""
    parts = [p for p in name.split("/") if p not in ("real_time", "manual_time") and not p.startswith(("iterations:", "min_time:", "repeats:"))]
    if len(parts) > 1 and parts[1] in DTYPES:
        return parts[0], parts[1], "/".join(parts[2:])
    return parts[0], None, "/".join(parts[1:])


def natural(text):
    """Sort key that orders the numbers in a name by value: tokens:8 before tokens:128."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def median_runs(data):
    """run name -> its median aggregate, or its one iteration run when there were no repetitions."""
    runs = {}
    for run in data.get("benchmarks", []):
        name = run.get("run_name", run["name"])
        if run.get("run_type") == "aggregate":
            if run.get("aggregate_name") == "median":
                runs[name] = run
        elif name not in runs or runs[name].get("run_type") != "aggregate":
            runs[name] = run  # without repetitions: the run itself
    return runs


def ms_of(run):
    return run["real_time"] * UNIT_TO_MS[run.get("time_unit", "ns")]


def format_ms(ms):
    if ms >= 1e3:
        return f"{ms / 1e3:.3g} s"
    return f"{ms:.3g} ms" if ms >= 1 else f"{ms * 1e3:.3g} us"


def cell(run, f32_run):
    if run is None:
        return ""
    if run.get("error_occurred") or run.get("skipped"):
        return "skipped: " + run.get("error_message", run.get("skip_message", ""))
    text = format_ms(ms_of(run))
    extras = [fmt(run[key]) for key, fmt in COUNTERS.items() if key in run]
    if run.get("label"):
        extras.insert(0, f"`{run['label']}`")
    if extras:
        text += " (" + ", ".join(extras) + ")"
    if f32_run is not None and run is not f32_run and not f32_run.get("error_occurred") and not f32_run.get("skipped"):
        text += f", **{ms_of(f32_run) / ms_of(run):.2f}x** f32"
    return text


def main(path):
    with open(path) as f:
        data = json.load(f)
    rows, others = {}, []
    for name, run in median_runs(data).items():
        base, dtype, args = split_name(name)
        if dtype is None:
            others.append((name, run))
        else:
            rows.setdefault((base, args), {})[dtype] = run
    ctx = data.get("context", {})
    print(f"Host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"run {ctx.get('date', '?')} (medians where the run had repetitions)\n")
    print("| benchmark | " + " | ".join(DTYPES) + " |")
    print("|---|" + "---|" * len(DTYPES))
    # Sorted: with --benchmark_enable_random_interleaving the JSON's order is shuffled.
    for (base, args), by_dtype in sorted(rows.items(), key=lambda item: (natural(item[0][0]), natural(item[0][1]))):
        label = base.removeprefix("BM_") + (f" {args}" if args else "")
        f32 = by_dtype.get("f32")
        print(f"| {label} | " + " | ".join(cell(by_dtype.get(d), f32) for d in DTYPES) + " |")
    if others:
        print("\n| benchmark | time |")
        print("|---|---|")
        for name, run in sorted(others, key=lambda item: natural(item[0])):
            print(f"| {name.removeprefix('BM_')} | {cell(run, None)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
