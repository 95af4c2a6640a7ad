"""What a campaign run found: failures (outcomes the damage does not allow), notes (allowed
outcomes worth telling), and the counts."""

from __future__ import annotations

from dataclasses import dataclass, field

SHOWN_LINES = 4


@dataclass(frozen=True)
class Failure:
    """One command whose outcome the damage does not allow."""

    store: str
    kind: str
    name: str
    role: str
    mutation: str
    how: str
    command: str
    code: int
    problem: str
    stderr: str
    trace: str = ""

    def render(self) -> str:
        head = (
            f"[{self.store}] {self.kind} {self.name} ({self.role or 'no dependents'}), "
            f"{self.mutation}: {self.how}\n    `{self.command}` exit {self.code}: {self.problem}"
        )
        lines = [head]
        if self.stderr:
            lines.append("    stderr: " + "\n            ".join(self.stderr.splitlines()))
        if self.trace:
            lines.append("    trace:  " + "\n            ".join(self.trace.splitlines()))
        return "\n".join(lines)


@dataclass(frozen=True)
class Note:
    """An allowed outcome worth telling (damage that a command did not notice)."""

    store: str
    kind: str
    mutation: str
    command: str
    text: str


@dataclass
class CaseResult:
    failures: list[Failure] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    commands: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # by command (first word)

    def add(self, other: CaseResult) -> None:
        self.failures += other.failures
        self.notes += other.notes
        self.commands += other.commands
        for k, v in other.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v


def first_lines(text: str, n: int = SHOWN_LINES) -> str:
    return "\n".join(line[:300] for line in text.strip().splitlines()[:n])


def last_lines(text: str, n: int = SHOWN_LINES) -> str:
    return "\n".join(line[:300] for line in text.strip().splitlines()[-n:])
