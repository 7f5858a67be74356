"""`scripts/reproduce` keeps the better model on validation, also against a committed model that
recorded no data or split (trained before runs existed), which `digit-lab publish` cannot
compare by itself."""

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

from reproduce_script import load_reproduce, scratch_settings


class KeepTheBetter(unittest.TestCase):
    def setUp(self):
        self.reproduce = load_reproduce()
        self.dir = tempfile.TemporaryDirectory()
        root = Path(self.dir.name)
        self.s = {"weights": root / "weights"}
        self.run = root / "runs/ae-committed-recipe"
        self.run.mkdir(parents=True)
        self.s["weights"].mkdir()
        self.calls = []
        self.reproduce.digit_lab = lambda *args, **_: self.calls.append([str(a) for a in args]) or (0, "")
        self.enterContext(contextlib.redirect_stdout(io.StringIO()))

    def tearDown(self):
        self.dir.cleanup()

    def models(self, committed, ours):
        """A committed entry without data or split records, and the run's own."""
        (self.s["weights"] / "manifest.json").write_text(json.dumps(
            {"models": {"ae": {"best_valid_loss": committed, "history": "ae-old.history.json"}}}))
        (self.run / "manifest.json").write_text(json.dumps(
            {"models": {"ae": {"best_valid_loss": ours, "history": "ae-new.history.json"}}}))

    def test_a_run_worse_on_validation_is_not_published(self):
        self.models(committed=0.0344, ours=0.0358)
        self.assertFalse(self.reproduce.publish(self.s, self.run, "ae"))
        self.assertEqual(self.calls, [])

    def test_replace_publishes_a_run_worse_on_validation(self):
        self.models(committed=0.0344, ours=0.0358)
        self.assertTrue(self.reproduce.publish(self.s, self.run, "ae", replace=True))
        self.assertEqual(self.calls[0][-1], "--replace-better")

    def test_a_run_better_on_validation_is_published(self):
        self.models(committed=0.0358, ours=0.0344)
        self.assertTrue(self.reproduce.publish(self.s, self.run, "ae"))
        self.assertEqual(self.calls[0][0], "publish")


class PaperClassifier(unittest.TestCase):
    """The paper classifier is trained again only when the committed one did not come from a run
    on the adopted ConvAE's encoder."""

    def setUp(self):
        self.reproduce = load_reproduce()
        self.s = scratch_settings(self)
        self.trained = []
        self.reproduce.train = lambda s, model, run_dir, *flags, **_: self.trained.append(run_dir.name)
        self.published = []
        self.reproduce.publish = lambda s, run_dir, model, replace=False: self.published.append(replace) or True

    def committed(self, classifier):
        ae = {"file": "ae-1111.bpk", "sha256": "1111aaaa"}
        (self.s["weights"] / "manifest.json").write_text(json.dumps({"models": {"ae": ae, "classifier": classifier}}))

    def test_a_run_on_the_adopted_encoder_is_kept(self):
        self.committed({"run_id": "s5", "hyperparameters": {"encoder_from": {"sha256": "1111aaaa"}}})
        self.reproduce.step_classifier(self.s, None, "classifier")
        self.assertEqual(self.trained, [])

    def test_another_encoder_or_no_run_trains_it_again(self):
        for classifier in [{"run_id": "s5", "hyperparameters": {"encoder_from": {"sha256": "2222bbbb"}}},
                           {"hyperparameters": {}}]:
            self.committed(classifier)
            self.reproduce.step_classifier(self.s, None, "classifier")
        self.assertEqual(self.trained, ["classifier-on-ae-1111", "classifier-on-ae-1111"])
        # One on another encoder gives way even if it scored better; one with no encoder recorded
        # is compared on validation.
        self.assertEqual(self.published, [True, False])


if __name__ == "__main__":
    unittest.main()
