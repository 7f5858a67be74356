"""`scripts/reproduce`'s progress line: its ETA counts only what is left of the current step."""

import tempfile
import unittest
from pathlib import Path

from reproduce_script import load_reproduce


class ProgressEta(unittest.TestCase):
    def setUp(self):
        self.reproduce = load_reproduce()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "progress.json"

    def tearDown(self):
        self.dir.cleanup()

    def progress(self):
        estimate = {"a": 100, "b": 400, "c": 50}
        return self.reproduce.Progress(["a", "b", "c"], estimate, self.path)

    def test_the_current_step_counts_only_its_share_left(self):
        progress = self.progress()
        progress.finished("a", 200)  # twice as slow as estimated
        self.assertAlmostEqual(progress.eta("b", 1.0), 2 * (400 + 50))
        self.assertAlmostEqual(progress.eta("b", 0.25), 2 * (100 + 50))

    def test_a_step_found_done_on_disk_does_not_set_the_speed(self):
        progress = self.progress()
        progress.finished("a", 1)  # under 2 % of its estimate: skipped, not measured
        self.assertAlmostEqual(progress.eta("b", 0.5), 200 + 50)

    def test_a_step_with_nothing_to_do_leaves_the_eta(self):
        progress = self.progress()
        progress.skipping = {"b"}
        self.assertAlmostEqual(progress.eta("a", 1.0), 100 + 50)

    def test_finished_steps_survive_a_restart(self):
        self.progress().finished("a", 100)
        self.assertEqual(self.progress().done, {"a": 100})

    def test_a_step_resumed_after_a_kill_does_not_set_the_speed(self):
        first = self.progress()
        first.finished("a", 200)
        first.begin("b")  # killed while running b
        second = self.progress()
        second.begin("b")
        second.finished("b", 40)  # only the rest of b: far faster than its estimate
        third = self.progress()
        self.assertEqual(third.resumed, {"b"})
        self.assertAlmostEqual(third.eta("c", 1.0), 2 * 50)

    def test_a_file_of_the_old_format_is_read(self):
        self.path.write_text('{"a": 200}')
        self.assertEqual(self.progress().done, {"a": 200})
        self.assertAlmostEqual(self.progress().eta("b", 1.0), 2 * (400 + 50))


if __name__ == "__main__":
    unittest.main()
