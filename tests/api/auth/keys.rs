//! The key rules at start-up: length, characters, a key in prod, and keys printed only redacted.

use api_app::config::Config;
use integration_tests::start_failure;

#[test]
fn keys_must_be_16_to_512_ascii_characters_without_surrounding_spaces() {
    let config = |var: &str, key: &str| {
        let mut vars = vec![("API_KEY", "current-key-0123456789")];
        vars.retain(|(name, _)| *name != var);
        vars.push((var, key));
        Config::from_vars(integration_tests::test_env(&vars))
    };
    let at_least = "k".repeat(16);
    for var in ["API_KEY", "API_KEY_PREVIOUS"] {
        for bad in [
            " leading-space-0123456789",
            "trailing-space-0123456789 ",
            "\ttabbed-key-0123456789\t",
            &"k".repeat(15),
            &"k".repeat(513),
            "ünïcödé-key-0123456789",
        ] {
            let err = config(var, bad)
                .expect_err(&format!("{var}={bad:?} is refused"))
                .to_string();
            assert!(err.contains(var), "{err}");
            assert!(
                !err.contains(bad.trim()),
                "the value is never echoed: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        assert!(config(var, &at_least).is_ok(), "{var}: 16 characters");
        assert!(
            config(var, &"k".repeat(512)).is_ok(),
            "{var}: 512 characters"
        );
    }
}

#[test]
fn the_configuration_prints_keys_only_as_redacted() {
    let key = "current-key-0123456789";
    let config = Config::from_vars(integration_tests::test_env(&[
        ("API_KEY", key),
        ("API_KEY_PREVIOUS", "previous-key-0123456789"),
    ]))
    .unwrap();
    let printed = format!("{config:?}");
    assert_eq!(
        printed.matches("ApiKey([redacted])").count(),
        2,
        "{printed}"
    );
    assert!(!printed.contains("key-0123456789"), "{printed}");
}

#[test]
fn prod_starts_with_a_key_and_refuses_to_start_without_one() {
    // DATABASE_URL and the password file as prod sets them (the database store reads them).
    let prod = [
        ("APP_ENV", "prod"),
        (
            "DATABASE_URL",
            "postgres://api_app@db.example:5432/tasks?sslmode=require",
        ),
        (
            "DATABASE_PASSWORD_FILE",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ),
    ];
    let with_key: Vec<_> = prod
        .iter()
        .copied()
        // A key as prod requires (generated: long and random).
        .chain([("API_KEY", integration_tests::api::API_KEY)])
        .collect();
    let config = Config::from_vars(integration_tests::test_env(&with_key));
    assert!(config.is_ok(), "{config:?}");
    let err = Config::from_vars(integration_tests::test_env(&prod)).unwrap_err();
    assert!(err.to_string().contains("API_KEY"), "{err}");
}

#[test]
fn prod_refuses_to_start_without_an_api_key() {
    let (code, stderr) = start_failure("api-app", &[("APP_ENV", "prod")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("API_KEY") && stderr.contains("prod"),
        "{stderr}"
    );
}
