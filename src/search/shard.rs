//! One shard of a rung (`search --shard I/N`): which of a rung's trials it trains and the
//! results file it appends to. Trials within a rung are independent, so N processes (a Slurm
//! job array) can share a rung; each writes only its own file, so no two write the same one.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::grid::SearchPoint;

/// Shard `index` of `count` (0-based, as Slurm numbers array tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shard {
    // Field order gives the fixed merge order: by count, then index.
    pub count: usize,
    pub index: usize,
}

/// Most shards of one rung: far more than any grid has configurations.
pub const MAX_SHARDS: usize = 100_000;

impl FromStr for Shard {
    type Err = String;

    /// Parses `I/N`, with 0 ≤ I < N.
    fn from_str(spec: &str) -> Result<Self, String> {
        let bad = || format!("--shard \"{spec}\": expected I/N with 0 <= I < N <= {MAX_SHARDS}");
        let (index, count) = spec.split_once('/').ok_or_else(bad)?;
        let index: usize = index.trim().parse().map_err(|_| bad())?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Shard { count, index })
    }
}

impl Shard {
    /// This shard's results file, beside the main one:
    /// `docs/search/results.jsonl` → `docs/search/results.shard-I-of-N.jsonl`.
    pub fn file(&self, results: &Path) -> PathBuf {
        results.with_extension(format!("shard-{}-of-{}.jsonl", self.index, self.count))
    }

    /// Recognises a shard file of `results` by its name; `None` for any other file.
    pub fn of_file(results: &Path, file: &Path) -> Option<Shard> {
        let stem = results.file_stem()?.to_str()?;
        let name = file.file_name()?.to_str()?;
        let rest = name.strip_prefix(stem)?.strip_prefix(".shard-")?;
        let (index, count) = rest.strip_suffix(".jsonl")?.split_once("-of-")?;
        let shard: Shard = format!("{index}/{count}").parse().ok()?;
        // Only the canonical spelling (no leading zeros or spaces) names a shard file.
        (shard.file(results).file_name()? == file.file_name()?).then_some(shard)
    }

    /// This shard's share of a rung's configurations: those at positions ≡ index (mod count)
    /// when the rung is sorted by key, so the split depends only on the rung's set of
    /// configurations, not on the order they were found in.
    pub fn share(&self, rung: &[SearchPoint]) -> Vec<SearchPoint> {
        let mut sorted: Vec<(String, &SearchPoint)> = rung.iter().map(|p| (p.key(), p)).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        sorted
            .into_iter()
            .skip(self.index)
            .step_by(self.count)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::grid::Grid;

    #[test]
    fn every_configuration_is_in_exactly_one_shard_whatever_the_order() {
        let points = Grid::paper().points();
        let mut reversed = points.clone();
        reversed.reverse();
        for count in [1, 2, 3, 7, 864, 1000] {
            let mut seen: Vec<String> = Vec::new();
            for index in 0..count {
                let shard = Shard { count, index };
                let share = shard.share(&points);
                assert_eq!(share, shard.share(&reversed), "stable under reordering");
                // Shares differ in size by at most one.
                assert!(
                    share.len() == points.len() / count
                        || share.len() == points.len().div_ceil(count)
                );
                seen.extend(share.iter().map(SearchPoint::key));
            }
            let total = seen.len();
            seen.sort();
            seen.dedup();
            assert_eq!((total, seen.len()), (864, 864), "{count} shards");
        }
    }

    #[test]
    fn shard_specs_and_file_names() {
        assert_eq!("2/3".parse(), Ok(Shard { count: 3, index: 2 }));
        for bad in ["3/3", "0/0", "1", "a/3", "-1/3", "1/3/4", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
        let results = Path::new("docs/search/results.jsonl");
        let shard = Shard { count: 3, index: 1 };
        let file = shard.file(results);
        assert_eq!(file, Path::new("docs/search/results.shard-1-of-3.jsonl"));
        assert_eq!(Shard::of_file(results, &file), Some(shard));
        for other in [
            "docs/search/results.jsonl",
            "docs/search/results.plan.json",
            "docs/search/results.shard-01-of-3.jsonl",
            "docs/search/results.shard-3-of-3.jsonl",
            "docs/search/other.shard-1-of-3.jsonl",
        ] {
            assert_eq!(Shard::of_file(results, Path::new(other)), None, "{other}");
        }
    }
}
