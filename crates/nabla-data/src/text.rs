//! Character-level text corpora for next-character prediction (char-RNN, small GPTs).
//!
//! A language model learns `P(next character | previous characters)`. The pipeline:
//!
//! 1. **Vocabulary** ([`Vocab`]): the distinct characters of the text, sorted; each gets an id
//!    (its position). Shakespeare has about 65–90 of them.
//! 2. **Encode** the text into ids; **decode** ids back into text (to read samples).
//! 3. **Split** ([`TextCorpus::split`]): the last part of the text is the validation set. The
//!    split is by position, not random: windows overlap, so a random split would leak.
//! 4. **Windows** ([`CharWindows`]): sample `i` is `T` ids starting at `i·stride`; its target
//!    is the same span shifted one character on.
//!
//! ```text
//! text:    "hello world"         T = 4, stride = 4
//! window 0 input  h e l l        target  e l l o
//! window 1 input  o ␣ w o        target  ␣ w o r
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | inputs | `[B, T]` ids stored as `f32` ([`Batch::input_ids`] reads them back) |
//! | targets | [`Targets::Classes`]: `B·T` ids, row-major — `cross_entropy` on logits `[B·T, V]` |
//!
//! ```
//! use nabla_data::{text::TextCorpus, Dataset};
//! let corpus = TextCorpus::from_text("hello world");
//! assert_eq!(corpus.vocab().len(), 8); // " dehlorw"
//! let windows = corpus.windows(4);
//! let batch = windows.get_batch(&[0]);
//! assert_eq!(corpus.vocab().decode(&batch.input_ids()), "hell");
//! assert_eq!(corpus.vocab().decode(batch.labels()), "ello");
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nabla_tensor::Tensor;

use crate::dataset::{Batch, Dataset, Targets};
use crate::error::DataError;
use crate::locate::{first_existing, Availability, SetInfo};
use crate::reader::read_file;

/// The largest text file accepted: 1 GiB.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The Shakespeare plays and poems that ship in `data/shakespeare/texts/` (42 files, 5 MB).
pub const SHAKESPEARE_SET: SetInfo = SetInfo {
    name: "Shakespeare texts",
    folders: &["shakespeare/texts", "shakespeare-okfn/texts"],
    availability: Availability::InRepository,
    extra_hint: "",
};

/// Karpathy's tiny-shakespeare (`tinyshakespeare/input.txt`, 1.1 MB); not in this repository.
pub const TINY_SHAKESPEARE_SET: SetInfo = SetInfo {
    name: "tiny-shakespeare",
    folders: &["tinyshakespeare"],
    availability: Availability::External,
    extra_hint: "The committed Shakespeare texts (TextCorpus::shakespeare) are a larger alternative.",
};

/// The characters of a corpus, sorted, each with its id (its position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, usize>,
}

impl Vocab {
    /// The sorted distinct characters of `text`.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab::from_chars(chars)
    }

    /// A vocabulary of exactly these characters, in this order (duplicates are dropped).
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> Self {
        let mut ids = HashMap::new();
        let mut kept = Vec::new();
        for c in chars {
            if let std::collections::hash_map::Entry::Vacant(e) = ids.entry(c) {
                e.insert(kept.len());
                kept.push(c);
            }
        }
        Vocab { chars: kept, ids }
    }

    /// The number of characters `V` (the size of the model's output layer).
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// True when the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<usize> {
        self.ids.get(&c).copied()
    }

    /// The character with id `id`, if there is one.
    pub fn char(&self, id: usize) -> Option<char> {
        self.chars.get(id).copied()
    }

    /// The ids of the characters of `text`; an error names the first character that is not
    /// in the vocabulary and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, DataError> {
        text.chars()
            .enumerate()
            .map(|(position, c)| {
                self.id(c).ok_or_else(|| {
                    DataError::mismatch(
                        format!("Vocab::encode: character {position} of the text"),
                        format!("one of the {} characters of the vocabulary", self.len()),
                        format!("{c:?}"),
                    )
                })
            })
            .collect()
    }

    /// The text of `ids`.
    ///
    /// # Panics
    /// If an id is not below [`len`](Self::len).
    #[track_caller]
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&id| match self.char(id) {
                Some(c) => c,
                None => panic!("Vocab::decode: id {id} is out of range for a vocabulary of {} characters", self.len()),
            })
            .collect()
    }
}

