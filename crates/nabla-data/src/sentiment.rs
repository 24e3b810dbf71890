//! UCI Sentiment Labelled Sentences (Kotzias et al., KDD 2015): 3,000 one-line reviews from
//! Amazon, IMDB and Yelp, each labelled positive (1) or negative (0), for word-level text
//! classification.
//!
//! | file | sentences | positive |
//! |---|---|---|
//! | `amazon_cells_labelled.txt` | 1,000 | 500 |
//! | `imdb_labelled.txt` | 1,000 | 500 |
//! | `yelp_labelled.txt` | 1,000 | 500 |
//!
//! Each line is `sentence<TAB>label`. The set is licensed CC BY 4.0 but not committed here:
//! it is looked for in `$NABLA_DATA/sentiment-labelled-sentences/` (on the course machines,
//! `../shared/data`); see [`locate`](crate::locate).
//!
//! From text to tensors:
//!
//! 1. **Tokenize** ([`tokenize`]): lowercase, split on every character that is not a letter
//!    or a digit. `"Wow... Loved this place."` → `wow`, `loved`, `this`, `place`.
//! 2. **Split** ([`SentimentData::stratified_split`] or [`SentimentData::split`]) into train
//!    and test *before* building the vocabulary, so no test word leaks into it.
//! 3. **Vocabulary** ([`WordVocab::build`]) from the training sentences only: `<pad>` = 0,
//!    `<unk>` = 1, then every word seen at least `min_count` times, most frequent first.
//!    Words it does not know (test words never seen in training) become `<unk>`.
//! 4. **Encode** ([`SentimentData::encode`]): ids padded on the right with `<pad>` (or cut) to
//!    a fixed length `L`, plus each sentence's true length (how many ids are real).
//!
//! ```text
//! "Crust is not good."  → crust is not good → [412, 7, 12, 25, 0, 0, …]  length 4, label 0
//! ```
//!
//! | tensor | shape |
//! |---|---|
//! | [`EncodedSentences::ids`] | `[N, L]`, ids stored as `f32`, right-padded with 0 |
//! | [`EncodedSentences::lengths`] | `N` lengths in `0..=L` |
//! | [`EncodedSentences::labels`] | `N` classes, 0 = negative, 1 = positive |
//!
//! ```no_run
//! use nabla_data::sentiment::{self, WordVocab};
//! let data = sentiment::load()?;                        // 3,000 sentences
//! let (train, test) = data.stratified_split(0.2, 0);    // 2,400 / 600, half positive each
//! let vocab = WordVocab::build(train.texts(), 1);
//! let train = train.encode(&vocab, 32).into_dataset();  // inputs [2400, 32], class targets
//! # Ok::<(), nabla_data::DataError>(())
//! ```
//!
//! A line that is not `sentence<TAB>0` or `sentence<TAB>1` is an error naming the file, the
//! line and what was wrong; blank lines are skipped.

use std::collections::HashMap;
use std::path::Path;

use nabla_tensor::Tensor;

use crate::dataset::TensorDataset;
use crate::error::DataError;
use crate::locate::{Availability, SetInfo};
use crate::reader::read_file;
use crate::seed::{derived_rng, permutation, SPLIT};

/// The largest file accepted: 64 MiB (the real ones are under 100 KB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Where the set is looked for; not in this repository.
pub const SENTIMENT_SET: SetInfo = SetInfo {
    name: "UCI Sentiment Labelled Sentences",
    folders: &["sentiment-labelled-sentences"],
    availability: Availability::External,
    extra_hint: "It is at https://archive.ics.uci.edu/dataset/331/sentiment+labelled+sentences (CC BY 4.0).",
};

/// The id of `<pad>`, which fills sentences up to the fixed length.
pub const PAD: usize = 0;
/// The id of `<unk>`, which stands for every word the vocabulary does not hold.
pub const UNK: usize = 1;

/// Which site a sentence comes from (which of the three files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Amazon product reviews (mostly phones and accessories).
    Amazon,
    /// IMDB movie reviews.
    Imdb,
    /// Yelp restaurant reviews.
    Yelp,
}

impl Source {
    /// The three sources, in file order.
    pub const ALL: [Source; 3] = [Source::Amazon, Source::Imdb, Source::Yelp];

    /// The file holding this source's sentences.
    pub fn file_name(self) -> &'static str {
        match self {
            Source::Amazon => "amazon_cells_labelled.txt",
            Source::Imdb => "imdb_labelled.txt",
            Source::Yelp => "yelp_labelled.txt",
        }
    }
}

/// One labelled sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// The sentence as written (surrounding spaces removed).
    pub text: String,
    /// 0 = negative, 1 = positive.
    pub label: usize,
    /// The file it came from.
    pub source: Source,
}

