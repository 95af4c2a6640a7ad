"""The documentation's command examples run (issue 7: docs must not rot).

Every ```console block of every page in PAGES (docs/ and the README's quickstart) is run,
each `$ ` line as a shell command (with its `> ` continuation lines or its heredoc), in order,
in one bash session per page; a command followed by `$ echo $?` must exit with the code shown
below it. Every ```cron block (and the cron file and systemd unit shipped in docs/examples)
is run too: the command after the five time fields and the user, with ``\\%`` unescaped as cron
does. The sandbox is a temporary home directory with sample data, a temporary root for the
absolute paths of cron lines (/etc, /srv, /var), the real `s3vault` entry point on PATH, and
for the S3 pages the moto server (or Swift) with the buckets the page names. Placeholders a
reader would replace (an endpoint, a bucket, a KMS key) are mapped to the local servers per
page. What `make demo` runs is run as well.

A command example anywhere else in docs/ (a ```sh block, a `$ ` line outside a console block,
a command in an indented code block) fails the suite, and so does a page with examples that
is not in PAGES."""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.cli.test_s3 import s3_env
from tests.cliserver import CliServer
from tests.conftest import S3VAULT, write_file
from tests.trees import remove_deep

DOCS = Path(__file__).resolve().parents[1] / "docs"
TESTS = Path(__file__).resolve().parent
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, also those indented inside a list."""
    return [(lang, textwrap.dedent(body)) for _, lang, body in FENCE.findall(text)]


PASSWORD = "docs sandbox password"
# a command in an indented (four-space) code block, which no test would run
INDENTED_COMMAND = r"^ {4,}(?:\$ |(?:s3vault|python3|pip|ln|restic|tar|systemctl|sudo|aws) ).*$"


@dataclass(frozen=True)
class Step:
    command: str
    exit_code: int | None = None  # None: must succeed


def console_steps(text: str) -> list[Step]:
    """The `$ ` lines of a console block; `$ echo $?` and its output set the code expected of
    the command before it."""
    steps: list[Step] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        command, j = line[2:], i
        while command.endswith("\\") and j + 1 < len(lines):  # continued on `> ` lines
            j += 1
            command += "\n" + lines[j].removeprefix("> ")
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", command)
        if heredoc:  # the document follows, up to its terminator
            end = lines.index(heredoc.group(1), j + 1)
            command += "\n" + "\n".join(lines[j + 1 : end + 1])
        if command == "echo $?":
            assert steps and i + 1 < len(lines), "`$ echo $?` needs a command and an answer"
            steps[-1] = Step(steps[-1].command, int(lines[i + 1]))
            continue
        steps.append(Step(command))
    return steps


def cron_steps(text: str) -> list[Step]:
    """The commands of crontab lines (five time fields and a user, as in /etc/cron.d)."""
    steps = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, f"not a cron.d line: {line}"
        command = re.sub(r"(?<![\w.$])/(etc|srv|var)\b", r"$ROOT/\1", fields[6])
        steps.append(Step(f"sh -c {shlex.quote(command.replace(chr(92) + '%', '%'))}"))
    return steps


def page_steps(page: Path) -> list[Step]:
    steps = []
    for lang, body in fenced(page.read_text()):
        if lang == "console":
            steps += console_steps(body)
        elif lang == "cron":
            steps += cron_steps(body)
    return steps


@dataclass
class Sandbox:
    home: Path
    root: Path
    env: dict[str, str]

    def run(self, script: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_steps(
        self, steps: list[Step], prelude: str = "", after: dict[int, str] | None = None
    ) -> None:
        script = ["set -o pipefail", prelude]
        for i, step in enumerate(steps):
            if after and i in after:
                script.append(after[i])
            shown = shlex.quote(f"step {i + 1} failed: {step.command}")
            script.append(f"echo {shlex.quote('>>> ' + step.command)}")
            # in braces, on lines of its own: a heredoc's terminator stays alone on its line
            if step.exit_code is None:
                script.append(f"{{ {step.command}\n}} || {{ echo {shown} >&2; exit 1; }}")
            else:
                script.append(
                    f'{{ {step.command}\n}}; rc=$?; [ "$rc" = {step.exit_code} ] || '
                    f'{{ echo {shown} "(exit $rc, not {step.exit_code})" >&2; exit 1; }}'
                )
        script.append("echo '>>> every step ran'")
        done = self.run("\n".join(script))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        # nothing swallowed (an unterminated heredoc would take the rest of the script)
        ran = [line for line in done.stdout.splitlines() if line.startswith(">>> ")]
        assert len(ran) == len(steps) + 1 and ran[-1] == ">>> every step ran", done.stdout[-3000:]


@dataclass(frozen=True)
class Page:
    """What a page's examples need."""

    store: str = "local"  # "moto" or "swift": S3 credentials and endpoint in the environment
    buckets: tuple[str, ...] = ()
    password: bool = True  # S3VAULT_PASSWORD_FILE is set (False: the page sets its own)
    repo: bool = False  # S3VAULT_REPOSITORY names a repository with one backup
    prelude: str = ""  # shell run before the page (what the page says exists already)
    after: dict[int, str] = field(default_factory=dict)  # shell run after step N
    replace: dict[str, str] = field(default_factory=dict)  # placeholder → {endpoint}/{bucket}
    needs: tuple[str, ...] = ()  # programs that must be installed
    check: Callable[[Sandbox], None] | None = None
    path: Path | None = None  # a page outside docs/
    # moto enforces IAM while the page runs: every AWS profile is a key that may do anything,
    # but the AWS profile "restore-only" is a key that may only read (s3:Get*, s3:List*)
    restore_only_aws_profile: bool = False


