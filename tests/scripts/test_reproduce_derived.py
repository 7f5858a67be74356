"""`scripts/reproduce` makes the digit check, the handwriting record and the maps again exactly
when a model (or the check) they read has changed: by the recorded inputs, not by file times,
which a fresh clone sets in any order."""

import json
import tempfile
import unittest
from pathlib import Path

from reproduce_script import load_reproduce

MODELS = {name: {"file": f"{name}-0000.bpk"} for name in ["ae", "classifier", "classifier_best", "dae", "vae"]}


class Derived(unittest.TestCase):
    def setUp(self):
        self.reproduce = load_reproduce()
        self.dir = tempfile.TemporaryDirectory()
        root = Path(self.dir.name)
        self.s = {"weights": root / "weights", "docs": root / "docs"}
        self.s["weights"].mkdir()
        self.models = json.loads(json.dumps(MODELS))
        self.save()
        for name in ["digit_check.json", "maps.json"]:
            (self.s["weights"] / name).write_text("{}")
            self.reproduce.stamp(self.s, name)
        self.s["docs"].mkdir()
        (self.s["docs"] / "handwriting.json").write_text("{}")
        self.reproduce.stamp(self.s, "handwriting.json")

    def tearDown(self):
        self.dir.cleanup()

    def save(self):
        (self.s["weights"] / "manifest.json").write_text(json.dumps({"models": self.models}))

    def fresh(self, artefact):
        folder = self.s["docs"] if artefact == "handwriting.json" else self.s["weights"]
        return self.reproduce.up_to_date(self.s, artefact, folder / artefact)

    def test_a_model_none_of_them_reads_changes_nothing(self):
        self.models["dae"]["file"] = "dae-1111.bpk"
        self.save()
        self.assertTrue(self.fresh("digit_check.json"))
        self.assertTrue(self.fresh("maps.json"))
        self.assertTrue(self.fresh("handwriting.json"))

    def test_a_new_vae_makes_the_check_and_the_maps_again(self):
        self.models["vae"]["file"] = "vae-1111.bpk"
        self.save()
        self.assertFalse(self.fresh("digit_check.json"))
        self.assertFalse(self.fresh("maps.json"))
        self.assertTrue(self.fresh("handwriting.json"))

    def check_with(self, features):
        check = self.s["weights"] / "digit_check.json"
        check.write_text(json.dumps({"check": {"features": features}}))
        self.reproduce.stamp(self.s, "digit_check.json")

    def test_a_new_convae_refits_only_a_check_that_reads_it(self):
        self.check_with(["log_neg_elbo", "confidence_logit"])
        self.models["ae"]["file"] = "ae-1111.bpk"
        self.save()
        self.assertTrue(self.fresh("digit_check.json"))
        self.assertFalse(self.fresh("maps.json"))
        self.check_with(["log_neg_elbo", "log_recon"])
        self.models["ae"]["file"] = "ae-2222.bpk"
        self.save()
        self.assertFalse(self.fresh("digit_check.json"))

    def test_a_new_check_makes_the_handwriting_record_again(self):
        (self.s["weights"] / "digit_check.json").write_text('{"refitted": true}')
        self.assertFalse(self.fresh("handwriting.json"))

    def test_without_a_record_everything_is_made_again(self):
        (self.s["weights"] / "derived-from.json").unlink()
        self.assertFalse(self.fresh("digit_check.json"))
        self.assertFalse(self.fresh("maps.json"))

    def test_a_missing_artefact_is_made_again(self):
        (self.s["weights"] / "maps.json").unlink()
        self.assertFalse(self.fresh("maps.json"))


class Refit(unittest.TestCase):
    """A refit keeps what was chosen on validation: the committed check's recorded settings."""

    def setUp(self):
        self.reproduce = load_reproduce()
        self.dir = tempfile.TemporaryDirectory()
        root = Path(self.dir.name)
        self.s = {"weights": root / "weights", "docs": root / "docs", "digit_check": ["--fit-digits", "500"],
                  "confident_grid": root / "grid.png"}
        self.s["weights"].mkdir()
        (self.s["weights"] / "manifest.json").write_text(json.dumps({"models": MODELS}))
        self.calls = []
        self.reproduce.digit_lab = lambda *args, **_: self.calls.append([str(a) for a in args]) or (0, "")

    def tearDown(self):
        self.dir.cleanup()

    def test_the_committed_checks_seeds_and_settings_are_kept(self):
        command = ("digit-lab digit-check --weights elsewhere --fit-seed 11 --probe-seed 14 "
                   "--features log_neg_elbo,ink --confident-grid old.png --leave-one-kind-out --final")
        (self.s["weights"] / "digit_check.json").write_text(json.dumps({"measured": {"command": command}}))
        self.reproduce.step_digit_check(self.s)
        args = self.calls[0]
        self.assertEqual(args[:3], ["digit-check", "--weights", str(self.s["weights"])])
        self.assertEqual(args[args.index("--fit-seed") + 1], "11")
        self.assertEqual(args[args.index("--probe-seed") + 1], "14")
        self.assertIn("--leave-one-kind-out", args)
        self.assertEqual(args.count("--weights"), 1)
        self.assertEqual(args[args.index("--confident-grid") + 1], str(self.s["confident_grid"]))
        self.assertNotIn("old.png", args)
        self.assertEqual(args.count("--final"), 1)

    def test_without_a_committed_check_the_modes_settings(self):
        self.reproduce.step_digit_check(self.s)
        self.assertEqual(self.calls[0][3:5], ["--fit-digits", "500"])


if __name__ == "__main__":
    unittest.main()
