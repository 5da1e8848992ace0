"""Writes docs/amd.md from `vkdiff kernels --json` reports, one per AMD family (scripts/amd-report.sh runs it).

Usage: amd_markdown.py WORK_DIR NOTES_FILE FAMILY...   (WORK_DIR/FAMILY.json for each family that ran)
Deterministic: no dates or timings; families in the order given, kernels sorted by name."""
import json
import os
import re
import sys

# What each RADV family name is (AMD's names; MORE-DRIVERS.md lists the ones this machine's drivers know).
ARCHITECTURE = {
    "vega10": "GCN5 (Vega 10)", "navi10": "RDNA1 (RX 5700)", "navi21": "RDNA2 (RX 6800/6900)", "navi22": "RDNA2 (RX 6700)",
    "navi23": "RDNA2 (RX 6600)", "navi24": "RDNA2 (RX 6500)", "rembrandt": "RDNA2 APU (Ryzen 6000)", "vangogh": "RDNA2 APU (Steam Deck)",
    "gfx1100": "RDNA3 (RX 7900, navi31)", "navi31": "RDNA3 (RX 7900)", "gfx1101": "RDNA3 (RX 7800/7700, navi32)",
    "gfx1103_r1": "RDNA3 APU (Phoenix)", "gfx1201": "RDNA4 (RX 9070)",
}
# The families the targets are judged on: RDNA2 and RDNA3, each on both Mesa versions where the driver has it.
TARGET_FAMILIES = ["radv22-navi21", "radv-navi21", "radv22-gfx1100", "radv-navi31"]
MIN_WAVES = 4
HOT = re.compile(r"^(matmul_.*|attention_(fwd|bwd|bwd_dq)(_coopmat)?_d(64|128)(_.*)?|cross_entropy_fused|adamw.*)$")
COLUMNS = [("VGPRs", "VGPRs", max), ("SGPRs", "SGPRs", max), ("Spilled VGPRs", "spilled VGPRs", max), ("Spilled SGPRs", "spilled SGPRs", max),
           ("Scratch size", "scratch", max), ("LDS size", "LDS", max), ("Subgroups per SIMD", "waves/SIMD", min)]


def statistic(pipeline, name):
    executables = pipeline.get("executables") or []
    if not executables:
        return None
    for entry in executables[0]["statistics"]:
        if entry["name"] == name:
            return int(entry["value"])
    return None


def kernels_of(report):
    """kernel name -> its pipelines (every specialization the dispatchers asked for)."""
    kernels = {}
    for pipeline in report["pipelines"]:
        kernels.setdefault(pipeline["kernel"], []).append(pipeline)
    return dict(sorted(kernels.items()))


def worst(pipelines, name, pick):
    values = [v for v in (statistic(p, name) for p in pipelines) if v is not None]
    return pick(values) if values else None


def size(value):
    if value is None:
        return "-"
    return f"{value / 1024:.1f} KiB" if value >= 1024 else f"{value} B"


def family_label(family):
    name = family.split("-", 1)[1]
    return ARCHITECTURE.get(name, "unknown architecture")


def judge(pipelines):
    spilled, scratch, waves = worst(pipelines, "Spilled VGPRs", max), worst(pipelines, "Scratch size", max), worst(pipelines, "Subgroups per SIMD", min)
    if any(not p["compiled"] for p in pipelines):
        return False, "does not compile"
    problems = []
    if spilled:
        problems.append(f"{spilled} VGPRs spilled")
    if scratch:
        problems.append(f"{size(scratch)} scratch")
    if waves is not None and waves < MIN_WAVES:
        problems.append(f"{waves} waves/SIMD")
    vgprs = worst(pipelines, "VGPRs", max)
    if problems:
        return False, f"**no**: {', '.join(problems)} ({vgprs} VGPRs)"
    return True, f"yes: {vgprs} VGPRs, {waves} waves"


