"""The mutation score of each pure module, from the results `mutmut run` left in mutants/.

    python devtools/mutation_scores.py [MODULE ...] [--survivors]

A mutant counts as killed when a test failed (or timed out) with it in place; as not killed
when every test passed or no fast test reaches it. The functions listed in EXCLUDED read the
cluster or the database: mutmut mutates them too, but the fast tests cannot reach them, so
they are left out of the score (the Kafka and PostgreSQL tests cover them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = {
    "deadletter.decoders": "deadletter/decoders.py",
    "deadletter.header_codec": "deadletter/header_codec.py",
    "republish.partitioner": "republish/partitioner.py",
    "offsets.reset": "offsets/reset.py",
    "republish.safety": "republish/safety.py",
}
EXCLUDED = {
    # Each reads offsets, topics or groups through an admin client.
    "offsets.reset": {
        "_Cluster.__post_init__",
        "_Cluster.offsets",
        "resettable_group",
        "_positions",
        "_clamp",
        "_by_timestamp",
        "_new_offsets",
        "plan_reset",
        "recheck",
        "apply_plan",
    },
    # Each queries the database (Replay, DeadLetterRecord, Topic) or reads Kafka partitions.
    "republish.safety": {"check", "_newer_same_key", "_scan_one", "check_selection"},
}
KILLED = {1, 3, 36, -24, 24, 152, 255}  # a test failed, pytest broke, or the run timed out
SKIPPED = {34}


def function_of(module: str, key: str) -> str:
    """'offsets.reset.xǁ_Clusterǁoffsets__mutmut_3' -> '_Cluster.offsets'."""
    name = key[len(module) + 1 :].rsplit("__mutmut_", 1)[0]
    if name.startswith("xǁ"):
        return ".".join(part for part in name[2:].split("ǁ") if part)
    return name.removeprefix("x_")


def main(argv: list[str]) -> int:
    show_survivors = "--survivors" in argv
    wanted = [a for a in argv if not a.startswith("--")] or list(MODULES)
    unknown = [m for m in wanted if m not in MODULES]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}; one of: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    print(f"{'module':<26} {'killed':>6} {'of':>5} {'score':>7}  excluded  not run")
    for module in wanted:
        meta = ROOT / "mutants" / f"{MODULES[module]}.meta"
        if not meta.exists():
            print(f"{module:<26} no results: run ./dev mutants {module}")
            continue
        results = json.loads(meta.read_text())["exit_code_by_key"]
        excluded = not_run = 0
        counted: dict[str, int] = {}
        for key, code in results.items():
            if function_of(module, key) in EXCLUDED.get(module, ()):
                excluded += 1
            elif code is None:
                not_run += 1
            elif code not in SKIPPED:
                counted[key] = code
        killed = sum(1 for code in counted.values() if code in KILLED)
        score = f"{100 * killed / len(counted):.1f} %" if counted else "-"
        print(f"{module:<26} {killed:>6} {len(counted):>5} {score:>7}  {excluded:>8}  {not_run:>7}")
        if show_survivors:
            for key, code in sorted(counted.items()):
                if code not in KILLED:
                    print(f"    survived{' (no test)' if code in (5, 33) else ''}: {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
