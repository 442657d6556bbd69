//! Reads the commit the sources are checked out at, so a local build (`make demo`) shows it where
//! CI passes `GIT_SHA` instead: `build_info!` falls back to `PLATFORM_GIT_COMMIT` set here. Outside
//! a Git checkout (the image build's context has no `.git`) nothing is set and the commit stays
//! `unknown` unless `GIT_SHA` says otherwise.

use std::path::Path;
use std::process::Command;

/// `git <args>`'s first line of output, when Git runs and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().next()?.trim();
    (out.status.success() && !line.is_empty()).then(|| line.to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Build again when HEAD moves: a new commit changes the branch's ref (or packed-refs).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=PLATFORM_GIT_COMMIT={commit}");
    }
}
