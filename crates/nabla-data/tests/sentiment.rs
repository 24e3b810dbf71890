//! UCI Sentiment Labelled Sentences: the parser never panics on random bytes and round-trips
//! valid files; malformed lines are errors naming file, line and what was wrong; the tokenizer,
//! vocabulary, splits and padding; the real files (3,000 sentences, 1,500 positive) when
//! `NABLA_DATA` or `../shared/data` holds them, and a temporary copy of the format otherwise.

use std::path::{Path, PathBuf};

use nabla_data::sentiment::{self, tokenize, Sentence, SentimentData, Source, WordVocab, PAD, UNK};
use nabla_data::{DataError, Dataset};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x0073_656e_7469), failure_persistence: None, ..Config::default() }
}

fn path() -> &'static Path {
    Path::new("fuzz_labelled.txt")
}

/// A fresh temporary folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nabla-sentiment-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(sentences) = sentiment::parse(&bytes, path(), Source::Yelp) {
            prop_assert!(!sentences.is_empty());
            for s in &sentences {
                prop_assert!(s.label <= 1 && !s.text.is_empty());
            }
        }
    }

    /// Bytes drawn mostly from the format's own alphabet (tabs, newlines, 0/1, \r) reach the
    /// deeper branches that uniform bytes rarely do.
    #[test]
    fn format_like_bytes_never_panic(
        bytes in proptest::collection::vec(prop::sample::select(b"ab 01\t\n\r\xff\xc3.".to_vec()), 0..120)
    ) {
        let _ = sentiment::parse(&bytes, path(), Source::Imdb);
    }

    #[test]
    fn valid_files_round_trip(
        lines in proptest::collection::vec(("[a-zA-Z][a-zA-Z ,.!']{0,30}[a-z.!]", 0usize..2), 1..20),
        crlf in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let file: String = lines.iter().map(|(text, label)| format!("{text}\t{label}{end}")).collect();
        let parsed = sentiment::parse(file.as_bytes(), path(), Source::Amazon).unwrap();
        let expected: Vec<Sentence> = lines
            .iter()
            .map(|(text, label)| Sentence { text: text.trim().to_string(), label: *label, source: Source::Amazon })
            .collect();
        prop_assert_eq!(parsed, expected);
    }

    /// Every sentence is cut or padded to exactly `max_len` ids; its length counts the real ones.
    #[test]
    fn encoding_pads_and_cuts(texts in proptest::collection::vec("[a-c ]{0,12}", 1..8), max_len in 1usize..6) {
        let sentences = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Sentence { text: t.clone(), label: i % 2, source: Source::Yelp })
            .collect();
        let data = SentimentData::from_sentences(sentences);
        let vocab = WordVocab::build(data.texts(), 1);
        let encoded = data.encode(&vocab, max_len);
        prop_assert_eq!(encoded.ids.shape(), &[texts.len(), max_len]);
        let ids = encoded.ids.to_vec_f32();
        for (i, text) in texts.iter().enumerate() {
            let words = tokenize(text);
            prop_assert_eq!(encoded.lengths[i], words.len().min(max_len));
            let row = &ids[i * max_len..(i + 1) * max_len];
            let real: Vec<usize> = row[..encoded.lengths[i]].iter().map(|&v| v as usize).collect();
            prop_assert!(real.iter().all(|&id| id >= 2));
            prop_assert_eq!(vocab.decode(&real), words[..encoded.lengths[i]].join(" "));
            prop_assert!(row[encoded.lengths[i]..].iter().all(|&v| v as usize == PAD));
        }
    }
}

