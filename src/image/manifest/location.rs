//! [`Location`]: where in a manifest a value sits, as a JSON path such as
//! `app.mountPoints[2].path`. Every rule error of [`super::ManifestError`]
//! carries one, and [`crate::image::spec::from_spec`] maps it back to the `mkACI`
//! argument the value came from.

use std::fmt;

/// One step of a [`Location`]: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A JSON path into a manifest, from its root. Displayed as `app.ports[0].port`;
/// the root itself as `.`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location(Vec<Step>);

impl Location {
    /// The manifest itself.
    pub fn root() -> Location {
        Location(Vec::new())
    }

    /// `self.key`.
    pub fn key(&self, key: &str) -> Location {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_string()));
        Location(steps)
    }

    /// `self[index]`.
    pub fn index(&self, index: usize) -> Location {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        Location(steps)
    }

    /// A path of keys only, e.g. `Location::keys(&["app", "user"])`.
    pub fn keys(keys: &[&str]) -> Location {
        Location(keys.iter().map(|k| Step::Key(k.to_string())).collect())
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    /// Whether `prefix` is this location or one of its ancestors.
    pub fn starts_with(&self, prefix: &Location) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The location with its last step removed; the root stays the root.
    pub fn parent(&self) -> Location {
        let mut steps = self.0.clone();
        steps.pop();
        Location(steps)
    }
}

impl From<&serde_path_to_error::Path> for Location {
    fn from(path: &serde_path_to_error::Path) -> Location {
        use serde_path_to_error::Segment;
        Location(
            path.iter()
                .map(|s| match s {
                    Segment::Seq { index } => Step::Index(*index),
                    Segment::Map { key } => Step::Key(key.clone()),
                    Segment::Enum { variant } => Step::Key(variant.clone()),
                    Segment::Unknown => Step::Key("?".to_string()),
                })
                .collect(),
        )
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(".");
        }
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => f.write_str(k)?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_prefixes() {
        let mp = Location::keys(&["app", "mountPoints"]).index(2);
        assert_eq!(mp.key("path").to_string(), "app.mountPoints[2].path");
        assert_eq!(Location::root().to_string(), ".");
        assert_eq!(Location::root().index(0).to_string(), "[0]");
        assert!(mp.key("path").starts_with(&mp));
        assert!(!mp.starts_with(&mp.key("path")));
        assert_eq!(mp.key("path").parent(), mp);
    }
}