def _dr_check(box: Sandbox) -> None:
    listed = box.run(f"S3VAULT_CONFIG={box.home}/dr.toml s3vault -P primary --json snapshots")
    assert listed.returncode == 0, listed.stderr
    snaps = json.loads(listed.stdout)
    # the original and the failover backup copied back: the copy of the original is not
    # copied back a second time
    assert len(snaps) == 2 and sum("original" in s for s in snaps) == 1
    for target in ("recovered", "recovered-ro"):  # the restores are the source, byte for byte
        same = box.run(f"diff -r {box.home}/srv {box.home}/{target}{box.home}/srv")
        assert same.returncode == 0, same.stdout + same.stderr


# a prune that holds the maintenance lease, stopped: what another operator's prune looks like
# the console script itself (not the fork server's s3vault in PATH): $holder is the process
# that stops, is watched with ps and gets SIGCONT and SIGKILL
_HELD_LEASE = (
    f"S3VAULT_TEST_STOP_AT=prune-after-plan {S3VAULT} prune >/dev/null 2>&1 & holder=$!\n"
    "while :; do\n"
    '  case "$(ps -o stat= -p $holder | cut -c1)" in\n'
    "    T) break ;;\n"
    '    Z | "") echo "the prune that should hold the lease ended" >&2; exit 1 ;;\n'
    "  esac\n"
    "  sleep 0.1\n"
    "done\n"
    "trap 'kill -9 $holder' EXIT"
)