#[test]
fn malformed_lines_name_the_file_the_line_and_the_problem() {
    let err = |bytes: &[u8]| sentiment::parse(bytes, Path::new("x/yelp_labelled.txt"), Source::Yelp).unwrap_err();
    assert_eq!(
        err(b"Good food.\t1\nno tab here\n").to_string(),
        "x/yelp_labelled.txt: line 2: expected a sentence, a tab and a label 0 or 1, found \"no tab here\""
    );
    assert_eq!(
        err(b"Good food.\t1\n\nBad.\t2\n").to_string(),
        "x/yelp_labelled.txt: line 3: expected a label 0 or 1 after the tab, found \"2\""
    );
    assert_eq!(
        err(b"  \t0\n").to_string(),
        "x/yelp_labelled.txt: line 1: expected a sentence before the tab, found nothing"
    );
    assert_eq!(
        err(b"ok\t1\nbad \xff byte\t0\n").to_string(),
        "x/yelp_labelled.txt: line 2: expected UTF-8 text, found an invalid byte at column 5"
    );
    assert_eq!(
        err(b"\n\n").to_string(),
        "x/yelp_labelled.txt: contents: expected at least one `sentence<TAB>label` line, found none"
    );
    let long = format!("{}\tpositive\n", "word ".repeat(40));
    assert!(err(long.as_bytes()).to_string().ends_with("found \"positive\""));
    let long = "word ".repeat(40);
    let message = err(long.as_bytes()).to_string();
    assert!(message.contains("found \"word word") && message.ends_with("…\""), "{message}");
}

#[test]
fn blank_lines_crlf_inner_tabs_and_spaces_are_accepted() {
    let parsed = sentiment::parse(b"A\tb c.  \t 1\r\n\n  \nBad.\t0", path(), Source::Imdb).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!((parsed[0].text.as_str(), parsed[0].label), ("A\tb c.", 1));
    assert_eq!((parsed[1].text.as_str(), parsed[1].label, parsed[1].source), ("Bad.", 0, Source::Imdb));
}

#[test]
fn tokenizer_lowercases_and_splits_on_non_alphanumerics() {
    assert_eq!(tokenize("Wow... Loved this place."), ["wow", "loved", "this", "place"]);
    assert_eq!(tokenize("I don't like it -- at ALL!!"), ["i", "don", "t", "like", "it", "at", "all"]);
    assert_eq!(tokenize("Café 5/5"), ["café", "5", "5"]);
    assert!(tokenize(" ... !").is_empty());
}

#[test]
fn vocabulary_has_pad_and_unk_first_then_words_by_frequency() {
    let vocab = WordVocab::build(["the cat", "The dog, the end", "cat"], 1);
    assert_eq!(vocab.words(), ["<pad>", "<unk>", "the", "cat", "dog", "end"]);
    assert_eq!((vocab.id("<pad>"), vocab.id("<unk>")), (Some(PAD), Some(UNK)));
    assert_eq!(vocab.encode("The zebra, the cat"), vec![2, UNK, 2, 3]);
    assert_eq!(vocab.decode(&[2, 3, PAD, PAD]), "the cat");
    let frequent = WordVocab::build(["the cat", "The dog, the end", "cat"], 2);
    assert_eq!(frequent.words(), ["<pad>", "<unk>", "the", "cat"]);
    assert_eq!(frequent.encode("dog"), vec![UNK]);
}

fn balanced(n: usize) -> SentimentData {
    let sentences = (0..n).map(|i| Sentence {
        text: format!("sentence {i}"),
        label: usize::from(i % 4 == 0),
        source: Source::Amazon,
    });
    SentimentData::from_sentences(sentences.collect())
}

#[test]
fn splits_are_seeded_disjoint_and_stratified_keeps_the_balance() {
    let data = balanced(100); // 25 positive
    let (train, test) = data.stratified_split(0.2, 3);
    assert_eq!((train.len(), test.len()), (80, 20));
    assert_eq!((train.positives(), test.positives()), (20, 5));
    let mut all: Vec<String> = train.texts().chain(test.texts()).map(str::to_string).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100);
    assert_eq!(data.stratified_split(0.2, 3), (train.clone(), test.clone()));
    assert_ne!(data.stratified_split(0.2, 4).1, test);

    let (train, test) = data.split(0.3, 1);
    assert_eq!((train.len(), test.len()), (70, 30));
    assert_eq!(data.split(0.3, 1).1, test);
}

