import sys
from pathlib import Path

# The demo's sandbox (a throw-away Superset home) and tests.* helpers are
# imported from the checkout. The checkout goes to the END of sys.path (as
# pytest's --import-mode=append does, see setup.cfg), so `superset_mcp_jwt`
# still resolves to the installed wheel in site-packages, not ./superset_mcp_jwt.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.append(ROOT)
