"""The test suite. Contract cards go to a throwaway folder, not the user's cache."""

import os
import tempfile

os.environ.setdefault("ML_ASSETS_CACHE_DIR", tempfile.mkdtemp(prefix="ml_assets_test_cache_"))