/// Writes the three files with `per_file` sentences each (alternating labels) into `dir`.
fn write_files(dir: &Path, per_file: usize) {
    for source in Source::ALL {
        let lines: String =
            (0..per_file).map(|i| format!("{source:?} review number {i} is fine.\t{}\n", i % 2)).collect();
        std::fs::write(dir.join(source.file_name()), lines).unwrap();
    }
}

#[test]
fn a_temporary_copy_of_the_format_loads() {
    let dir = temp_dir("load");
    write_files(&dir, 6);
    let data = sentiment::load_from(&dir).unwrap();
    assert_eq!((data.len(), data.positives()), (18, 9));
    assert_eq!(data.sentences()[0].source, Source::Amazon);
    assert_eq!(data.sentences()[17].source, Source::Yelp);
    let vocab = WordVocab::build(data.texts(), 1);
    let dataset = data.encode(&vocab, 8).into_dataset();
    let batch = dataset.get_batch(&[0, 1]);
    assert_eq!(batch.inputs.shape(), &[2, 8]);
    assert_eq!(batch.labels(), &[0, 1]);

    // A missing file is an I/O error naming it; a broken line names file and line.
    std::fs::remove_file(dir.join("imdb_labelled.txt")).unwrap();
    let err = sentiment::load_from(&dir).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("imdb_labelled.txt"), "{err}");
    std::fs::write(dir.join("imdb_labelled.txt"), "fine\t1\nbroken\n").unwrap();
    let err = sentiment::load_from(&dir).unwrap_err().to_string();
    let expected = "imdb_labelled.txt: line 2: expected a sentence, a tab and a label 0 or 1, found \"broken\"";
    assert!(err.ends_with(expected), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn absent_data_is_a_not_found_error_with_the_hint() {
    let hint = sentiment::SENTIMENT_SET.hint();
    assert!(hint.contains("set NABLA_DATA to a folder containing sentiment-labelled-sentences/"), "{hint}");
    if let Err(err) = sentiment::load() {
        let text = err.to_string();
        assert!(text.contains("amazon_cells_labelled.txt") && text.contains("NABLA_DATA"), "{text}");
    }
}

#[test]
fn the_real_files_when_present() {
    let data = match sentiment::load() {
        Ok(data) => data,
        Err(DataError::NotFound { .. }) => {
            eprintln!("sentiment-labelled-sentences not found (set NABLA_DATA); checked the temporary copy only");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!((data.len(), data.positives()), (3000, 1500));
    for source in Source::ALL {
        let part: Vec<&Sentence> = data.sentences().iter().filter(|s| s.source == source).collect();
        assert_eq!(part.len(), 1000, "{source:?}");
        assert_eq!(part.iter().filter(|s| s.label == 1).count(), 500, "{source:?}");
    }
    assert_eq!(
        data.sentences()[0].text,
        "So there is no way for me to plug it in here in the US unless I go by a converter."
    );
    assert_eq!(data.sentences()[2001].text, "Crust is not good.");

    let (train, test) = data.stratified_split(0.2, 0);
    assert_eq!((train.len(), test.len(), train.positives(), test.positives()), (2400, 600, 1200, 300));
    let vocab = WordVocab::build(train.texts(), 1);
    assert!((4000..6000).contains(&vocab.len()), "{} words", vocab.len());
    let encoded = test.encode(&vocab, 40);
    let unknown = encoded.ids.to_vec_f32().iter().filter(|&&v| v as usize == UNK).count();
    let words: usize = encoded.lengths.iter().sum();
    assert!(unknown > 0 && unknown * 5 < words, "{unknown} of {words} test words unknown");
    let cut = encoded.lengths.iter().filter(|&&len| len == 40).count();
    assert!(cut < 30, "{cut} test sentences longer than 40 words");
}
