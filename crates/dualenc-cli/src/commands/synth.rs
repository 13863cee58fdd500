//! Placeholder: to be replaced by the synth commands.

use clap::Subcommand;

/// The synth subcommands.
#[derive(Subcommand)]
pub enum SynthCommand {
    /// Not implemented yet.
    #[command(name = "synth-placeholder", hide = true)]
    Placeholder,
}

impl SynthCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
