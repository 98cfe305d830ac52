"""`make mutants`: mutation testing of the modules that carry the project's promises, with cosmic-ray.

Each group below names modules and the test files that guard them. For every group, cosmic-ray makes small
deliberate bugs (mutants) in a scratch copy of the working tree, runs the group's tests against each, and
records whether a test failed (killed) or none did (survived). A survivor is either a missing test or an
equivalent change; the summary lists each one. The last line printed is one JSON object:
{"killed": K, "survived": S, "score": K/(K+S)} (timeouts count as killed, as cosmic-ray counts them).

    python tests/mutation/mutants.py [--group NAME ...] [--work DIR] [--fresh]

Mutants run in a copy (DIR/tree) so the working tree is never mutated; sessions (DIR/<group>.sqlite) are
kept, so an interrupted run continues where it stopped unless the group's modules or tests changed (or
--fresh). Operators are cut to one meaningful replacement per site (cosmic-ray's full cross product of
binary operators is ~10x the work for mutants that die the same way), and `scope` limits a module to the
functions a group is about.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
PYTEST = "python -m pytest -x -q -p no:cacheprovider --hypothesis-seed=0"


@dataclass(frozen=True)
class Group:
    name: str
    modules: tuple[str, ...]
    tests: str                     # pytest arguments
    scope: dict = field(default_factory=dict)   # module -> function names to mutate (default: all)
    timeout: float = 120.0


GROUPS = [
    Group("verify", ("manifests/verify.py",),
          "tests/test_resume_identity.py -k verify "
          "tests/test_hostile_datasets.py::test_verify_checks_the_manifest_hashes_the_card_records"),
    Group("commit", ("manifests/storage/completeness.py", "manifests/storage/store.py"),
          "tests/test_resume_identity.py -k \"not verify\" tests/test_store_commit.py",
          scope={"manifests/storage/store.py": ("matches", "digest", "commit_file", "upload_verified",
                                                "cleanup_temp", "abort_incomplete_uploads")}, timeout=300),
    Group("masking", ("trainer/masking.py", "trainer/draws.py"),
          "tests/test_masks.py tests/test_trainer_parts.py tests/test_trainer_model.py::test_tube_mask_counts_and_tubes "
          "-k \"not every_micro_batch_of_a_run\""),
    Group("plan", ("trainer/data/plan.py",), "tests/test_plan.py"),
    # the payload's promises: a checksummed head, an index that cannot point outside the payload, decodes
    # bounded by the manifest and the ceilings (the JPEG marker walk and the encoders: extend `scope`)
    Group("payload", ("manifests/payload/container.py", "manifests/payload/limits.py"),
          "tests/test_payload_bounds.py tests/test_payload_hostile.py tests/test_payload.py tests/test_manifests.py "
          "-k \"not torchvision\"",
          scope={"manifests/payload/container.py": ("parse_head", "checked_indices", "frame_ranges"),
                 "manifests/payload/limits.py": ("check_shape", "check_decode")}),
    Group("payload-kinds", ("manifests/payload/kinds.py", "manifests/payload/codecs.py"),
          "tests/test_payload_bounds.py tests/test_payload_hostile.py tests/test_payload.py -k \"not torchvision\"",
          scope={"manifests/payload/kinds.py": ("payload_for_extension", "open_payload", "read_head",
                                                "decode_blocks"),
                 "manifests/payload/codecs.py": ("decode_into", "_zstd_decode")}),
]

# One replacement per site: the nearest wrong operator, the off-by-one comparison and the negated one.
KEEP_BINARY = {"Add_Sub", "Sub_Add", "Mul_Add", "Div_Mul", "FloorDiv_Mul", "Mod_FloorDiv", "Pow_Mul",
               "LShift_RShift", "RShift_LShift", "BitOr_BitAnd", "BitAnd_BitOr", "BitXor_BitOr"}
KEEP_COMPARE = {"Eq_NotEq", "NotEq_Eq", "Lt_LtE", "LtE_Lt", "Gt_GtE", "GtE_Gt", "Lt_GtE", "LtE_Gt",
                "Gt_LtE", "GtE_Lt", "Is_IsNot", "IsNot_Is", "In_NotIn", "NotIn_In"}
SKIP_OPERATORS = {"core/RemoveDecorator"}   # @dataclass / @property removed: every test dies at import


def kept(operator: str) -> bool:
    if operator in SKIP_OPERATORS:
        return False
    m = re.fullmatch(r"core/Replace(Binary|Comparison)Operator_(\w+?_\w+)", operator)
    if not m:
        return True
    return m.group(2) in (KEEP_BINARY if m.group(1) == "Binary" else KEEP_COMPARE)


def family(operator: str) -> str:
    """Operators that change the same thing at a site: a number +1 or -1, a unary operator into another."""
    return re.sub(r"_\w+$", "", operator) if "Unary" in operator else operator


def function_lines(path: str, names) -> list[tuple[int, int]]:
    """(first, last) line of each named function or method in a module."""
    tree = ast.parse(open(path).read())
    return [(n.lineno, n.end_lineno) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in names]


def annotation_spans(path: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where a module's type annotations are, when it never evaluates them (`from __future__ import
    annotations`): a mutant there (`dict | None` -> `dict & None`) is the same program."""
    source = open(path).read()
    if "from __future__ import annotations" not in source:
        return []
    spans = []
    for node in ast.walk(ast.parse(source)):
        notes = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            notes = [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                     if a is not None and a.annotation is not None] + ([node.returns] if node.returns else [])
        elif isinstance(node, ast.AnnAssign):
            notes = [node.annotation]
        spans += [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in notes]
    return spans


