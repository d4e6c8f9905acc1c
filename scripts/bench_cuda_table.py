#!/usr/bin/env python3
"""Turns the CPU-vs-GPU benchmark JSON (bench_cuda.cpp, Google Benchmark's
--benchmark_out) into the markdown table of benchmarks/README.md.

    scripts/bench_cuda_table.py bench_cuda.json > table.md

Benchmarks are named BM_Cuda<Op><Variant>/<args>, Variant one of Cpu, Gpu*,
Fused*, Materialising*; rows of one op and size are grouped, each GPU variant
with its speed-up over the CPU row. Skipped benchmarks (no GPU) are listed as
such, never as numbers. With repetitions, the median aggregate is used."""
import json
import sys

VARIANT_MARKERS = ("Cpu", "Fused", "Materialising", "Gpu")
UNIT_TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def split_name(name):
    base, _, args = name.partition("/")
    base = base.removeprefix("BM_Cuda")
    cut = min((base.find(m) for m in VARIANT_MARKERS if m in base), default=len(base))
    args = "/".join(a for a in args.split("/") if a not in ("manual_time", "real_time"))
    return base[:cut], base[cut:] or "Gpu", args


def format_time(us):
    return f"{us / 1e3:.3g} ms" if us >= 1e3 else f"{us:.3g} us"


def throughput(run):
    parts = []
    if "bytes_per_second" in run:
        parts.append(f"{run['bytes_per_second'] / 1e9:.1f} GB/s")
    if "GFLOP/s" in run:
        parts.append(f"{run['GFLOP/s']:.1f} GFLOP/s")
    if "of_copy" in run:
        parts.append(f"{100 * run['of_copy']:.0f}% of copy ({run.get('copy_GB/s', 0):.0f} GB/s)")
    return ", ".join(parts)


def main(path):
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for run in data.get("benchmarks", []):
        if run.get("run_type") == "aggregate" and run.get("aggregate_name") != "median":
            continue
        name = run.get("run_name", run["name"])
        runs[name] = run  # a median aggregate replaces the iterations it summarises
    groups = {}
    for name, run in runs.items():
        op, variant, args = split_name(name)
        groups.setdefault((op, args), {})[variant] = run
    ctx = data.get("context", {})
    print(f"Host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs, run {ctx.get('date', '?')}\n")
    print("| op | size | variant | time | throughput | vs CPU |")
    print("|---|---|---|---|---|---|")
    for (op, args), variants in groups.items():
        cpu = variants.get("Cpu")
        cpu_us = cpu["real_time"] * UNIT_TO_US[cpu.get("time_unit", "ns")] if cpu and not cpu.get("error_occurred") else None
        for variant, run in sorted(variants.items(), key=lambda kv: kv[0] != "Cpu"):
            if run.get("error_occurred") or run.get("skipped"):
                print(f"| {op} | {args} | {variant} | skipped: {run.get('error_message', run.get('skip_message', ''))} | | |")
                continue
            us = run["real_time"] * UNIT_TO_US[run.get("time_unit", "ns")]
            speed = f"{cpu_us / us:.1f}x" if cpu_us and variant != "Cpu" else ""
            print(f"| {op} | {args} | {variant} | {format_time(us)} | {throughput(run)} | {speed} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