/// A text encoded as character ids, with its vocabulary.
#[derive(Clone, Debug)]
pub struct TextCorpus {
    vocab: Arc<Vocab>,
    ids: Arc<[usize]>,
}

impl TextCorpus {
    /// The corpus of `text`, with the vocabulary of its characters.
    pub fn from_text(text: &str) -> Self {
        let vocab = Vocab::from_text(text);
        let ids = vocab.encode(text).expect("every character of the text is in its own vocabulary");
        TextCorpus { vocab: Arc::new(vocab), ids: ids.into() }
    }

    /// The corpus of `text` with a given vocabulary (for example the training text's, to
    /// encode new text the same way); an error if a character is not in it.
    pub fn with_vocab(text: &str, vocab: Vocab) -> Result<Self, DataError> {
        let ids = vocab.encode(text)?;
        Ok(TextCorpus { vocab: Arc::new(vocab), ids: ids.into() })
    }

    /// Reads `path`: a UTF-8 text file (raw or gzip), or a directory, whose `.txt` files are
    /// read in name order and joined (each ending with a newline).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, DataError> {
        Ok(TextCorpus::from_text(&read_text(path.as_ref())?))
    }

    /// The 42 Shakespeare plays and poems of `data/shakespeare/texts/` (5.06 MB of ASCII).
    pub fn shakespeare() -> Result<Self, DataError> {
        let dir =
            SHAKESPEARE_SET.find_dir("Shakespeare texts", &["*.txt".to_string()], |d| !text_files(d).is_empty())?;
        TextCorpus::read(dir)
    }

    /// tiny-shakespeare (`tinyshakespeare/input.txt` under `NABLA_DATA`): 1,115,394
    /// characters, 65 distinct.
    pub fn tiny_shakespeare() -> Result<Self, DataError> {
        let names = vec!["input.txt".to_string()];
        let dir = TINY_SHAKESPEARE_SET.find_dir("tiny-shakespeare", &names, |d| first_existing(d, &names).is_some())?;
        TextCorpus::read(dir.join("input.txt"))
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The text as ids.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the text is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The text back from the ids.
    pub fn text(&self) -> String {
        self.vocab.decode(&self.ids)
    }

    /// (train, validation): the first `1 − val_fraction` of the text and the rest, both with
    /// this corpus's vocabulary.
    ///
    /// # Panics
    /// If `val_fraction` is not in `[0, 1]`.
    #[track_caller]
    pub fn split(&self, val_fraction: f64) -> (TextCorpus, TextCorpus) {
        assert!(
            (0.0..=1.0).contains(&val_fraction),
            "TextCorpus::split: val_fraction {val_fraction} must be between 0 and 1"
        );
        let cut = self.len() - ((self.len() as f64) * val_fraction).round() as usize;
        let part = |ids: &[usize]| TextCorpus { vocab: Arc::clone(&self.vocab), ids: ids.into() };
        (part(&self.ids[..cut]), part(&self.ids[cut..]))
    }

    /// Non-overlapping windows of `seq_len` characters (stride = `seq_len`).
    #[track_caller]
    pub fn windows(&self, seq_len: usize) -> CharWindows {
        self.windows_with_stride(seq_len, seq_len)
    }

    /// Windows of `seq_len` characters starting every `stride` characters (stride 1 gives every
    /// possible window: many more samples, heavily overlapping).
    ///
    /// # Panics
    /// If `seq_len` or `stride` is 0.
    #[track_caller]
    pub fn windows_with_stride(&self, seq_len: usize, stride: usize) -> CharWindows {
        assert!(seq_len > 0 && stride > 0, "windows: seq_len ({seq_len}) and stride ({stride}) must be ≥ 1");
        CharWindows { ids: Arc::clone(&self.ids), seq_len, stride }
    }
}

/// The `.txt` files of `dir`, sorted by name.
fn text_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

