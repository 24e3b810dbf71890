//! Where data sets are found: an explicit path, else `NABLA_DATA`, else the repository's `data/`.
//!
//! Every `load(...)` function of this crate looks for its set in a list of *data roots*, in this
//! order, and takes the first that holds the file:
//!
//! | order | root | when |
//! |---|---|---|
//! | 1 | each folder in the `NABLA_DATA` environment variable (`:`-separated, like `PATH`) | if set |
//! | 2 | this repository's `data/` folder (found from the crate's own location) | always |
//! | 3 | `./data` under the current directory | always |
//! | 4 | `../shared/data` next to the repository (the course machines and CI) | always |
//!
//! Inside a root, each set has its folder: `mnist/`, `fashion-mnist/`, `cifar10-subset/`, ...
//! The `load_from(dir, ...)` variants take the set's folder explicitly and look nowhere else.
//!
//! A set that is not found is a [`DataError::NotFound`] naming every folder tried and where to
//! get the data:
//!
//! ```text
//! CIFAR-10 train batches not found: looked for data_batch_*.bin in
//!   /home/ada/nabla/data/cifar10-subset
//!   /home/ada/nabla/data/cifar-10-batches-bin
//! CIFAR-10 is not in this repository: set NABLA_DATA to a folder containing cifar10-subset/ (on the course machines: ../shared/data).
//! ```

use std::path::{Path, PathBuf};

use crate::error::DataError;

/// The environment variable naming extra data roots.
pub const ENV_VAR: &str = "NABLA_DATA";

/// The repository's `data/` folder, located from this crate's source directory
/// (`crates/nabla-data/../../data`). It exists when the crate is built from the repository.
pub fn repository_data_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent().and_then(Path::parent) {
        Some(root) => root.join("data"),
        None => manifest.join("data"),
    }
}

/// The data roots, in search order (see the [module docs](self)); duplicates are removed.
pub fn data_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(value) = std::env::var_os(ENV_VAR) {
        roots.extend(std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()));
    }
    let repo_data = repository_data_dir();
    let shared = repo_data.parent().and_then(Path::parent).map(|outside| outside.join("shared").join("data"));
    roots.push(repo_data);
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd.join("data"));
    }
    roots.extend(shared);
    let mut seen: Vec<PathBuf> = Vec::new();
    roots.retain(|root| {
        let key = root.canonicalize().unwrap_or_else(|_| root.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    roots
}

/// Whether a set ships in this repository or must be pointed at; decides the hint of a
/// [`DataError::NotFound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Committed under the repository's `data/<folder>`.
    InRepository,
    /// Not committed (its license does not allow it, or it is large): read from `NABLA_DATA`.
    External,
}

/// A data set's identity for the search: its name, folders and where to get it.
#[derive(Clone, Copy, Debug)]
pub struct SetInfo {
    /// The name in messages, e.g. `"MNIST"`.
    pub name: &'static str,
    /// The folder names it may sit in under a data root, preferred first.
    pub folders: &'static [&'static str],
    /// Whether it ships in the repository.
    pub availability: Availability,
    /// An extra sentence on where to get it, or `""`.
    pub extra_hint: &'static str,
}

impl SetInfo {
    /// The sentence telling the user where to get the set.
    pub fn hint(&self) -> String {
        let folder = self.folders.first().copied().unwrap_or("?");
        let mut hint = match self.availability {
            Availability::InRepository => format!(
                "It ships in this repository's data/{folder}/; set {ENV_VAR} to a folder containing {folder}/ if you moved it."
            ),
            Availability::External => format!(
                "{} is not in this repository: set {ENV_VAR} to a folder containing {folder}/ (on the course machines: ../shared/data).",
                self.name
            ),
        };
        if !self.extra_hint.is_empty() {
            hint.push(' ');
            hint.push_str(self.extra_hint);
        }
        hint
    }

    /// The folders to search: `root/folder` for every data root and folder, in order.
    pub fn candidate_dirs(&self) -> Vec<PathBuf> {
        data_roots().iter().flat_map(|root| self.folders.iter().map(move |folder| root.join(folder))).collect()
    }

    /// The first folder (over [`candidate_dirs`](Self::candidate_dirs)) that holds a file
    /// accepted by `holds`; `what` and `names` describe the wanted file in the error.
    pub fn find_dir(&self, what: &str, names: &[String], holds: impl Fn(&Path) -> bool) -> Result<PathBuf, DataError> {
        let dirs = self.candidate_dirs();
        match dirs.iter().find(|dir| holds(dir)) {
            Some(dir) => Ok(dir.clone()),
            None => Err(DataError::NotFound {
                what: what.to_string(),
                names: names.to_vec(),
                tried: dirs,
                hint: self.hint(),
            }),
        }
    }
}

/// The first of `names` that exists as a file in `dir`.
pub fn first_existing(dir: &Path, names: &[String]) -> Option<PathBuf> {
    names.iter().map(|name| dir.join(name)).find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_data_folder_is_found() {
        let dir = repository_data_dir();
        assert!(dir.ends_with("data"));
        assert!(data_roots().iter().any(|r| r == &dir));
        assert!(dir.join("mnist").is_dir(), "{} should hold the committed MNIST files", dir.display());
    }

    #[test]
    fn a_missing_set_names_every_folder_and_the_hint() {
        let info = SetInfo {
            name: "Nothing",
            folders: &["no-such-set"],
            availability: Availability::External,
            extra_hint: "",
        };
        let err = info.find_dir("Nothing files", &["x.bin".to_string()], |_| false).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("looked for x.bin in"), "{text}");
        assert!(text.contains(&repository_data_dir().join("no-such-set").display().to_string()), "{text}");
        assert!(text.contains("set NABLA_DATA to a folder containing no-such-set/"), "{text}");
    }
}
