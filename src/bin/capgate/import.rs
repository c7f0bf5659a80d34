//! `capgate import <format> <file>`: the manifest goes to `-o` (default
//! `capgate.json`; `-` for stdout), the report to stdout (to stderr when the
//! manifest takes stdout). Exit 0 when the manifest was written (it may hold
//! TODOs, which compile rejects with CG0510), 1 when the source cannot be
//! imported, 2 for usage and I/O errors.

use crate::args::Format as OutFormat;
use crate::report;
use capgate::import::{self, Format};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

pub const HELP: &str = "\
Formats:
  mcp-registry     MCP Registry server.json (packages[], environmentVariables, remotes)
  mcpb (or dxt)    MCP Bundle manifest.json (server.mcp_config, user_config, tools)
  docker-catalog   Docker MCP catalog server.yaml (image, run.allowHosts, config.secrets, volumes)
  toolhive         ToolHive permission profile or registry entry (read, write, network.outbound)
  capgate-ts       TypeScript capgate manifest, grammar 0.0 -> 1 (same policy)

Examples:
  capgate import mcpb manifest.json                   # writes ./capgate.json, prints the report
  capgate import mcp-registry server.json -o servers/weather/capgate.json --force
  capgate import docker-catalog server.yaml -o - > capgate.json   # report on stderr
  capgate import toolhive profile.json --format json  # machine-readable report
  capgate import capgate-ts old/capgate.json -o capgate.json

What the source does not say becomes a TODO grant `todo:decide:<id>` whose `why` is the
question: the manifest does not compile (CG0510) until you replace each TODO with the grants
you decide on, or delete it. Nothing is ever granted wider than the source states.
See docs/import.md.";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    McpRegistry,
    Mcpb,
    Dxt,
    DockerCatalog,
    Toolhive,
    CapgateTs,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The source format.
    #[arg(value_enum, value_name = "FORMAT")]
    pub source_format: FormatArg,
    /// The source file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the manifest (`-` for stdout).
    #[arg(short, long, value_name = "FILE", default_value = "capgate.json")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// How to print the report (and diagnostics).
    #[arg(long, value_enum, default_value_t = OutFormat::Human)]
    pub format: OutFormat,
}

fn format_of(f: FormatArg) -> Format {
    match f {
        FormatArg::McpRegistry => Format::McpRegistry,
        FormatArg::Mcpb | FormatArg::Dxt => Format::Mcpb,
        FormatArg::DockerCatalog => Format::DockerCatalog,
        FormatArg::Toolhive => Format::Toolhive,
        FormatArg::CapgateTs => Format::CapgateTs,
    }
}

pub fn run(a: &ImportArgs) -> u8 {
    let name = a.file.display().to_string();
    let bytes = match std::fs::metadata(&a.file) {
        Ok(m) if m.len() > capgate::manifest::MAX_MANIFEST_BYTES as u64 => {
            return report::failure(&format!("{name} is larger than 4 MiB"), a.format)
        }
        _ => match std::fs::read(&a.file) {
            Ok(b) => b,
            Err(e) => return report::failure(&format!("cannot read {name}: {e}"), a.format),
        },
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return report::failure(&format!("{name} is not UTF-8 text"), a.format);
    };
    let to_stdout = a.output.as_os_str() == "-";
    if !to_stdout && !a.force && a.output.exists() {
        return report::failure(
            &format!("{} exists; pass --force to overwrite it", a.output.display()),
            a.format,
        );
    }
    let imported = match import::import(format_of(a.source_format), text) {
        Ok(i) => i,
        Err(ds) => {
            report::diagnostics(&capgate::Diagnostics(ds), &bytes, &name, a.format);
            return 1;
        }
    };
    let manifest = imported.manifest_text();
    let rep = match a.format {
        OutFormat::Human => imported.report.to_human(),
        OutFormat::Json => imported.report.to_json(),
    };
    if to_stdout {
        print!("{manifest}");
        eprint!("{rep}");
        return 0;
    }
    if let Err(e) = crate::commands::write_atomic(&a.output, manifest.as_bytes()) {
        return report::failure(&format!("cannot write {}: {e}", a.output.display()), a.format);
    }
    print!("{rep}");
    if a.format == OutFormat::Human {
        println!("\nwrote {}", a.output.display());
    }
    0
}
