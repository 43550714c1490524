"""Shared test setup: unit tests extract datasets into a private folder, never the user's cache."""
import pytest

from coursekit.learner import defaults


@pytest.fixture(autouse=True, scope="session")
def _private_data_folder(tmp_path_factory):
    """Point `COURSEKIT_DATA` at a fresh folder for the whole session, so tests start from the bundled archives."""
    mp = pytest.MonkeyPatch()
    mp.setenv("COURSEKIT_DATA", str(tmp_path_factory.mktemp("coursekit-data")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def quiet():
    """Train without progress bars and results tables; a test that checks them turns them on itself."""
    old = vars(defaults).copy()
    defaults.logging = defaults.progress = False
    yield
    vars(defaults).update(old)