def in_annotation(spans, pos) -> bool:
    return any(a <= tuple(pos) < b for a, b in spans)


def copy_tree(dst: str) -> None:
    """Tracked and untracked-but-not-ignored files of the working tree. The editable install maps synthvid.*
    onto the working tree; in the copy, synthvid/ gets links to its own factory/, manifests/ and trainer/,
    which Python's path finder (run from the copy) finds before the editable finder is asked."""
    shutil.rmtree(dst, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if os.path.isfile(os.path.join(ROOT, rel)):
            os.makedirs(os.path.dirname(os.path.join(dst, rel)) or dst, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(dst, rel))
    for pkg in ("factory", "manifests", "trainer"):
        os.symlink(os.path.join(dst, pkg), os.path.join(dst, "synthvid", pkg))


def environment(tree: str) -> dict:
    env = {**os.environ, "PYTHONPATH": tree,
           "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


def fingerprint(group: Group) -> str:
    """What a session's mutants depend on: the modules and the selection rules (tests may change: run
    --rerun-survivors to give the survivors to the new tests)."""
    h = hashlib.sha256(repr((group.name, group.modules, group.scope)).encode()
                       + repr(sorted(KEEP_BINARY | KEEP_COMPARE | SKIP_OPERATORS)).encode())
    for rel in group.modules:
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def prepare(group: Group, work: str, tree: str, fresh: bool) -> str:
    """The group's config (always rewritten: its test command may have changed) and its session (made anew
    when the modules or the selection rules changed, or with --fresh)."""
    session = os.path.join(work, f"{group.name}.sqlite")
    stamp = session + ".fingerprint"
    config = os.path.join(work, f"{group.name}.toml")
    with open(config, "w") as f:
        f.write("[cosmic-ray]\n"
                f"module-path = {json.dumps(list(group.modules))}\n"
                f"timeout = {group.timeout}\nexcluded-modules = []\n"
                f"test-command = {json.dumps(PYTEST + ' ' + group.tests)}\n"
                "[cosmic-ray.distributor]\nname = \"local\"\n")
    if not fresh and os.path.exists(session) and os.path.exists(stamp) and open(stamp).read() == fingerprint(group):
        return session
    for p in (session, stamp):
        if os.path.exists(p):
            os.remove(p)
    subprocess.run([os.path.join(BIN, "cosmic-ray"), "init", config, session], cwd=tree, env=environment(tree), check=True)
    with open(stamp, "w") as f:
        f.write(fingerprint(group))
    return session


def skip_out_of_scope(group: Group, session: str, tree: str) -> None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    ranges = {m: function_lines(os.path.join(tree, m), names) for m, names in group.scope.items()}
    notes = {m: annotation_spans(os.path.join(tree, m)) for m in group.modules}
    sites = set()
    with use_db(session, WorkDB.Mode.open) as db:
        items = sorted(db.pending_work_items, key=lambda i: (str(i.mutations[0].module_path), i.mutations[0].start_pos,
                                                             i.mutations[0].operator_name, i.mutations[0].occurrence))
        for item in items:
            mut = item.mutations[0]
            module, line = str(mut.module_path), mut.start_pos[0]
            site = (module, tuple(mut.start_pos), family(mut.operator_name))
            outside = module in ranges and not any(a <= line <= b for a, b in ranges[module])
            # a module-level number is a constant or a ceiling: one more or less is the same program
            constant = mut.definition_name is None and "NumberReplacer" in mut.operator_name
            note = in_annotation(notes.get(module, []), mut.start_pos)
            if outside or constant or note or not kept(mut.operator_name) or site in sites:
                db.set_result(item.job_id, WorkResult(output="filtered", worker_outcome=WorkerOutcome.SKIPPED))
            sites.add(site)


def forget_survivors(session: str) -> None:
    """Survivors and mutants without a verdict go back to the queue (after new tests, or an interrupted run)."""
    import sqlite3

    with sqlite3.connect(session) as db:
        db.execute("DELETE FROM work_results WHERE worker_outcome != 'SKIPPED' AND "
                   "(test_outcome IS NULL OR test_outcome IN ('SURVIVED', 'INCOMPETENT'))")


def results(session: str) -> list[dict]:
    out = subprocess.run([os.path.join(BIN, "cosmic-ray"), "dump", session], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        item, result = json.loads(line)
        if result is None or result.get("worker_outcome") == "skipped":
            continue
        mut = item["mutations"][0]
        rows.append({"module": mut["module_path"], "line": mut["start_pos"][0], "function": mut.get("definition_name"),
                     "operator": mut["operator_name"], "occurrence": mut["occurrence"],
                     "outcome": result.get("test_outcome") or result.get("worker_outcome"),
                     "diff": result.get("diff") or ""})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--group", action="append", choices=[g.name for g in GROUPS], help="only these groups")
    p.add_argument("--work", default=os.path.join(ROOT, ".mutants"), help="sessions and the scratch copy")
    p.add_argument("--fresh", action="store_true", help="start every session anew")
    p.add_argument("--rerun-survivors", action="store_true", help="run the survivors again (after new tests)")
    p.add_argument("--report-only", action="store_true", help="summarise the sessions as they are")
    args = p.parse_args(argv)
    groups = [g for g in GROUPS if not args.group or g.name in args.group]
    args.work = os.path.abspath(args.work)      # the copy's links and PYTHONPATH must not depend on the cwd
    os.makedirs(args.work, exist_ok=True)
    tree = os.path.join(args.work, "tree")
    if not args.report_only:        # (never while another run mutates the copy)
        copy_tree(tree)
        check = subprocess.run([sys.executable, "-c", "import synthvid.manifests.verify as m; print(m.__file__)"],
                               cwd=tree, env=environment(tree), capture_output=True, text=True, check=True)
        assert check.stdout.startswith(tree), f"the copy is not what gets imported: {check.stdout}"
    rows = []
    for group in groups:
        if args.report_only:
            session = os.path.join(args.work, f"{group.name}.sqlite")
            if os.path.exists(session):
                rows += [{**r, "group": group.name} for r in results(session)]
            continue
        session = prepare(group, args.work, tree, args.fresh)
        if args.rerun_survivors:
            forget_survivors(session)
        skip_out_of_scope(group, session, tree)
        print(f"== {group.name}: {', '.join(group.modules)} <- {group.tests}", flush=True)
        subprocess.run([os.path.join(BIN, "cosmic-ray"), "exec", os.path.join(args.work, f"{group.name}.toml"), session],
                       cwd=tree, env=environment(tree), check=True)
        rows += [{**r, "group": group.name} for r in results(session)]
    return summarise(rows)


def summarise(rows: list[dict]) -> int:
    killed = sum(r["outcome"] in ("killed", "timeout") for r in rows)
    survived = [r for r in rows if r["outcome"] == "survived"]
    other = [r for r in rows if r["outcome"] not in ("killed", "timeout", "survived")]
    by_group: dict[str, list[int]] = {}
    for r in rows:
        k = by_group.setdefault(r["group"], [0, 0])
        k[0 if r["outcome"] in ("killed", "timeout") else 1] += r["outcome"] != "incompetent"
    for name, (k, s) in by_group.items():
        print(f"{name:10s} killed {k:4d}  survived {s:4d}")
    if survived:
        print(f"\n{len(survived)} survivor(s):")
        for r in sorted(survived, key=lambda r: (r["module"], r["line"])):
            change = [l for l in r["diff"].splitlines() if l.startswith(("+", "-")) and not l.startswith(("+++", "---"))]
            print(f"  {r['module']}:{r['line']} {r['function']} {r['operator']}  {' / '.join(change)[:160]}")
    if other:
        print(f"\n{len(other)} mutant(s) not run to a verdict (incompetent or errors): "
              + ", ".join(f"{r['module']}:{r['line']}" for r in other[:20]))
    n = killed + len(survived)
    print(json.dumps({"killed": killed, "survived": len(survived), "score": round(killed / n, 4) if n else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