def default_anywhere(reports, judged, kernel):
    """Whether a device's own choices (no switch) build this kernel on any judged family."""
    return any("default" in p["usedBy"]["matmulPaths"] and "default" in p["usedBy"]["attentionPaths"]
               for f in judged for p in kernels_of(reports[f]).get(kernel, []))


def costs(w, reports, judged):
    """ACO's latency estimate of the fp32 attention kernels at each head dim, on each judged family: the price of the spills."""
    head_dims = [16, 32, 64, 128]
    w("  | kernel | family | " + " | ".join(f"head dim {d}" for d in head_dims) + " |")
    w("  | --- | --- |" + " --- |" * len(head_dims))
    for base in ["attention_fwd", "attention_bwd", "attention_bwd_dq"]:
        for family in judged:
            kernels = kernels_of(reports[family])
            cells = []
            for d in head_dims:
                pipelines = kernels.get(f"{base}_d{d}") or kernels.get(f"{base}_d{d}_split")
                latency = worst(pipelines, "Latency", max) if pipelines else None
                spilled = worst(pipelines, "Spilled VGPRs", max) if pipelines else None
                cells.append("-" if latency is None else f"{latency:,}" + (f" ({spilled} spilled)" if spilled else ""))
            w(f"  | `{base}` | `{family}` | " + " | ".join(cells) + " |")


