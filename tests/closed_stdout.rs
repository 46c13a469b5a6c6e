//! A closed stdout (`mkaci verify X | head -0`, `| true`) ends postprocess,
//! inspect and verify quietly, as `cat` ends: no panic, no message, the
//! status of a process killed by SIGPIPE; what postprocess published stays
//! published.

mod common;

use std::process::{Command, Stdio};

use common::*;

/// Runs `cmd` with a stdout whose reader is gone before it starts (closed
/// before the spawn: closing it after raced with a fast command, which
/// could write into the pipe's buffer first and exit 0).
fn with_closed_stdout(cmd: &mut Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap()
}

#[test]
fn postprocess_inspect_and_verify_end_quietly() {
    if !need("gpg") {
        return;
    }
    let home = GpgHome::new(KeyKind::Rsa);
    let t = tempfile::tempdir().unwrap();
    let img = Img::fat("example.com/busybox");
    let result = make_result(t.path(), "result", std::slice::from_ref(&img));
    let dir = t.path().join("ACIs");
    let o = with_closed_stdout(home.mkaci().arg("postprocess").arg("--").arg(&dir).arg(&result));
    assert_eq!(stderr(&o), "", "quiet");
    assert_eq!(o.status.code(), Some(141), "the status of cat killed by SIGPIPE");
    let aci = dir.join(img.file());
    assert!(home.verifies(&dir.join(format!("{}.asc", img.file())), &aci), "published whole");
    assert!(dir.join("pubkeys.gpg").is_file());
    for args in [&["verify"][..], &["inspect"], &["inspect", "--verify"], &["inspect", "--sbom"]] {
        let o = with_closed_stdout(home.mkaci().args(args).arg(&aci));
        if args == ["inspect", "--sbom"] {
            // This image pins no SBOM: the refusal is the answer, on stderr.
            assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
            continue;
        }
        assert_eq!(stderr(&o), "", "{args:?}: quiet");
        assert_eq!(o.status.code(), Some(141), "{args:?}");
    }
    // An error still says so on stderr, whatever stdout is.
    let o = with_closed_stdout(home.mkaci().arg("verify").arg(t.path().join("missing.aci")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("mkaci: error:"), "{}", stderr(&o));
}