/// Labelled sentences: the whole set, or one side of a split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentimentData {
    sentences: Vec<Sentence>,
}

/// Reads the three files from the first data root that holds them all (see the [module docs](self)).
pub fn load() -> Result<SentimentData, DataError> {
    let names: Vec<String> = Source::ALL.iter().map(|s| s.file_name().to_string()).collect();
    let dir = SENTIMENT_SET.find_dir("UCI Sentiment Labelled Sentences", &names, |dir| {
        names.iter().all(|name| dir.join(name).is_file())
    })?;
    load_from(&dir)
}

/// Reads the three files from `dir` (and looks nowhere else): Amazon, IMDB, then Yelp.
pub fn load_from(dir: impl AsRef<Path>) -> Result<SentimentData, DataError> {
    let mut sentences = Vec::new();
    for source in Source::ALL {
        let path = dir.as_ref().join(source.file_name());
        sentences.extend(parse(&read_file(&path, MAX_FILE_BYTES)?, &path, source)?);
    }
    Ok(SentimentData { sentences })
}

/// Parses the bytes of one file of `source` (`path` names it in errors): one
/// `sentence<TAB>label` per line, label `0` or `1`; blank lines are skipped, a `\r` before the
/// line end is ignored, and the label is the text after the *last* tab.
pub fn parse(bytes: &[u8], path: &Path, source: Source) -> Result<Vec<Sentence>, DataError> {
    let mut sentences = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let field = format!("line {}", index + 1);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| {
            DataError::invalid(path, &field, "UTF-8 text", format!("an invalid byte at column {}", e.valid_up_to() + 1))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let Some((text, label)) = line.rsplit_once('\t') else {
            return Err(DataError::invalid(path, field, "a sentence, a tab and a label 0 or 1", quote(line)));
        };
        let label = match label.trim() {
            "0" => 0,
            "1" => 1,
            other => return Err(DataError::invalid(path, field, "a label 0 or 1 after the tab", quote(other))),
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(DataError::invalid(path, field, "a sentence before the tab", "nothing"));
        }
        sentences.push(Sentence { text: text.to_string(), label, source });
    }
    if sentences.is_empty() {
        return Err(DataError::invalid(path, "contents", "at least one `sentence<TAB>label` line", "none"));
    }
    Ok(sentences)
}

/// `text` in quotes, cut to 60 characters, for an error message.
fn quote(text: &str) -> String {
    let mut cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}

/// The words of `text`: lowercased, split at every character that is not alphanumeric
/// (so `"don't"` gives `don`, `t`, and punctuation disappears).
///
/// ```
/// use nabla_data::sentiment::tokenize;
/// assert_eq!(tokenize("Wow... Loved this place."), ["wow", "loved", "this", "place"]);
/// assert_eq!(tokenize("10/10, WOULD eat again!"), ["10", "10", "would", "eat", "again"]);
/// ```
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

impl SentimentData {
    /// Sentences given directly (for tests and other sources).
    pub fn from_sentences(sentences: Vec<Sentence>) -> Self {
        SentimentData { sentences }
    }

    /// The sentences, in file order (or split order).
    pub fn sentences(&self) -> &[Sentence] {
        &self.sentences
    }

    /// The number of sentences.
    pub fn len(&self) -> usize {
        self.sentences.len()
    }

    /// True when there are no sentences.
    pub fn is_empty(&self) -> bool {
        self.sentences.is_empty()
    }

    /// The labels, in order.
    pub fn labels(&self) -> Vec<usize> {
        self.sentences.iter().map(|s| s.label).collect()
    }

