"""`scripts/reproduce` (a script without a .py suffix) loaded as a module for the tests."""

import importlib.machinery
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_reproduce():
    loader = importlib.machinery.SourceFileLoader("reproduce", str(ROOT / "scripts/reproduce"))
    spec = importlib.util.spec_from_loader("reproduce", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
