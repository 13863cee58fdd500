//! Placeholder: to be replaced by the text commands.

use clap::Subcommand;

/// The text subcommands.
#[derive(Subcommand)]
pub enum TextCommand {
    /// Not implemented yet.
    #[command(name = "text-placeholder", hide = true)]
    Placeholder,
}

impl TextCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
