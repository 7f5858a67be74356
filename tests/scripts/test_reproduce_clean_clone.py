"""`scripts/reproduce` on a clean clone: the committed full runs' records stand for the run
directories it does not have, so no recorded run is trained again, except the winner that
`adopt` is to publish."""

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

from reproduce_script import load_reproduce

POINT = {"c1": 8, "c2": 16, "c3": 32, "fc": 32, "lr": 0.001, "l2": 1e-05, "dropout": 0.1}


class CleanClone(unittest.TestCase):
    def setUp(self):
        self.reproduce = load_reproduce()
        self.dir = tempfile.TemporaryDirectory()
        root = Path(self.dir.name)
        self.s = {"work": root / "runs", "weights": root / "weights", "full_runs": root / "full-runs.jsonl",
                  "train": [], "dae_results": root / "dae-results.jsonl", "ae_results": root / "results.jsonl"}
        self.calls = []
        self.enterContext(contextlib.redirect_stdout(io.StringIO()))  # its progress lines
        self.reproduce.digit_lab = self.fake_digit_lab
        self.reproduce.publish = lambda s, run_dir, model: self.calls.append(["publish", run_dir.name])

    def fake_digit_lab(self, *args, **_):
        """Records the command; `train` leaves a finished run directory behind."""
        args = [str(a) for a in args]
        self.calls.append(args)
        if args[0] == "train":
            run_dir = Path(args[args.index("--run-dir") + 1])
            run_dir.mkdir(parents=True)
            models = {args[1]: {"epochs": 10, "best_valid_loss": 0.03}}
            (run_dir / "manifest.json").write_text(json.dumps({"models": models}))
        return 0, ""

    def tearDown(self):
        self.dir.cleanup()

    def finalists(self, model, losses):
        """A last rung of one finalist per loss, each recorded as a full run."""
        results, records = [], []
        for i, loss in enumerate(losses):
            point = {**POINT, "fc": 32 + i}
            results.append({"rung": 3, "valid_mse": 0.05 + i, "point": point})
            run = f"{model}-{self.reproduce.slug(point)}"
            records.append({"run": run, "model": model, "epochs": 10, "best_valid_loss": loss})
        self.s[f"{model}_results"].write_text("".join(json.dumps(r) + "\n" for r in results))
        with self.s["full_runs"].open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)

    def commit(self, **losses):
        self.s["weights"].mkdir(exist_ok=True)
        models = {m: {"best_valid_loss": loss} for m, loss in losses.items()}
        (self.s["weights"] / "manifest.json").write_text(json.dumps({"models": models}))

    def test_a_recorded_run_without_its_directory_is_not_trained_again(self):
        self.finalists("ae", [0.04])
        _, run_dir = self.reproduce.finalist_dirs(self.s, "ae", self.s["ae_results"])[0]
        self.reproduce.full_run(self.s, "ae", run_dir, "--c1", "8")
        self.assertEqual(self.calls, [])

    def test_an_unrecorded_run_is_trained(self):
        self.finalists("ae", [0.04])
        self.reproduce.full_run(self.s, "ae", self.s["work"] / "ae-code3-x", "--code", "3")
        self.assertEqual([c[0] for c in self.calls], ["train", "record-run"])

    def test_the_winner_is_chosen_on_the_recorded_validation_loss(self):
        self.finalists("dae", [0.036, 0.035, 0.037])
        record, run_dir = self.reproduce.winner(self.s, "dae", "dae", self.s["dae_results"])
        self.assertEqual(record["point"]["fc"], 33)
        self.assertTrue(run_dir.name.startswith("dae-"))

    def test_adopt_trains_again_only_a_winner_better_than_the_committed_model(self):
        self.finalists("ae", [0.040, 0.041])
        self.finalists("dae", [0.036, 0.035])
        self.commit(ae=0.039, dae=0.037)
        progress = self.reproduce.Progress(["adopt"], {"adopt": 1}, Path(self.dir.name) / "progress.json")
        self.reproduce.step_adopt(self.s, progress, "adopt")
        trained = [c for c in self.calls if c[0] == "train"]
        self.assertEqual(len(trained), 1)
        self.assertEqual(trained[0][:2], ["train", "dae"])
        self.assertIn("33", trained[0][trained[0].index("--fc") + 1])
        self.assertEqual(self.calls[-1][0], "publish")


class CommittedState(unittest.TestCase):
    """What is committed is finished: on a clean clone every step but `adopt` (which compares)
    and `report` (which rewrites) finds its work done, so the progress line's ETA is short."""

    def test_a_clean_clone_has_nothing_to_train_or_derive(self):
        reproduce = load_reproduce()
        idle = reproduce.nothing_to_do(reproduce.settings(False))
        self.assertEqual(idle, {"search-ae", "search-dae", "finalists-ae", "finalists-dae", "code-sizes",
                                "recipes", "classifier", "vae", "classifier-best", "dae-wide",
                                "digit-check", "handwriting", "maps"})


if __name__ == "__main__":
    unittest.main()
