//! The API key the runbook generates is one api-app accepts outside `local`.

use api_app::auth::MIN_GENERATED_KEY_LEN;
use integration_tests::read_text;

/// Every `openssl rand -base64 N` in the key runbook yields a key api-app accepts in dev and prod.
#[test]
fn the_documented_key_generator_makes_keys_long_enough_for_dev_and_prod() {
    let runbook = read_text("terraform/README.md");
    let sizes: Vec<usize> = runbook
        .match_indices("openssl rand -base64 ")
        .map(|(at, found)| {
            runbook[at + found.len()..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .expect("a byte count after openssl rand -base64")
        })
        .collect();
    assert!(!sizes.is_empty(), "terraform/README.md generates the key");
    for bytes in sizes {
        // base64 writes 4 characters per 3 bytes.
        let chars = bytes.div_ceil(3) * 4;
        assert!(
            chars >= MIN_GENERATED_KEY_LEN && bytes * 8 >= 256,
            "openssl rand -base64 {bytes} gives {chars} characters; api-app needs {MIN_GENERATED_KEY_LEN}"
        );
    }
}
