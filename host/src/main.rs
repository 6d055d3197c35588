//! The `caravan` binary.

use std::process::ExitCode;

use caravan::cli::{self, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = cli::parse(&args).and_then(|command| match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
        Command::Version => {
            println!("caravan {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::AclBootstrap => acl_bootstrap(),
        Command::Agent(options) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(caravan::agent::run(*options))),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
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
