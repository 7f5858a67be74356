"""`scripts/reproduce` trains a committed recipe again as it was made: the VAE phase by phase, each
phase a run started from the one before with that phase's recorded settings, every recipe on the
thread count it was trained on; and keeps the better on validation."""

import contextlib
import io
import json
import unittest
from pathlib import Path

from reproduce_script import load_reproduce, scratch_settings

PHASE_1 = {"batch_size": 128, "epochs": 150, "lr": 0.001, "model": {"latent": 2}, "schedule": "cosine",
           "seed": 42, "weight_decay": 0.015}
PHASE_2 = {"average_from": 1, "batch_size": 128, "encoder_weight_decay": 0.015, "epochs": 20, "lr": 0.0005,
           "model": {"latent": 2}, "schedule": "constant", "seed": 42, "weight_decay": 0.0,
           "warm_start": {"from": "somewhere", "epochs": 150, "hyperparameters": PHASE_1}}


class Silent:
    def say(self, *_):
        pass


class VaeRecipe(unittest.TestCase):
    def setUp(self):
        self.reproduce = load_reproduce()
        self.s = scratch_settings(self)
        self.calls, self.threads = [], []
        self.retrained_loss = 145.0
        self.reproduce.digit_lab = self.fake_digit_lab
        self.enterContext(contextlib.redirect_stdout(io.StringIO()))

    def fake_digit_lab(self, *args, **_):
        """`train` leaves a finished run behind, as the binary does."""
        args = [str(a) for a in args]
        self.calls.append(args)
        self.threads.append(_.get("threads"))
        if args[0] == "train":
            run_dir = Path(args[args.index("--run-dir") + 1])
            run_dir.mkdir(parents=True)
            (run_dir / "manifest.json").write_text(json.dumps({"models": {args[1].replace("-", "_"): {
                "best_valid_loss": self.retrained_loss, "history": f"{run_dir.name}.history.json"}}}))
        return 0, ""

    def commit(self, **entry):
        (self.s["weights"] / "manifest.json").write_text(json.dumps({"models": {"vae": {
            "best_valid_loss": 145.81, "history": "vae-old.history.json", "hyperparameters": PHASE_2, **entry}}}))

    def test_each_phase_is_a_run_started_from_the_one_before(self):
        self.commit()
        self.reproduce.step_vae(self.s, Silent(), "vae")
        first, second = self.calls[0], self.calls[1]
        self.assertEqual(first[:4], ["train", "vae", "--run-dir", str(self.s["work"] / "vae-phase1")])
        self.assertNotIn("--init-from", first)
        self.assertIn("--schedule", first)
        self.assertEqual(first[first.index("--schedule") + 1], "cosine")
        self.assertEqual(first[first.index("--epochs") + 1], "150")
        self.assertEqual(second[second.index("--init-from") + 1], str(self.s["work"] / "vae-phase1"))
        self.assertEqual(second[second.index("--encoder-l2") + 1], "0.015")
        self.assertEqual(second[second.index("--l2") + 1], "0")
        self.assertEqual(second[second.index("--average-from") + 1], "1")
        # The architecture comes with the run a phase continues (`train` refuses it beside --init-from).
        self.assertEqual(first[first.index("--code") + 1], "2")
        self.assertNotIn("--code", second)
        self.assertEqual(self.calls[2][:2], ["publish", str(self.s["work"] / "vae-phase2")])

    def test_a_retrain_worse_on_validation_is_not_published(self):
        self.commit()
        self.retrained_loss = 146.2
        self.reproduce.step_vae(self.s, Silent(), "vae")
        self.assertEqual([c[0] for c in self.calls], ["train", "train"])

    def test_finished_phases_are_not_trained_again(self):
        self.commit()
        self.retrained_loss = 146.2
        self.reproduce.step_vae(self.s, Silent(), "vae")
        self.calls.clear()
        self.reproduce.step_vae(self.s, Silent(), "vae")
        self.assertEqual(self.calls, [])

    def test_phases_train_on_as_many_threads_as_the_committed_vae(self):
        self.commit(threads=1)
        self.reproduce.step_vae(self.s, Silent(), "vae")
        self.assertEqual(self.calls[0][3], str(self.s["work"] / "vae-phase1-1t"))
        self.assertEqual(self.calls[1][self.calls[1].index("--init-from") + 1], str(self.s["work"] / "vae-phase1-1t"))
        self.assertEqual(self.threads[:2], [1, 1])

    def test_a_recipe_trains_on_as_many_threads_as_its_committed_model(self):
        """The same for the ConvAE's recipe (`recipes` step); a model a run made is skipped."""
        recipe = {k: v for k, v in PHASE_1.items() if k != "model"}
        (self.s["weights"] / "manifest.json").write_text(json.dumps({"models": {
            "ae": {"best_valid_loss": 145.81, "history": "ae-old.history.json", "threads": 1,
                   "hyperparameters": {**recipe, "model": {"c1": 8, "code": 2}}},
            "dae": {"run_id": "dae-run", "threads": 2, "hyperparameters": recipe}}}))
        self.retrained_loss = 146.2
        self.reproduce.step_recipes(self.s, Silent(), "recipes")
        self.assertEqual(len(self.calls), 1)
        self.assertEqual(self.calls[0][:4], ["train", "ae", "--run-dir", str(self.s["work"] / "ae-committed-recipe-1t")])
        self.assertEqual(self.threads, [1])

    def test_a_vae_made_by_a_run_of_this_trainer_stays(self):
        self.commit(run_id="vae-phase7")
        self.reproduce.step_vae(self.s, Silent(), "vae")
        self.assertEqual(self.calls, [])


if __name__ == "__main__":
    unittest.main()