# what docs/migration.md starts from: dated copies, tar archives and a restic repository
_OLD_BACKUPS = f"""
for n in 2 1 0; do
  mkdir -p ~/old/daily.$n/etc ~/old/daily.$n/srv/www
  echo "config of day $n" > ~/old/daily.$n/etc/app.conf
  head -c 200000 ~/srv/db.dump > ~/old/daily.$n/srv/www/big.bin
  echo "page $n" > ~/old/daily.$n/srv/www/index.html
  touch -d "2025-01-0$((3 - n)) 02:00" ~/old/daily.$n
done
mkdir -p ~/old-tars
tar -C ~/old/daily.1 -czf ~/old-tars/web1-2025-01-30.tar.gz etc srv
tar -C ~/old/daily.0 -czf ~/old-tars/web1-2025-01-31.tar.gz etc srv
echo 'restic password' > ~/.restic-password
export RESTIC_PASSWORD_FILE=~/.restic-password RESTIC_REPOSITORY=~/restic-repo
restic init -q >/dev/null
"{sys.executable}" {TESTS / "maintenance" / "resticrepo.py"} ~/restic-repo ~/.restic-password
restic backup -q --host web1 --tag nightly ~/srv
echo 'changed' >> ~/srv/www/index.html
restic backup -q --host web1 --tag nightly ~/srv
unset RESTIC_PASSWORD_FILE RESTIC_REPOSITORY
cp -r {DOCS / "examples"} ~/examples
"""

# docs/upgrades.md: a repository whose config a newer release (format version 3) wrote
_NEWER_FORMAT = """
cp -r "$S3VAULT_REPOSITORY" ~/repo-of-a-newer-release
python3 - <<'EOF'
import json, pathlib
config = pathlib.Path.home() / "repo-of-a-newer-release" / "config"
config.write_text(json.dumps({**json.loads(config.read_text()), "v": 3}))
EOF
"""

# docs/troubleshooting.md: a disaster-recovery copy of the repository in the bucket dr-copy
# (read there with the restore-only AWS profile)
_DR_COPY = """
s3vault -r s3://dr-copy/web1 init --kdf-cost minimum --no-recovery-key -q
s3vault -r s3://dr-copy/web1 backup -q --host web1 $ROOT/etc $ROOT/srv
"""

# flip FILE OFFSET: every bit of one byte inverted (setting it to a fixed value made no damage
# when the ciphertext held that value already: 1 time in 256, a red CI run)
_FLIP = """
flip() { python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 255]))
' "$1" "$2"; }
"""

# docs/troubleshooting.md: a copy of the repository with one byte of the first blob of a data
# pack flipped, and credentials for its s3:// example (whose endpoint does not answer)
_DAMAGED = (
    _FLIP
    + """
cp -r "$S3VAULT_REPOSITORY" ~/damaged
pack=$(find ~/damaged/data -type f | head -1)
flip "$pack" 30
export AWS_ACCESS_KEY_ID=none AWS_SECRET_ACCESS_KEY=none
"""
)

# docs/troubleshooting.md: copies of the repository with one thing broken in each: a foreign
# snapshot file (~/hit), a lost data pack (~/lost), a damaged index file (~/idx)
_DAMAGE_CASES = (
    _FLIP
    + """
cp -r "$S3VAULT_REPOSITORY" ~/hit
foreign=5e1f0c2a9d3b7e4f6a8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a
head -c 600 /dev/urandom > ~/hit/snapshots/$foreign
cp -r "$S3VAULT_REPOSITORY" ~/lost
rm "$(find ~/lost/data -type f | head -1)"
cp -r "$S3VAULT_REPOSITORY" ~/idx
index=$(find ~/idx/index -type f | head -1)
flip "$index" 40
"""
)

README = DOCS.parent / "README.md"

