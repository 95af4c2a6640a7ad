"""The campaign's report: the figures of a run, its failures grouped by cause (same kind of
object, same command, same problem, same first line of stderr once ids and paths are taken
out), and every failure in full."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from tests.campaign.mutations import MUTATIONS
from tests.campaign.results import CaseResult, Failure
from tests.campaign.template import KINDS, Template

HEX = re.compile(r"\b[0-9a-f]{8,64}\b")
SHARD = re.compile(r"\b(data|tree)/[0-9a-f]{2}/")
PATH = re.compile(r"(/[\w.+-]+){2,}/?")
LABEL = re.compile(r"\b(new )?(alpha|beta|gamma)#\d+")


def normalise(text: str) -> str:
    text = HEX.sub("<id>", SHARD.sub(r"\1/", text))
    return LABEL.sub("<snapshot>", PATH.sub("<path>", text))


def cause(f: Failure) -> tuple[str, str, str, str]:
    command = LABEL.sub("<snapshot>", f.command).replace(" (after repair)", "")
    stderr = f.stderr.splitlines()[0] if f.stderr else ""
    trace = f.trace.splitlines()[-1] if f.trace else ""
    return f.kind, command, normalise(f.problem), normalise(trace or stderr)


@dataclass
class Run:
    """One store's run."""

    store: str
    template: Template
    cases: int
    seconds: float
    result: CaseResult


def figures(run: Run, sample: str) -> str:
    t = run.template
    kinds = Counter(o.kind for o in t.catalogue)
    per_kind = ", ".join(f"{k} {kinds[k]}" for k in KINDS)
    slowest = sorted(run.result.seconds.items(), key=lambda kv: -kv[1])[:4]
    return (
        f"damage campaign ({sample}), store {run.store}: {len(t.catalogue)} objects "
        f"({per_kind}) × {len(MUTATIONS)} mutations = {len(t.catalogue) * len(MUTATIONS)} "
        f"cases, {run.cases} run, {run.result.commands} commands "
        f"({run.result.commands / max(run.cases, 1):.0f} per case) in {run.seconds:.0f} s "
        f"(template: {t.build_commands} commands); command time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in slowest)
        + f"; {len(run.result.failures)} failures"
    )


def grouped(failures: list[Failure]) -> str:
    groups: dict[tuple[str, str, str, str], list[Failure]] = defaultdict(list)
    for f in failures:
        groups[cause(f)].append(f)
    lines = []
    for (kind, command, problem, first), items in sorted(
        groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))
    ):
        mutations = sorted({f.mutation for f in items}, key=MUTATIONS.index)
        stores = sorted({f.store for f in items})
        cases = len({(f.store, f.name, f.mutation) for f in items})
        lines.append(
            f"- {kind} ({'/'.join(mutations)}; {'+'.join(stores)}; {cases} cases, "
            f"{len(items)} runs): `{command}`: {problem}"
        )
        if first:
            lines.append(f"      {first}")
    return "\n".join(lines)


def notes(result: CaseResult) -> str:
    counted: Counter[tuple[str, str, str]] = Counter()
    by: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for n in result.notes:
        command = LABEL.sub("<snapshot>", n.command).replace(" (after repair)", "")
        key = (n.kind, command, normalise(n.text))
        counted[key] += 1
        by[key].add(n.mutation)
    return "\n".join(
        f"- {kind} ({'/'.join(sorted(by[(kind, cmd, text)], key=MUTATIONS.index))}): "
        f"`{cmd}` {text} ({n}×)"
        for (kind, cmd, text), n in sorted(counted.items())
    )


def render(runs: list[Run], sample: str) -> str:
    failures = [f for run in runs for f in run.result.failures]
    parts = [figures(run, sample) for run in runs]
    if failures:
        parts += ["", "Failures by cause:", grouped(failures)]
    all_notes = CaseResult()
    for run in runs:
        all_notes.notes += run.result.notes
    if all_notes.notes:
        parts += ["", "Allowed, but worth knowing (not failures):", notes(all_notes)]
    if failures:
        parts += ["", "Every failure:", *(f.render() for f in failures)]
    return "\n".join(parts)