fn read_text(path: &Path) -> Result<String, DataError> {
    let files = if path.is_dir() {
        let files = text_files(path);
        if files.is_empty() {
            return Err(DataError::invalid(path, "directory", "at least one .txt file", "none"));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut text = String::new();
    for file in &files {
        let bytes = read_file(file, MAX_FILE_BYTES)?;
        let part = String::from_utf8(bytes).map_err(|e| {
            DataError::invalid(
                file,
                "text encoding",
                "UTF-8",
                format!("an invalid byte at offset {}", e.utf8_error().valid_up_to()),
            )
        })?;
        text.push_str(&part);
        if files.len() > 1 && !text.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(text)
}

/// (input, target) windows of a text for next-character prediction; see the [module docs](self).
///
/// Window `i` starts at `s = i·stride`: input `ids[s .. s+T]`, target `ids[s+1 .. s+T+1]`.
#[derive(Clone, Debug)]
pub struct CharWindows {
    ids: Arc<[usize]>,
    seq_len: usize,
    stride: usize,
}

impl CharWindows {
    /// The window length `T`.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
}

impl Dataset for CharWindows {
    /// The number of windows whose target fits in the text: `⌊(len − 1 − T) / stride⌋ + 1`.
    fn len(&self) -> usize {
        let usable = self.ids.len().saturating_sub(1);
        if usable < self.seq_len {
            0
        } else {
            (usable - self.seq_len) / self.stride + 1
        }
    }

    #[track_caller]
    fn get_batch(&self, indices: &[usize]) -> Batch {
        let (t, n) = (self.seq_len, self.len());
        let mut inputs = Vec::with_capacity(indices.len() * t);
        let mut targets = Vec::with_capacity(indices.len() * t);
        for &i in indices {
            assert!(i < n, "CharWindows::get_batch: window {i} is out of range for {n} windows");
            let s = i * self.stride;
            inputs.extend(self.ids[s..s + t].iter().map(|&id| id as f32));
            targets.extend_from_slice(&self.ids[s + 1..s + t + 1]);
        }
        Batch { inputs: Tensor::from_vec(inputs, &[indices.len(), t]), targets: Targets::Classes(targets) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_is_sorted_and_round_trips() {
        let v = Vocab::from_text("banana!");
        assert_eq!(v.chars(), &['!', 'a', 'b', 'n']);
        let ids = v.encode("nab!").unwrap();
        assert_eq!(ids, vec![3, 1, 2, 0]);
        assert_eq!(v.decode(&ids), "nab!");
        let err = v.encode("bandana").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Vocab::encode: character 3 of the text: expected one of the 4 characters of the vocabulary, found 'd'"
        );
        assert_eq!(Vocab::from_chars("abca".chars()).len(), 3);
    }

    #[test]
    fn windows_shift_targets_by_one() {
        let c = TextCorpus::from_text("abcdefghij"); // 10 chars
        let w = c.windows(3);
        assert_eq!(w.len(), 3); // starts 0, 3, 6; start 9 has no target
        let b = w.get_batch(&[2, 0]);
        assert_eq!(b.inputs.shape(), &[2, 3]);
        assert_eq!(c.vocab().decode(&b.input_ids()), "ghiabc");
        assert_eq!(c.vocab().decode(b.labels()), "hijbcd");
        let dense = c.windows_with_stride(3, 1);
        assert_eq!(dense.len(), 7);
        assert_eq!(c.vocab().decode(dense.get(6).labels()), "hij");
        assert_eq!(TextCorpus::from_text("ab").windows(2).len(), 0);
    }

    #[test]
    fn split_is_by_position_and_shares_the_vocabulary() {
        let c = TextCorpus::from_text("abcdefghij");
        let (train, val) = c.split(0.2);
        assert_eq!((train.text(), val.text()), ("abcdefgh".to_string(), "ij".to_string()));
        assert_eq!(val.vocab().len(), 10);
        let again = TextCorpus::with_vocab("jab", c.vocab().clone()).unwrap();
        assert_eq!(again.ids(), &[9, 0, 1]);
    }

    #[test]
    fn files_and_directories_are_read() {
        let dir = std::env::temp_dir().join(format!("nabla-text-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.txt"), "second").unwrap();
        std::fs::write(dir.join("a.txt"), "first\n").unwrap();
        std::fs::write(dir.join("notes.md"), "ignored").unwrap();
        assert_eq!(TextCorpus::read(&dir).unwrap().text(), "first\nsecond\n");
        assert_eq!(TextCorpus::read(dir.join("b.txt")).unwrap().text(), "second");
        std::fs::write(dir.join("c.txt"), b"ok\xff").unwrap();
        let err = TextCorpus::read(&dir).unwrap_err();
        assert!(
            err.to_string().ends_with("c.txt: text encoding: expected UTF-8, found an invalid byte at offset 2"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(TextCorpus::read(&dir).is_err());
    }
}