PAGES: dict[str, Page] = {
    "README.md": Page(
        path=README,
        store="moto",
        buckets=("my-backups",),
        password=False,
        replace={
            "/etc": "$ROOT/etc",
            "/srv": "$ROOT/srv",
            "/tmp/restore": "$HOME/restore",
            "pg_dump mydb": "cat $ROOT/etc/hosts",  # the reader's own dump command
        },
    ),
    "quickstart.md": Page(password=False),
    "usage.md": Page(repo=True),
    "verify.md": Page(repo=True),
    "concurrency.md": Page(
        repo=True, prelude=_HELD_LEASE, after={1: "kill -CONT $holder; wait $holder"}
    ),
    "s3.md": Page(store="moto", buckets=("my-backups",)),
    "s3-compatible.md": Page(
        store="swift",
        replace={"https://swift.example:8080": "{endpoint}", "s3://backups/": "s3://{bucket}/"},
    ),
    "multi-account.md": Page(store="moto"),
    "capacity.md": Page(repo=True),
    "fleet.md": Page(repo=True),
    "performance.md": Page(repo=True),
    "config.md": Page(password=False),
    "immutability.md": Page(store="moto"),
    "keys.md": Page(
        store="moto",
        repo=True,
        replace={
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab": (
                "{kms_key}"
            ),
            "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab": (
                "{mrk_key}"
            ),
        },
    ),
    "troubleshooting.md": Page(
        store="moto",
        buckets=("dr-copy",),
        repo=True,
        prelude=_DR_COPY + _DAMAGE_CASES + _DAMAGED,
        restore_only_aws_profile=True,
        replace={
            " /etc": " $ROOT/etc",
            " /srv": " $ROOT/srv",
            "repair packs 57fc9e1d": 'repair packs "$(basename "$pack" | cut -c1-8)"',
        },
    ),
    "security.md": Page(
        store="moto",
        buckets=("my-backups",),
        repo=True,
        prelude=(  # the SNS topic the page's alarms notify; the repository only for them
            'python3 -c \'import boto3; boto3.client("sns", region_name="us-east-1")'
            '.create_topic(Name="backup-alerts")\'\n'
            'alerts_repo="$S3VAULT_REPOSITORY"; unset S3VAULT_REPOSITORY'
        ),
        after={15: 'export S3VAULT_REPOSITORY="$alerts_repo"'},
        replace={
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab": (
                "{kms_key}"
            )
        },
    ),
    "upgrades.md": Page(repo=True, prelude=_NEWER_FORMAT),
    "migration.md": Page(repo=True, prelude=_OLD_BACKUPS, needs=("restic",)),
    "dr.md": Page(
        store="moto",
        buckets=("acme-backups-eu", "acme-backups-us"),
        password=False,
        check=_dr_check,
        restore_only_aws_profile=True,
    ),
}


