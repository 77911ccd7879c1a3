import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os  # noqa: E402
import tempfile  # noqa: E402

# Tool version answers are cached per tool build; the tests keep theirs out of the user's cache.
os.environ.setdefault("EDGECONV_CACHE_DIR", tempfile.mkdtemp(prefix="edgeconv-test-cache-"))
