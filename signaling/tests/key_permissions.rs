//! Key files and the trace store are checked at start: a key file other
//! users may read is refused with a sentence naming the file and the fix,
//! and a new data directory and store are private to their owner.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_new_data_directory_and_store_are_private() {
    let cli = Cli::new();
    cli.create_teleconsultation();
    assert_eq!(mode(&cli.data()), 0o700);
    assert_eq!(mode(&cli.data().join("keys")), 0o700);
    assert_eq!(mode(&cli.db()), 0o600);
    for key in ["signing.key", "data.key", "invite.key", "api.token"] {
        assert_eq!(mode(&cli.data().join("keys").join(key)), 0o600, "{key}");
    }
}

#[test]
fn a_key_file_readable_by_others_is_refused_naming_the_fix() {
    let cli = Cli::new();
    let id = cli.create_teleconsultation();
    for key in ["signing.key", "data.key", "invite.key"] {
        let path = cli.data().join("keys").join(key);
        chmod(&path, 0o640);
        let out = cli.run(&[
            "act",
            "create",
            "--kind",
            "teleconsultation",
            "--professional",
            DOCTOR,
            "--rpps",
            DOCTOR_RPPS,
            "--patient",
            PATIENT,
        ]);
        assert!(!out.status.success(), "{key}: act create ran");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{key}: {err}"
        );
        assert!(
            err.contains("readable or writable by group or others"),
            "{err}"
        );
        chmod(&path, 0o600);
    }
    // Reading the trace with the data key is refused the same way.
    let data_key = cli.data().join("keys/data.key");
    chmod(&data_key, 0o604);
    let out = cli.run(&["trace", "export", &id, "--format", "json"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("chmod 600 {}", data_key.display())),
        "{}",
        stderr(&out)
    );
    // So are `trace show` and `act list`, which read without the data key
    // when there is none: a key that is there but too open is no absence.
    for args in [vec!["trace", "show", id.as_str()], vec!["act", "list"]] {
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?} ran with an open data key");
        assert!(
            stderr(&out).contains(&format!("chmod 600 {}", data_key.display())),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    chmod(&data_key, 0o600);
    // A public key others may replace, and a store others may write.
    let public = cli.data().join("keys/signing.pub");
    chmod(&public, 0o666);
    let out = cli.run(&["trace", "verify"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("chmod 644 {}", public.display())),
        "{}",
        stderr(&out)
    );
    chmod(&public, 0o644);
    chmod(&cli.db(), 0o664);
    let out = cli.run(&["trace", "show", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("chmod 600 {}", cli.db().display())),
        "{}",
        stderr(&out)
    );
    chmod(&cli.db(), 0o600);
    cli.ok(&["trace", "show", &id]);
}