def _iam_key(user: str, actions: list[str]) -> dict[str, str]:
    """An access key of a new IAM user on the moto server, allowed these actions only."""
    iam = boto3.client("iam", region_name="us-east-1")
    allow = {"Effect": "Allow", "Action": actions, "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [allow]}
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def sandbox(tmp_path: Path, env: dict[str, str], server: CliServer | None = None) -> Sandbox:
    """A home and a root with sample files; ``s3vault`` in PATH is the fork server's
    (tests/clishim.py: the real entry point, a process of its own per command, without an
    interpreter start each) when there is one, else the console script."""
    home, root = tmp_path / "home", tmp_path / "root"
    for i in range(8):
        write_file(home / "documents" / f"file{i}.txt", f"document {i}\n".encode() * 200)
    write_file(home / "documents" / "notes.txt", b"notes\n")
    write_file(home / "srv" / "www" / "index.html", b"<html></html>\n" * 100)
    write_file(home / "srv" / "db.dump", bytes(range(256)) * 1200)
    write_file(home / ".pw", b"dr runbook password\n")
    write_file(root / "etc" / "s3vault" / "pw", PASSWORD.encode() + b"\n")
    write_file(root / "etc" / "s3vault" / "password", PASSWORD.encode() + b"\n")
    write_file(root / "etc" / "nginx" / "nginx.conf", b"worker_processes 2;\n")
    write_file(root / "etc" / "hosts", b"127.0.0.1 localhost\n")
    write_file(root / "srv" / "www" / "index.html", b"<html>srv</html>\n" * 50)
    (root / "var" / "log").mkdir(parents=True)
    (root / "var" / "backups").mkdir(parents=True)
    env = {k: v for k, v in env.items() if not k.startswith("S3VAULT_")}
    env.update(
        HOME=str(home),
        ROOT=str(root),
        XDG_CACHE_HOME=str(home / ".cache"),
        PATH=":".join(
            [*([str(server.shim_dir())] if server else []), str(Path(S3VAULT).parent), env["PATH"]]
        ),
    )
    if "AWS_ACCESS_KEY_ID" in env:  # the named AWS profiles the pages use, on the same server
        creds = f"aws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = "
        creds += env["AWS_SECRET_ACCESS_KEY"] + "\n"
        write_file(
            home / ".aws" / "credentials",
            "".join(
                f"[{p}]\n{creds}" for p in ("default", "backup", "maintenance", "central-admin")
            ).encode(),
        )
    return Sandbox(home, root, env)


def with_password(box: Sandbox) -> None:
    box.env["S3VAULT_PASSWORD_FILE"] = str(box.root / "etc" / "s3vault" / "pw")


def with_repository(box: Sandbox) -> None:
    with_password(box)
    box.env["S3VAULT_REPOSITORY"] = str(box.root / "var" / "backups" / "s3vault")
    done = box.run(
        "s3vault init --kdf-cost minimum --no-recovery-key -q && "
        "s3vault backup -q --host web1 $ROOT/etc $ROOT/srv"
    )
    assert done.returncode == 0, done.stderr


def replaced(page: Path, spec: Page, values: dict[str, str]) -> list[Step]:
    steps = page_steps(page)
    for old, new in spec.replace.items():
        steps = [Step(s.command.replace(old, new.format(**values)), s.exit_code) for s in steps]
    return steps


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_examples_run(
    name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cli_env: dict[str, str],
    cli_server: CliServer | None,
) -> None:
    spec = PAGES[name]
    page = spec.path or DOCS / name
    missing = [p for p in spec.needs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)} (not installed)")
    values: dict[str, str] = {}
    env = cli_env
    if spec.store == "moto":
        endpoint = request.getfixturevalue("s3_server")
        request.getfixturevalue("s3_bucket")  # a clean server
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in spec.buckets:
            s3.create_bucket(Bucket=bucket)
        kms = boto3.client("kms", region_name="us-east-1")
        values["kms_key"] = kms.create_key(Description="docs")["KeyMetadata"]["Arn"]
        mrk = kms.create_key(Description="docs", MultiRegion=True)["KeyMetadata"]
        kms.replicate_key(KeyId=mrk["KeyId"], ReplicaRegion="us-west-2")  # the DR region's
        values["mrk_key"] = mrk["Arn"]
        env = s3_env(cli_env, endpoint)
        if spec.restore_only_aws_profile:
            env.update(_iam_key("admin", ["*"]))
    elif spec.store == "swift":
        swift = request.getfixturevalue("swift_server")
        values = {"endpoint": swift.endpoint, "bucket": swift.new_bucket()}
        env = {
            **s3_env(cli_env, swift.endpoint),
            "AWS_ACCESS_KEY_ID": swift.access_key,
            "AWS_SECRET_ACCESS_KEY": swift.secret_key,
        }
    box = sandbox(tmp_path, env, cli_server)
    if spec.password:
        with_password(box)
    if spec.repo:
        with_repository(box)
    steps = replaced(page, spec, values)
    assert steps, f"{name} has no examples"
    with contextlib.ExitStack() as enforcing:
        if spec.restore_only_aws_profile:
            key = _iam_key("restore-only", ["s3:Get*", "s3:List*"])
            with (box.home / ".aws" / "credentials").open("a") as credentials:
                credentials.write(
                    f"[restore-only]\naws_access_key_id = {key['AWS_ACCESS_KEY_ID']}\n"
                    f"aws_secret_access_key = {key['AWS_SECRET_ACCESS_KEY']}\n"
                )
            from moto.core.authorization import enable_iam_authentication

            enforcing.enter_context(enable_iam_authentication())
        # a page may build a tree deeper than shutil.rmtree (pytest's clean-up) can remove
        enforcing.callback(remove_deep, tmp_path)
        box.run_steps(steps, spec.prelude, spec.after)
        if spec.check is not None:
            spec.check(box)


