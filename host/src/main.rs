//! The `caravan` binary.

use std::process::ExitCode;

use caravan::cli::{self, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = cli::parse(&args).and_then(|command| match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("caravan {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::AclBootstrap => acl_bootstrap().map(|()| ExitCode::SUCCESS),
        Command::Agent(options) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(caravan::agent::run(*options)))
            .map(|()| ExitCode::SUCCESS),
        // The verdict is printed either way; a rejection is told by the exit status.
        Command::CoreCheck(path) => caravan::core_cmd::check(&path).map(|accepted| {
            if accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Command::CoreSwap(path) => caravan::core_cmd::swap(&path).map(|()| ExitCode::SUCCESS),
    });
    result.unwrap_or_else(|err| {
        eprintln!("Error: {err:#}");
        ExitCode::FAILURE
    })
}

/// Print the bootstrap token once, in Nomad's CLI layout.
fn acl_bootstrap() -> anyhow::Result<()> {
    let (status, body) = caravan::api_client::call("POST", "/v1/acl/bootstrap", b"")?;
    if status != 200 {
        anyhow::bail!(
            "bootstrap refused ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    let token: serde_json::Value = serde_json::from_slice(&body)?;
    for (label, key) in [
        ("Accessor ID", "AccessorID"),
        ("Secret ID", "SecretID"),
        ("Name", "Name"),
        ("Type", "Type"),
    ] {
        println!("{label:<12} = {}", token[key].as_str().unwrap_or(""));
    }
    Ok(())
}
