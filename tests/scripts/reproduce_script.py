"""`scripts/reproduce` (a script without a .py suffix) loaded as a module for the tests."""

import importlib.machinery
import importlib.util
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_reproduce():
    loader = importlib.machinery.SourceFileLoader("reproduce", str(ROOT / "scripts/reproduce"))
    spec = importlib.util.spec_from_loader("reproduce", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def scratch_settings(test):
    """`reproduce`'s settings for a weights and a runs folder of their own, both made empty and
    removed after `test`."""
    folder = tempfile.TemporaryDirectory()
    test.addCleanup(folder.cleanup)
    root = Path(folder.name)
    s = {"weights": root / "weights", "work": root / "runs", "train": []}
    s["weights"].mkdir()
    s["work"].mkdir()
    return s