def main():
    work, notes_file, families = sys.argv[1], sys.argv[2], sys.argv[3:]
    reports = {}
    for family in families:
        path = os.path.join(work, family + ".json")
        if os.path.exists(path):
            with open(path) as f:
                reports[family] = json.load(f)
    with open(notes_file) as f:
        notes = [line.strip() for line in f if line.strip()]

    out = []
    w = out.append
    w("# vkdiff's kernels on AMD GPUs, compiled by AMD's own compiler")
    w("")
    w("Produced by `bash scripts/amd-report.sh` on a machine without an AMD GPU: Mesa's RADV driver on null hardware")
    w("(`RADV_FORCE_FAMILY`) compiles every pipeline exactly as for the real GPU with ACO, and `vkdiff kernels --json` reads")
    w("its statistics (docs/cli.md, `kernels`). Each family lists every kernel vkdiff builds there: for each, the worst")
    w("over its pipelines (the specializations the dispatchers pick at every preset, precision and path). Registers are per")
    w("invocation (lane), scratch is per wave, waves/SIMD is RADV's `Subgroups per SIMD` (occupancy). Regenerate it after")
    w("changing a kernel or a variant choice; it is deterministic for the same drivers.")
    w("")
    w("| implementation | device | driver | pipelines | compiled |")
    w("| --- | --- | --- | --- | --- |")
    for family, report in reports.items():
        device = report["device"]
        w(f"| `{family}` ({family_label(family)}) | {device['name']} | {device['driverInfo']} | {len(report['pipelines'])} | {report['compiled']} |")
    for note in notes:
        w(f"| `{note.split(':', 1)[0]}` | left out: {note.split(':', 1)[1].strip()} | | | |")
    w("")

    w("## Targets")
    w("")
    w(f"Zero spilled VGPRs and zero scratch, at {MIN_WAVES} or more waves per SIMD, in the hot kernels: every matmul path")
    w("(the default shared-memory tiles and cooperative matrices, and the forced `reference`, `register` and `texel` paths),")
    w("fused attention forward and backward at head dims 64 and 128, the fused cross-entropy and AdamW; on RDNA2 and RDNA3.")
    w("At head dims 64 and 128 the fp32 fused attention kernels GPUs run are the split-row ones (`_split`: each row's head")
    w("dim across 4 or 8 subgroup lanes, docs/attention.md); the one-row-per-invocation kernels they replace kept whole rows")
    w("in each lane and spilled hundreds of VGPRs to scratch on these families (up to 1,581 in `attention_bwd_d128`).")
    w("")
    judged = [f for f in TARGET_FAMILIES if f in reports]
    if not judged:
        w("No RDNA2 or RDNA3 family could be compiled here, so the targets are not judged.")
    else:
        hot = sorted({k for f in judged for k in kernels_of(reports[f]) if HOT.match(k)})
        w("| kernel | " + " | ".join(f"`{f}`" for f in judged) + " |")
        w("| --- |" + " --- |" * len(judged))
        misses = {}
        for kernel in hot:
            cells = []
            for family in judged:
                pipelines = kernels_of(reports[family]).get(kernel)
                if pipelines is None:
                    cells.append("not built here")
                    continue
                met, text = judge(pipelines)
                if not met:
                    misses.setdefault(kernel, []).append(family)
                cells.append(text)
            w(f"| `{kernel}` | " + " | ".join(cells) + " |")
        w("")
        if misses:
            w(f"**Not met** by {len(misses)} of {len(hot)} hot kernels:")
            w("")
            attention = sorted(k for k in misses if k.startswith("attention"))
            other = sorted(k for k in misses if not k.startswith("attention"))
            if attention:
                w(f"- Fused attention ({', '.join('`' + k + '`' for k in attention)}): each invocation owns one query or")
                w("  key row and keeps its running state in private arrays (the forward: the output row; the backward: dK and dV or")
                w("  dQ rows, plus the staged row it multiplies), a few times HEAD_DIM floats. At head dim 64 and above that passes")
                w("  the 256 VGPRs one lane can address on RDNA, so ACO spills to scratch memory: every spilled value is a memory")
                w("  round trip inside the innermost loop, and the VGPRs in use hold occupancy at the minimum. The cooperative-matrix")
                w("  variants keep these rows in matrix registers and shared memory and meet the target where the device lists a")
                w("  shape (RDNA3 on Mesa 25); the split-row variants (`_split`, head dims 64 and 128) hold a quarter or an eighth")
                w("  of each row per lane. Rerun this script after a kernel change. What the spills cost, by ACO's own estimates")
                w("  (cycles per wave):")
                w("")
                costs(w, reports, judged)
            forced = [k for k in other if not default_anywhere(reports, judged, k)]
            if forced:
                w(f"- {', '.join('`' + k + '`' for k in forced)}: built only when a switch forces their path (`VKDIFF_MATMUL`); no")
                w("  GPU runs them by default (they are the register-blocked paths of CPU devices), so they cost nothing unless forced.")
            rest = [k for k in other if k not in forced]
            if rest:
                w(f"- {', '.join('`' + k + '`' for k in rest)}: on a default path; the rows above say which part of the target each")
                w("  misses on which family.")
        else:
            w(f"**Met** by all {len(hot)} hot kernels on every family judged.")
        w("")

    for family, report in reports.items():
        device = report["device"]
        w(f"## `{family}`: {family_label(family)}, {device['driverInfo']}")
        w("")
        w(f"{device['name']}, subgroup {device['subgroupSize']} ({device['minSubgroupSize']}-{device['maxSubgroupSize']}), "
          f"{device['sharedMemoryBytes'] // 1024} KiB shared memory, cooperative matrices: "
          f"{'yes' if device['cooperativeMatrix'] else 'no'}.")
        w("")
        w("| kernel | pipelines | " + " | ".join(label for _, label, _ in COLUMNS) + " |")
        w("| --- | --- |" + " --- |" * len(COLUMNS))
        for kernel, pipelines in kernels_of(report).items():
            built = sum(1 for p in pipelines if p["compiled"])
            count = f"{len(pipelines)}" if built == len(pipelines) else f"{built} of {len(pipelines)} compiled"
            values = [size(worst(pipelines, name, pick)) if name in ("Scratch size", "LDS size") else str(worst(pipelines, name, pick) if worst(pipelines, name, pick) is not None else "-")
                      for name, _, pick in COLUMNS]
            w(f"| `{kernel}` | {count} | " + " | ".join(values) + " |")
        failures = [p for p in report["pipelines"] if not p["compiled"]]
        if failures:
            w("")
            w("Failed to compile:")
            w("")
            for p in failures:
                w(f"- `{p['pipeline']}`: {p['error']}")
        w("")
    sys.stdout.write("\n".join(out))


main()
