//! Text commands: `vocab` (the original's `do_get_vocab.sh`: bow and rnn vocabularies of a
//! training collection).

use crate::common::{progress_bar, RootPath};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use dualenc_data::Collection;
use dualenc_text::{build_vocabularies, vocabulary_files, VocabBuild};

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

impl VocabArgs {
    fn run(self) -> Result<()> {
        let collection = Collection::new(&self.root.rootpath, &self.collection);
        let files = vocabulary_files(&collection, self.threshold);
        if !self.overwrite && files.iter().all(|f| f.exists()) {
            println!(
                "vocabularies of {} at threshold {} exist; use --overwrite to rebuild",
                self.collection, self.threshold
            );
            return Ok(());
        }
        let bar = progress_bar(0, "captions counted");
        let summary = build_vocabularies(&collection, self.threshold, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .with_context(|| format!("building the vocabularies of {}", self.collection))?;
        bar.finish_and_clear();
        print_summary(&summary, self.json)
    }
}

fn print_summary(summary: &VocabBuild, json: bool) -> Result<()> {
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
