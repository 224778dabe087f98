//! `teleconsult professional add|disable|enable|role|list`: professional
//! accounts.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use session::access::{AccountRole, AccountSecrets, NewAccount};
use session::participant::Identity;
use session::{Pii, Timestamp};

use super::Place;
use signaling::auth::{password, totp};

#[derive(Debug, Subcommand)]
pub enum ProfessionalCommand {
    /// Add an account. Prints its TOTP secret and provisioning URI once:
    /// scan it into an authenticator app now, it is not shown again.
    Add {
        /// The sign-in name.
        #[arg(long)]
        login: String,
        /// The professional's name, as on their RPPS record.
        #[arg(long)]
        name: String,
        /// Their RPPS number (11 digits); optional for an administrator.
        #[arg(long)]
        rpps: Option<String>,
        /// An administrator may read every act's trace.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input
        /// (otherwise a random one is made and printed once).
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it can no longer sign in, and its open
    /// sessions end at their next request.
    Disable { login: String },
    /// Enable a disabled account again.
    Enable { login: String },
    /// Change an account's role (recorded in the signed access log, which
    /// is what sign-in trusts).
    Role {
        login: String,
        #[arg(value_parser = ["professional", "administrator"])]
        role: String,
    },
    /// List the accounts (login, role, enabled).
    List,
}

/// Opens the access tables, creating the store and keys on first use.
pub fn open_access(data: &Place) -> anyhow::Result<super::Access> {
    data.open_access()
}

fn random_password() -> anyhow::Result<String> {
    let mut b = [0u8; 15];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

pub fn run(data: &Place, cmd: ProfessionalCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProfessionalCommand::Add {
            login,
            name,
            rpps,
            admin,
            password_stdin,
            json,
        } => {
            let login = login.trim().to_string();
            anyhow::ensure!(
                !login.is_empty()
                    && login.len() <= 128
                    && login.chars().all(|c| c.is_ascii_graphic()),
                "a login is 1 to 128 printable ASCII characters without spaces"
            );
            let rpps = match rpps {
                Some(r) => match signaling::api::professional(&name, &r)? {
                    Identity::Professional { rpps, .. } => Some(rpps),
                    _ => None,
                },
                None if admin => None,
                None => anyhow::bail!("a professional account needs --rpps"),
            };
            let (pass, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (random_password()?, true)
            };
            let hash = password::hash(&pass)?;
            let secret = totp::new_secret()?;
            let access = open_access(data)?;
            let role = if admin {
                AccountRole::Administrator
            } else {
                AccountRole::Professional
            };
            let id = access.add_account(
                NewAccount {
                    login: login.clone(),
                    role,
                    password_hash: hash,
                    secrets: AccountSecrets {
                        name: Pii::new(name.trim().to_string()),
                        rpps,
                        totp_secret: Pii::new(secret.clone()),
                    },
                },
                Timestamp::now(),
            )?;
            access.record(
                "cli:operator",
                "account_added",
                None,
                &format!("account:{id}"),
                Timestamp::now(),
            )?;
            let uri = totp::provisioning_uri(&secret, &login)?;
            let b32 = totp::secret_base32(&secret);
            if json {
                println!(
                    "{}",
                    json!({
                        "login": login,
                        "role": role,
                        "totp_secret": b32,
                        "totp_uri": uri,
                        "password": generated.then_some(&pass),
                    })
                );
            } else {
                println!("account {login} ({}) added", role.as_str());
                if generated {
                    println!("password (shown once): {pass}");
                }
                println!("TOTP secret (shown once): {b32}");
                println!("TOTP URI: {uri}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfessionalCommand::Disable { login } => {
            let access = open_access(data)?;
            let account = access
                .account(&login)?
                .with_context(|| format!("no account {login:?}"))?;
            if access.disable(&login, Timestamp::now())? {
                access.record(
                    "cli:operator",
                    "account_disabled",
                    None,
                    &format!("account:{}", account.id),
                    Timestamp::now(),
                )?;
                println!("account {login} disabled");
            } else {
                println!("account {login} was already disabled");
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfessionalCommand::Enable { login } => {
            let access = open_access(data)?;
            let account = access
                .account(&login)?
                .with_context(|| format!("no account {login:?}"))?;
            if access.enable(&login, Timestamp::now())? {
                access.record(
                    "cli:operator",
                    "account_enabled",
                    None,
                    &format!("account:{}", account.id),
                    Timestamp::now(),
                )?;
                println!("account {login} enabled");
            } else {
                println!("account {login} was already enabled");
            }
            Ok(ExitCode::SUCCESS)
        }
        ProfessionalCommand::Role { login, role } => {
            let access = open_access(data)?;
            let role = if role == "administrator" {
                AccountRole::Administrator
            } else {
                AccountRole::Professional
            };
            anyhow::ensure!(
                access.set_role(&login, role, Timestamp::now())?,
                "no account {login:?}"
            );
            println!("account {login} is now {}", role.as_str());
            Ok(ExitCode::SUCCESS)
        }
        ProfessionalCommand::List => {
            let access = open_access(data)?;
            for (login, role, enabled) in access.logins()? {
                println!(
                    "{login:<24} {:<14} {}",
                    role.as_str(),
                    if enabled { "enabled" } else { "disabled" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
