import sys
from pathlib import Path

# The demo's sandbox (a throw-away Superset home) is shared with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
