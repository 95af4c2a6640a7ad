"""`make demo`: the main job on a local-directory repository, each step printed as it runs.

Makes a sample tree, initialises a repository, backs up, changes a few files, backs up again
(an incremental), lists snapshots, restores the latest into a fresh directory and proves that
the restore equals the source byte for byte.
"""

from __future__ import annotations

import filecmp
import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "demo"
S3VAULT = str(Path(sys.executable).with_name("s3vault"))


def step(title: str) -> None:
    print(f"\n=== {title}")


def run(*args: str) -> None:
    shown = " ".join(shlex.quote(a) for a in ["s3vault", *args])
    print(f"$ {shown}", flush=True)
    done = subprocess.run([S3VAULT, *args], check=False)
    if done.returncode != 0:
        sys.exit(f"demo failed: s3vault exited with {done.returncode}")


def make_sample(src: Path) -> None:
    rng = random.Random(2026)
    for d in range(5):
        for f in range(20):
            path = src / "etc" / f"conf{d}" / f"file{f}.conf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"key{i} = {rng.random()}\n" for i in range(50)))
    (src / "srv").mkdir(parents=True)
    (src / "srv" / "database.dump").write_bytes(rng.randbytes(12 << 20))
    (src / "srv" / "logs.txt").write_text("GET /index.html 200\n" * 200_000)
    os.symlink("logs.txt", src / "srv" / "current.log")


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _match, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT  # another place: the test's
    shutil.rmtree(root, ignore_errors=True)
    src, repo, target = root / "source", root / "repository", root / "restored"
    os.environ["S3VAULT_REPOSITORY"] = str(repo)
    os.environ["S3VAULT_PASSWORD"] = "demo password, use --password-file in real life"
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")

    step(f"1. a sample tree in {src}")
    make_sample(src)
    print("100 small config files, a 12 MiB database dump, a 4 MiB log, a symlink")
    step("2. create a local repository (small KDF cost for the demo)")
    run("init", "--kdf-cost", "small")
    step("3. first backup")
    run("backup", str(src), "--tag", "demo")
    step("4. change a few files and back up again: only the changes are read and stored")
    (src / "etc" / "conf0" / "file0.conf").write_text("changed = yes\n")
    with open(src / "srv" / "logs.txt", "a") as f:
        f.write("POST /login 302\n" * 1000)
    (src / "etc" / "new.conf").write_text("brand = new\n")
    run("backup", str(src), "--tag", "demo")
    step("5. list snapshots")
    run("snapshots")
    step(f"6. restore the latest snapshot into {target}")
    run("restore", "latest", "--target", str(target))
    step("7. prove the restore equals the source")
    restored = target / str(src).lstrip("/")
    if not same_tree(src, restored):
        sys.exit("demo failed: the restored tree differs from the source")
    print(f"restored tree {restored} is byte-for-byte identical to {src}")
    print("\ndemo complete")


if __name__ == "__main__":
    main()
