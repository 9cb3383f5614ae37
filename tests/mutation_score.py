"""Print the mutation score of the last `mutmut run` (`make mutate`), per module.

Reads mutmut's result files (mutants/<module>.py.meta). A mutant counts as
killed when a test failed on it, or when the tests ran into mutmut's timeout
(the mutant made them hang: they would not pass either). Every other outcome
(survived, no test reached it, suspicious) counts against the score. Survivors
named in tests/MUTANTS.md (equivalent mutants, with the reason) are listed as
such; any other survivor is listed as a gap. Exit status 1 if the core is below
the target or a survivor is unexplained.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

TARGET = 95.0
KILLED = {1, 3}  # a test failed (3: pytest's internal error, as mutmut counts it)
TIMEOUT = {36, 24, -24, 152, 255}
NAMES = {0: "survived", 5: "no tests", 33: "no tests", None: "not checked"}


def main(root: Path = Path(".")) -> int:
    metas = sorted((root / "mutants").glob("**/*.py.meta"))
    if not metas:
        print("no mutmut results: run `make mutate` first")
        return 1
    documented = set(re.findall(r"`([\w.]+__mutmut_\d+)`", (root / "tests" / "MUTANTS.md").read_text()))
    total = Counter()
    killed = Counter()
    survivors: list[tuple[str, str]] = []
    print(f"{'module':<32} {'killed':>7} {'total':>6} {'score':>7}   (timeouts)")
    for meta in metas:
        module = str(meta.relative_to(root / "mutants"))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        n_killed = sum(1 for c in codes.values() if c in KILLED or c in TIMEOUT)
        n_timeout = sum(1 for c in codes.values() if c in TIMEOUT)
        total[module], killed[module] = len(codes), n_killed
        survivors += [
            (name, NAMES.get(code, f"suspicious ({code})"))
            for name, code in sorted(codes.items())
            if code not in KILLED and code not in TIMEOUT
        ]
        print(f"{module:<32} {n_killed:>7} {len(codes):>6} {100 * n_killed / len(codes):>6.1f}%   ({n_timeout})")
    all_killed, all_total = sum(killed.values()), sum(total.values())
    score = 100 * all_killed / all_total
    print(f"{'core':<32} {all_killed:>7} {all_total:>6} {score:>6.1f}%   target {TARGET:g}%")

    unexplained = [(name, status) for name, status in survivors if name not in documented]
    equivalent = len(survivors) - len(unexplained)
    if survivors:
        print(f"\n{len(survivors)} not killed: {equivalent} equivalent (tests/MUTANTS.md), "
              f"{len(unexplained)} unexplained")
    for name, status in unexplained:
        print(f"    {name}: {status}   (mutmut show {name})")
    return 0 if score >= TARGET and not unexplained else 1


if __name__ == "__main__":
    sys.exit(main())
