//! Parity with the original's `util/vocab.py`, `clean_str` and `Bow2Vec` on the reference
//! fixtures (`fixtures/reference/vocab`, `training/vocab`, `model_*/vocab_*.txt`). All
//! comparisons are exact: tokens, word lists, counter files byte for byte, BoW counts
//! (small integers, exact in f32) and ids.

use dualenc_text::{
    bow_vector, clean_str, rnn_ids, vocab_tokens, TextStyle, TextVocab, Vocabulary, WordCounter,
};
use serde_json::Value as J;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/reference/"
    ))
    .join(rel)
}

fn vocab_json() -> J {
    serde_json::from_slice(&std::fs::read(fixture("vocab/vocab.json")).unwrap()).unwrap()
}

fn strings(v: &J) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn lines(rel: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(rel))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

const STYLES: [TextStyle; 2] = [TextStyle::Bow, TextStyle::Rnn];

#[test]
fn tokens_per_line_both_ways() {
    let doc = vocab_json();
    for line in doc["lines"].as_array().unwrap() {
        let caption = line["caption"].as_str().unwrap();
        assert_eq!(clean_str(caption), strings(&line["clean_str"]), "{caption}");
        assert_eq!(
            vocab_tokens(caption),
            strings(&line["build_vocab_tokens"]),
            "{caption}"
        );
    }
}

#[test]
fn all_counts_in_first_appearance_order() {
    let counter = WordCounter::from_caption_file(fixture("vocab/captions.txt")).unwrap();
    let expected: Vec<(String, u64)> = vocab_json()["counter_all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_u64().unwrap()))
        .collect();
    assert_eq!(counter.counts(), expected);
    assert_eq!(counter.caption_count(), 50);
}

#[test]
fn vocabularies_counter_files_and_pickles_match() {
    let doc = vocab_json();
    let counter = WordCounter::from_caption_file(fixture("vocab/captions.txt")).unwrap();
    for threshold in [1u64, 5] {
        for style in STYLES {
            let name = format!("{style}_{threshold}");
            let built = counter.vocabulary(style, threshold);
            let expected = strings(&doc["vocabs"][&name]["words_in_index_order"]);
            assert_eq!(built.words(), expected, "{name}");
            assert_eq!(
                built.words(),
                lines(&format!("vocab/{style}_words_{threshold}.txt"))
            );
            let counter_file = std::fs::read_to_string(fixture(&format!(
                "vocab/{style}_word_vocab_counter_{threshold}.txt"
            )))
            .unwrap();
            assert_eq!(
                counter.counter_text(threshold),
                counter_file,
                "{name} counter"
            );

            let pkl = Vocabulary::load(fixture(&format!(
                "vocab/{style}_word_vocab_{threshold}.pkl"
            )))
            .unwrap();
            assert_eq!(pkl, built, "{name}.pkl");
        }
    }
    for style in STYLES {
        let path = fixture(&format!("vocab/{style}_word_vocab_5.protocol2.pkl"));
        assert_eq!(
            Vocabulary::load_pickle(path).unwrap(),
            counter.vocabulary(style, 5)
        );
    }
}

#[test]
fn bow_vectors_and_rnn_ids() {
    let doc = vocab_json();
    let counter = WordCounter::from_caption_file(fixture("vocab/captions.txt")).unwrap();
    for threshold in [1u64, 5] {
        let bow = counter.vocabulary(TextStyle::Bow, threshold);
        let rnn = counter.vocabulary(TextStyle::Rnn, threshold);
        let vocab = TextVocab::new(bow.clone(), rnn.clone()).unwrap();
        for case in doc["bow2vec"].as_array().unwrap() {
            let sentence = case["sentence"].as_str().unwrap();
            let tokens = clean_str(sentence);
            assert_eq!(tokens, strings(&case["clean_str"]));
            let got = bow_vector(&bow, &tokens);
            let used: Vec<f32> = case[format!("bow_t{threshold}_as_used_by_dataset")]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got, used, "{sentence} t{threshold}");
            // Bow2Vec gives None exactly when no word is known.
            let is_null = case[format!("bow_t{threshold}")].is_null();
            assert_eq!(is_null, got.iter().all(|&x| x == 0.0), "{sentence}");
            let ids: Vec<usize> = case[format!("rnn_ids_t{threshold}")]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(rnn_ids(&rnn, &tokens), ids, "{sentence} t{threshold}");
            let enc = vocab.encode_caption(sentence);
            assert_eq!((enc.tokens, enc.bow, enc.ids), (tokens, got, ids));
        }
    }
}

#[test]
fn training_vocabulary_matches_reference_script() {
    let counter =
        WordCounter::from_caption_file(fixture("training/data/synthtrain.caption.txt")).unwrap();
    for style in STYLES {
        let built = counter.vocabulary(style, 5);
        let pkl = Vocabulary::load(fixture(&format!("training/vocab/{style}_word_vocab_5.pkl")));
        assert_eq!(pkl.unwrap(), built, "{style}");
        let counter_file = std::fs::read_to_string(fixture(&format!(
            "training/vocab/{style}_word_vocab_counter_5.txt"
        )))
        .unwrap();
        assert_eq!(counter.counter_text(5), counter_file, "{style} counter");
    }
    assert_eq!(counter.vocabulary(TextStyle::Bow, 5).len(), 132);
    assert_eq!(counter.vocabulary(TextStyle::Rnn, 5).len(), 136);
}

#[test]
fn model_fixture_vocabularies_at_threshold_one() {
    for dir in ["model_full", "model_reduced"] {
        let counter =
            WordCounter::from_caption_file(fixture(&format!("{dir}/vocab_captions.txt"))).unwrap();
        for style in STYLES {
            let built = counter.vocabulary(style, 1);
            assert_eq!(
                built.words(),
                lines(&format!("{dir}/vocab_{style}.txt")),
                "{dir} {style}"
            );
        }
    }
}