def test_shipped_cron_file_and_systemd_unit_run(
    tmp_path: Path, cli_env: dict[str, str], cli_server: CliServer | None
) -> None:
    """docs/examples/s3vault.cron and the ExecStart of s3vault@.service (as s3vault@web), with
    a profile "web" on a local repository."""
    box = sandbox(tmp_path, cli_env, cli_server)
    with_repository(box)
    config = box.root / "etc" / "s3vault" / "config.toml"
    config.write_text(
        f'[profiles.web]\nrepository = "{box.env["S3VAULT_REPOSITORY"]}"\n'
        f'password_file = "{box.env["S3VAULT_PASSWORD_FILE"]}"\n'
        f'paths = ["{box.root}/srv"]\n[profiles.web.retention]\nkeep_daily = 7\n'
    )
    box.env["S3VAULT_CONFIG"] = str(config)
    steps = cron_steps((DOCS / "examples" / "s3vault.cron").read_text())
    assert len(steps) == 2
    logger = box.home / "bin" / "logger"  # syslog is not reachable in the sandbox
    write_file(logger, b'#!/bin/sh\ncat >> "$ROOT/var/log/syslog"\n').chmod(0o755)
    box.env["PATH"] = f"{logger.parent}:{box.env['PATH']}"
    unit = (DOCS / "examples" / "s3vault@.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    assert exec_start.startswith("/usr/local/bin/s3vault ")
    steps.append(Step(exec_start.replace("%i", "web").replace("/usr/local/bin/s3vault", "s3vault")))
    box.run_steps(steps)
    log = (box.root / "var" / "log" / "syslog").read_text()
    assert "snapshot" in log, log
    listed = box.run("s3vault -P web --json snapshots")
    # the cron line's run and the unit's each backed up; keep_daily = 7 kept the later of the
    # two (one a day), beside the other host's snapshot of with_repository
    snaps = json.loads(listed.stdout)
    assert sorted(s["hostname"] for s in snaps) == sorted(["web1", socket.gethostname()]), snaps


def test_every_page_with_examples_is_run_and_no_example_hides() -> None:
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        runnable = False
        for lang, body in fenced(text):
            if lang in ("console", "cron"):
                runnable = True
                continue
            commands = [line for line in body.splitlines() if re.match(r"^\s*(\$ |s3vault )", line)]
            assert lang not in ("sh", "bash", "shell") and not commands, (
                f"{page.name}: a command example outside a console block: {body[:200]}"
            )
        assert not runnable or page.name in PAGES, f"{page.name} has examples no test runs"
        indented = re.findall(INDENTED_COMMAND, FENCE.sub("", text), re.MULTILINE)
        assert not indented, f"{page.name}: commands in an indented block: {indented}"


@pytest.mark.parametrize("name", sorted(n for n, p in PAGES.items() if p.path is None))
def test_every_runnable_page_is_linked(name: str) -> None:
    assert f"docs/{name}" in (DOCS.parent / "README.md").read_text()


def test_troubleshooting_covers_every_exit_code() -> None:
    from s3vault.errors import ExitCode

    text = (DOCS / "troubleshooting.md").read_text()
    headings = {int(m) for m in re.findall(r"^## (\d+): ", text, re.MULTILINE)}
    assert headings == {int(c) for c in ExitCode}


def test_make_demo_runs(tmp_path: Path) -> None:
    """What `make demo` runs (scripts/demo.py), in a temporary directory instead of demo/."""
    import sys

    script = DOCS.parent / "scripts" / "demo.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "is byte-for-byte identical to" in done.stdout
    assert "demo complete" in done.stdout
