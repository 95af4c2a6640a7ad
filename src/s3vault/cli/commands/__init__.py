"""One module per command, named after it."""

from s3vault.cli.commands.alarms import setup_alarms
from s3vault.cli.commands.audit import audit
from s3vault.cli.commands.backup import backup
from s3vault.cli.commands.bucket import doctor, setup_bucket
from s3vault.cli.commands.cache import cache
from s3vault.cli.commands.cat import cat
from s3vault.cli.commands.copy import copy
from s3vault.cli.commands.cost import cost
from s3vault.cli.commands.diff import diff
from s3vault.cli.commands.drill import drill
from s3vault.cli.commands.dump import dump
from s3vault.cli.commands.find import find
from s3vault.cli.commands.fleet import fleet
from s3vault.cli.commands.forget import forget
from s3vault.cli.commands.iam import iam_policy
from s3vault.cli.commands.init import init
from s3vault.cli.commands.key import key
from s3vault.cli.commands.listing import list_command
from s3vault.cli.commands.ls import ls
from s3vault.cli.commands.mount import mount
from s3vault.cli.commands.prune import prune
from s3vault.cli.commands.repair import repair
from s3vault.cli.commands.report import report
from s3vault.cli.commands.restore import restore
from s3vault.cli.commands.rewrite import rewrite
from s3vault.cli.commands.run import run
from s3vault.cli.commands.setup_audit import setup_audit
from s3vault.cli.commands.snapshots import snapshots
from s3vault.cli.commands.stats import stats
from s3vault.cli.commands.tag import tag
from s3vault.cli.commands.unlock import unlock
from s3vault.cli.commands.verify import verify

COMMANDS = [
    init,
    backup,
    snapshots,
    ls,
    list_command,
    cat,
    cache,
    find,
    diff,
    restore,
    dump,
    mount,
    verify,
    drill,
    forget,
    tag,
    rewrite,
    prune,
    unlock,
    repair,
    key,
    audit,
    run,
    copy,
    stats,
    fleet,
    report,
    cost,
    iam_policy,
    setup_bucket,
    setup_audit,
    doctor,
    setup_alarms,
]
