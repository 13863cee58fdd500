//! Placeholder: to be replaced by the data commands.

use clap::Subcommand;

/// The data subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Not implemented yet.
    #[command(name = "data-placeholder", hide = true)]
    Placeholder,
}

impl DataCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
