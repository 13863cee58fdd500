//! Text commands: `vocab` (the original's `do_get_vocab.sh`: bow and rnn vocabularies of a
//! training collection).

use crate::common::RootPath;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use dualenc_text::{TextStyle, WordCounter};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The text subcommands.
#[derive(Subcommand)]
pub enum TextCommand {
    /// Build the bow and rnn vocabularies of a collection's captions
    /// (TextData/vocabulary/{bow,rnn}/word_vocab_T.json and word_vocab_counter_T.txt).
    Vocab(VocabArgs),
}

/// Arguments of `vocab`.
#[derive(Args)]
pub struct VocabArgs {
    #[command(flatten)]
    root: RootPath,
    /// Collection whose TextData/COLLECTION.caption.txt is read.
    collection: String,
    /// Keep words occurring at least this many times.
    #[arg(long, default_value_t = 5)]
    threshold: u64,
    /// Rebuild even when the vocabulary files exist (otherwise they are kept).
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl TextCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<()> {
        match self {
            TextCommand::Vocab(args) => args.run(),
        }
    }
}

/// What `vocab` did, printed as a table or JSON.
#[derive(Serialize)]
struct VocabSummary {
    collection: String,
    captions: usize,
    tokens: u64,
    distinct_words: usize,
    threshold: u64,
    kept_words: usize,
    bow_size: usize,
    rnn_size: usize,
    files: Vec<PathBuf>,
}

/// The two files written per style.
fn outputs(dir: &Path, style: TextStyle, threshold: u64) -> (PathBuf, PathBuf) {
    let folder = dir.join("TextData").join("vocabulary").join(style.as_str());
    (
        folder.join(format!("word_vocab_{threshold}.json")),
        folder.join(format!("word_vocab_counter_{threshold}.txt")),
    )
}

impl VocabArgs {
    fn run(self) -> Result<()> {
        let dir = self.root.rootpath.join(&self.collection);
        let styles = [TextStyle::Bow, TextStyle::Rnn];
        let files: Vec<PathBuf> = styles
            .iter()
            .flat_map(|&s| {
                let (vocab, counter) = outputs(&dir, s, self.threshold);
                [vocab, counter]
            })
            .collect();
        if !self.overwrite && files.iter().all(|f| f.exists()) {
            println!(
                "vocabularies of {} at threshold {} exist; use --overwrite to rebuild",
                self.collection, self.threshold
            );
            return Ok(());
        }
        let caption_file = dir
            .join("TextData")
            .join(format!("{}.caption.txt", self.collection));
        let counter = count_captions(&caption_file)?;
        for style in styles {
            let (vocab_path, counter_path) = outputs(&dir, style, self.threshold);
            counter
                .vocabulary(style, self.threshold)
                .save_json(&vocab_path)
                .with_context(|| format!("writing the {style} vocabulary"))?;
            counter
                .write_counter_file(&counter_path, self.threshold)
                .with_context(|| format!("writing the {style} counter file"))?;
            tracing::info!(path = %vocab_path.display(), "wrote {style} vocabulary");
        }
        let summary = VocabSummary {
            collection: self.collection,
            captions: counter.caption_count(),
            tokens: counter.token_count(),
            distinct_words: counter.counts().len(),
            threshold: self.threshold,
            kept_words: counter.kept(self.threshold).count(),
            bow_size: counter.vocabulary(TextStyle::Bow, self.threshold).len(),
            rnn_size: counter.vocabulary(TextStyle::Rnn, self.threshold).len(),
            files,
        };
        print_summary(&summary, self.json)
    }
}

/// Reads the caption file and counts its words, with a progress bar on a terminal.
fn count_captions(path: &Path) -> Result<WordCounter> {
    let captions = dualenc_data::captions::read_captions(path)
        .with_context(|| format!("reading captions from {}", path.display()))?;
    tracing::info!(captions = captions.len(), "counting words");
    let bar = ProgressBar::new(captions.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("counting words {bar:40} {pos}/{len} captions")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut counter = WordCounter::new();
    for (i, caption) in captions.iter().enumerate() {
        counter.add_caption(&caption.text);
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    Ok(counter)
}

fn print_summary(summary: &VocabSummary, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    let rows = [
        ("collection", summary.collection.clone()),
        ("captions", summary.captions.to_string()),
        ("tokens", summary.tokens.to_string()),
        ("distinct words", summary.distinct_words.to_string()),
        ("threshold", summary.threshold.to_string()),
        ("kept words", summary.kept_words.to_string()),
        ("bow vocabulary", summary.bow_size.to_string()),
        ("rnn vocabulary", summary.rnn_size.to_string()),
    ];
    for (name, value) in rows {
        println!("{name:<16} {value:>12}");
    }
    for file in &summary.files {
        println!("wrote {}", file.display());
    }
    Ok(())
}
