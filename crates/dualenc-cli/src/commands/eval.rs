//! Placeholder: to be replaced by the eval commands.

use clap::Subcommand;

/// The eval subcommands.
#[derive(Subcommand)]
pub enum EvalCommand {
    /// Not implemented yet.
    #[command(name = "eval-placeholder", hide = true)]
    Placeholder,
}

impl EvalCommand {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        anyhow::bail!("not implemented yet")
    }
}
