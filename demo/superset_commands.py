"""Run several ``superset`` commands in one process: ``python superset_commands.py JSON``.

JSON is a list of argument lists, e.g. ``[["db", "upgrade"], ["init"]]``. Each runs
as Superset's own command line would run it (``superset.cli.main``), on one app
built once: the sandbox's set-up pays for starting Superset once, not per command.
Stops at the first command that fails, with its exit status.
"""

from __future__ import annotations

import json
import sys


def main(commands: list[list[str]]) -> int:
    from superset.app import create_app
    from superset.cli.main import superset

    runner = create_app().test_cli_runner()
    for args in commands:
        result = runner.invoke(superset, args, catch_exceptions=False)
        sys.stdout.write(result.output)
        if result.exit_code:
            sys.stderr.write(f"superset {' '.join(args[:2])} exited with {result.exit_code}\n")
            return result.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