    /// The texts, in order (what [`WordVocab::build`] takes).
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.sentences.iter().map(|s| s.text.as_str())
    }

    /// The number of positive sentences.
    pub fn positives(&self) -> usize {
        self.sentences.iter().filter(|s| s.label == 1).count()
    }

    /// The sentences at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is not below [`len`](Self::len).
    #[track_caller]
    pub fn subset(&self, indices: &[usize]) -> SentimentData {
        let n = self.len();
        let sentences = indices
            .iter()
            .map(|&i| match self.sentences.get(i) {
                Some(s) => s.clone(),
                None => panic!("SentimentData::subset: index {i} is out of range for {n} sentences"),
            })
            .collect();
        SentimentData { sentences }
    }

    /// A seeded random split into (train, test), `round(N · test_fraction)` sentences going
    /// to test; each part keeps file order. See [`split_indices`](crate::split_indices).
    #[track_caller]
    pub fn split(&self, test_fraction: f64, seed: u64) -> (SentimentData, SentimentData) {
        let (train, test) = crate::split::split_indices(self.len(), test_fraction, seed);
        (self.subset(&train), self.subset(&test))
    }

    /// A seeded *stratified* split into (train, test): each label's sentences are split
    /// separately, `round(N_label · test_fraction)` of them going to test, so both parts keep
    /// the set's balance of positives and negatives. Each part keeps file order.
    ///
    /// # Panics
    /// If `test_fraction` is not in `[0, 1]`.
    #[track_caller]
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> (SentimentData, SentimentData) {
        assert!(
            (0.0..=1.0).contains(&test_fraction),
            "SentimentData::stratified_split: test_fraction {test_fraction} must be between 0 and 1"
        );
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for label in [0, 1] {
            let members: Vec<usize> = (0..self.len()).filter(|&i| self.sentences[i].label == label).collect();
            let n_test = (members.len() as f64 * test_fraction).round() as usize;
            let order = permutation(members.len(), &mut derived_rng(seed, &[SPLIT, label as u64]));
            test.extend(order[..n_test].iter().map(|&k| members[k]));
            train.extend(order[n_test..].iter().map(|&k| members[k]));
        }
        train.sort_unstable();
        test.sort_unstable();
        (self.subset(&train), self.subset(&test))
    }

    /// Every sentence as `max_len` ids (cut, or right-padded with [`PAD`]), with its length
    /// and label; see the [module docs](self).
    pub fn encode(&self, vocab: &WordVocab, max_len: usize) -> EncodedSentences {
        let mut ids = Vec::with_capacity(self.len() * max_len);
        let mut lengths = Vec::with_capacity(self.len());
        for sentence in &self.sentences {
            let mut row = vocab.encode(&sentence.text);
            row.truncate(max_len);
            lengths.push(row.len());
            row.resize(max_len, PAD);
            ids.extend(row.into_iter().map(|id| id as f32));
        }
        EncodedSentences { ids: Tensor::from_vec(ids, &[self.len(), max_len]), lengths, labels: self.labels() }
    }
}

/// A word vocabulary: `<pad>` = 0, `<unk>` = 1, then the kept words, most frequent first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordVocab {
    words: Vec<String>,
    ids: HashMap<String, usize>,
}

impl WordVocab {
    /// The words of `texts` (after [`tokenize`]) seen at least `min_count` times, most frequent
    /// first, ties in alphabetical order, after `<pad>` and `<unk>`. Build it from the training
    /// texts only.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a str>, min_count: usize) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            for word in tokenize(text) {
                *counts.entry(word).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n >= min_count.max(1)).collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let words = ["<pad>".to_string(), "<unk>".to_string()].into_iter().chain(kept.into_iter().map(|(w, _)| w));
        WordVocab::from_words(words)
    }

    /// Exactly these words, in this order (duplicates dropped); the first two should be
    /// `<pad>` and `<unk>`, which [`encode`](Self::encode) relies on.
    pub fn from_words(words: impl IntoIterator<Item = String>) -> Self {
        let mut ids = HashMap::new();
        let mut kept = Vec::new();
        for word in words {
            if !ids.contains_key(&word) {
                ids.insert(word.clone(), kept.len());
                kept.push(word);
            }
        }
        WordVocab { words: kept, ids }
    }

    /// The number of ids, `<pad>` and `<unk>` included (the embedding's table size).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words, in id order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The id of `word`, if the vocabulary holds it.
    pub fn id(&self, word: &str) -> Option<usize> {
        self.ids.get(word).copied()
    }

    /// The word with id `id`, if there is one.
    pub fn word(&self, id: usize) -> Option<&str> {
        self.words.get(id).map(String::as_str)
    }

    /// The ids of the words of `text` ([`tokenize`]d); unknown words are [`UNK`].
    pub fn encode(&self, text: &str) -> Vec<usize> {
        tokenize(text).iter().map(|w| self.id(w).unwrap_or(UNK)).collect()
    }

    /// The words of `ids` joined by spaces, `<pad>` ids left out.
    ///
    /// # Panics
    /// If an id is not below [`len`](Self::len).
    #[track_caller]
    pub fn decode(&self, ids: &[usize]) -> String {
        let words: Vec<&str> = ids
            .iter()
            .filter(|&&id| id != PAD)
            .map(|&id| match self.word(id) {
                Some(w) => w,
                None => panic!("WordVocab::decode: id {id} is out of range for a vocabulary of {} words", self.len()),
            })
            .collect();
        words.join(" ")
    }
}

/// Sentences as fixed-length id rows; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct EncodedSentences {
    /// `[N, L]` ids stored as `f32`, right-padded with [`PAD`].
    pub ids: Tensor,
    /// How many ids of each row are real (the rest is padding).
    pub lengths: Vec<usize>,
    /// 0 = negative, 1 = positive.
    pub labels: Vec<usize>,
}

impl EncodedSentences {
    /// The ids as inputs and the labels as class targets.
    pub fn into_dataset(self) -> TensorDataset {
        TensorDataset::classification(self.ids, self.labels)
    }
}
