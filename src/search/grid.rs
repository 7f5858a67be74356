//! The paper's hyperparameter grid for the ConvAE (PROTOCOL.md, paper §2.1), parsed overrides
//! (`--set c1=8,16`) and the points of the grid in a fixed order.

use serde::{Deserialize, Serialize};

/// One configuration of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchPoint {
    pub c1: usize,
    pub c2: usize,
    pub c3: usize,
    pub fc: usize,
    pub lr: f64,
    pub l2: f64,
    pub dropout: f64,
}

impl SearchPoint {
    /// The configuration the paper chose (and this project's default ConvAE).
    pub fn paper_best() -> Self {
        SearchPoint {
            c1: 8,
            c2: 16,
            c3: 64,
            fc: 64,
            lr: 1e-3,
            l2: 1e-5,
            dropout: 0.1,
        }
    }

    /// A stable, readable identity, e.g. `c1=8 c2=16 c3=64 fc=64 lr=1e-3 l2=1e-5 drop=0.1`.
    pub fn key(&self) -> String {
        format!(
            "c1={} c2={} c3={} fc={} lr={:e} l2={:e} drop={}",
            self.c1, self.c2, self.c3, self.fc, self.lr, self.l2, self.dropout
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GridError {
    #[error("unknown parameter \"{0}\" (expected one of c1, c2, c3, fc, lr, l2, drop)")]
    UnknownParameter(String),
    #[error("\"{0}\" is not of the form name=value[,value...]")]
    Malformed(String),
    #[error("{name}: \"{value}\" is not valid: {reason}")]
    BadValue {
        name: String,
        value: String,
        reason: &'static str,
    },
}

/// The values searched for each parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub c1: Vec<usize>,    // first convolution's channels
    pub c2: Vec<usize>,    // second convolution's channels
    pub c3: Vec<usize>,    // third convolution's channels
    pub fc: Vec<usize>,    // hidden linear layer's width
    pub lr: Vec<f64>,      // Adam's learning rate
    pub l2: Vec<f64>,      // L2 weight decay
    pub dropout: Vec<f64>, // dropout after the convolutions
}

impl Grid {
    /// The paper's grid: 4·3·2·2·3·3·2 = 864 configurations.
    pub fn paper() -> Self {
        Grid {
            c1: vec![8, 16, 32, 64],
            c2: vec![16, 32, 64],
            c3: vec![32, 64],
            fc: vec![32, 64],
            lr: vec![1e-5, 1e-4, 1e-3],
            l2: vec![1e-5, 1e-4, 1e-3],
            dropout: vec![0.1, 0.5],
        }
    }

    /// Replaces one parameter's values from `name=v1,v2,...`.
    pub fn set(&mut self, spec: &str) -> Result<(), GridError> {
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| GridError::Malformed(spec.to_string()))?;
        let name = name.trim();
        // Each value once: `c1=8,8` is one configuration, not two trained twice.
        let mut values: Vec<&str> = values.split(',').map(str::trim).collect();
        let mut seen = std::collections::HashSet::new();
        values.retain(|v| seen.insert(*v));
        if values.iter().any(|v| v.is_empty()) {
            return Err(GridError::Malformed(spec.to_string()));
        }
        let bad = |value: &str, reason| GridError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            reason,
        };
        let channels = |values: &[&str]| -> Result<Vec<usize>, GridError> {
            values
                .iter()
                .map(|v| match v.parse::<usize>() {
                    Ok(n) if (1..=1024).contains(&n) => Ok(n),
                    _ => Err(bad(v, "expected an integer from 1 to 1024")),
                })
                .collect()
        };
        let reals = |values: &[&str], ok: fn(f64) -> bool, reason| -> Result<Vec<f64>, GridError> {
            values
                .iter()
                .map(|v| match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && ok(x) => Ok(x),
                    _ => Err(bad(v, reason)),
                })
                .collect()
        };
        match name {
            "c1" => self.c1 = channels(&values)?,
            "c2" => self.c2 = channels(&values)?,
            "c3" => self.c3 = channels(&values)?,
            "fc" => self.fc = channels(&values)?,
            "lr" => {
                self.lr = reals(
                    &values,
                    |x| x > 0.0 && x <= 1.0,
                    "expected a learning rate in (0, 1]",
                )?
            }
            "l2" => self.l2 = reals(&values, |x| x >= 0.0, "expected a penalty >= 0")?,
            "drop" | "dropout" => {
                self.dropout = reals(
                    &values,
                    |x| (0.0..1.0).contains(&x),
                    "expected a rate in [0, 1)",
                )?
            }
            other => return Err(GridError::UnknownParameter(other.to_string())),
        }
        Ok(())
    }

    /// Every configuration, in a fixed order (the last parameter varies fastest).
    pub fn points(&self) -> Vec<SearchPoint> {
        let mut points = Vec::new();
        for &c1 in &self.c1 {
            for &c2 in &self.c2 {
                for &c3 in &self.c3 {
                    for &fc in &self.fc {
                        for &lr in &self.lr {
                            for &l2 in &self.l2 {
                                for &dropout in &self.dropout {
                                    points.push(SearchPoint {
                                        c1,
                                        c2,
                                        c3,
                                        fc,
                                        lr,
                                        l2,
                                        dropout,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_grid_has_864_points_including_the_papers_choice() {
        let points = Grid::paper().points();
        assert_eq!(points.len(), 864);
        assert!(points.contains(&SearchPoint::paper_best()));
        let mut keys: Vec<String> = points.iter().map(SearchPoint::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 864, "keys are unique");
    }

    #[test]
    fn a_repeated_value_is_one_configuration() {
        let mut grid = Grid::paper();
        grid.set("c1=8,8").unwrap();
        assert_eq!(grid.c1, vec![8]);
        assert_eq!(grid.points().len(), 864 / 4);
    }

    #[test]
    fn overrides_replace_one_parameter() {
        let mut grid = Grid::paper();
        grid.set("c1=8,16").unwrap();
        grid.set(" lr = 1e-3 ").unwrap();
        grid.set("drop=0.1").unwrap();
        assert_eq!(grid.c1, vec![8, 16]);
        assert_eq!(grid.lr, vec![1e-3]);
        assert_eq!(grid.points().len(), 2 * 3 * 2 * 2 * 3);
    }

    #[test]
    fn bad_overrides_are_clear_errors() {
        let mut grid = Grid::paper();
        assert_eq!(
            grid.set("c5=8"),
            Err(GridError::UnknownParameter("c5".into()))
        );
        assert_eq!(grid.set("c1"), Err(GridError::Malformed("c1".into())));
        assert_eq!(
            grid.set("c1=8,,16"),
            Err(GridError::Malformed("c1=8,,16".into()))
        );
        for spec in ["c1=8x", "c2=0", "lr=2", "lr=NaN", "l2=-1", "drop=1"] {
            let err = grid.set(spec).unwrap_err();
            assert!(matches!(err, GridError::BadValue { .. }), "{spec}: {err}");
        }
        assert!(
            grid.set("c1=8x")
                .unwrap_err()
                .to_string()
                .contains("\"8x\" is not valid")
        );
        assert_eq!(grid, Grid::paper(), "a failed override changes nothing");
    }
}
