//! One canonical form for every input: what looks alike is alike, and one task has one URL.

use integration_tests::api::spawn_app;
use integration_tests::assert_error;
use serde_json::json;

#[tokio::test]
async fn titles_with_format_characters_line_breaks_or_nothing_visible_are_a_422() {
    let app = spawn_app().await;
    for title in [
        "line\u{2028}separator",
        "paragraph\u{2029}separator",
        "pay\u{200B}pal",
        "invoice\u{202E}fdp.exe",
        "\u{FEFF}bom",
        "soft\u{00AD}hyphen",
        "\u{3164}",
        "\u{2800}",
    ] {
        let res = app
            .post_json("/api/tasks", &json!({ "title": title }))
            .await;
        assert_error(res, 422, "validation_failed").await;
    }
    let total = app
        .get("/api/tasks")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["total"]
        .clone();
    assert_eq!(total, 0, "nothing was stored");
}

#[tokio::test]
async fn a_json_body_with_a_repeated_key_is_a_422() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/tasks"))
        .header("content-type", "application/json")
        .body(r#"{"title":"","title":"ok"}"#)
        .send()
        .await
        .unwrap();
    let message = assert_error(res, 422, "validation_failed").await;
    assert!(message.contains("duplicate field `title`"), "{message}");

    let task = app.create_task("patch me").await;
    let id = task["id"].as_str().unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/api/tasks/{id}")))
        .header("content-type", "application/json")
        .body(r#"{"completed":true,"completed":false}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn only_the_canonical_lowercase_hyphenated_id_names_a_task() {
    let app = spawn_app().await;
    let task = app.create_task("one url").await;
    let id = task["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/tasks/{id}")).await.status(), 200);
    let simple = id.replace('-', "");
    for other in [
        id.to_uppercase(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
        simple,
    ] {
        let res = app.get(&format!("/api/tasks/{other}")).await;
        assert_error(res, 400, "invalid_id").await;
        let res = app.delete_task(&other).await;
        assert_error(res, 400, "invalid_id").await;
    }
    assert_eq!(
        app.get(&format!("/api/tasks/{id}")).await.status(),
        200,
        "still there"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_says_an_object_was_expected() {
    let app = spawn_app().await;
    for body in [json!(["title", false]), json!("title"), json!(5)] {
        let res = app.post_json("/api/tasks", &body).await;
        let message = assert_error(res, 422, "validation_failed").await;
        assert!(
            message.contains("expected a JSON object"),
            "{body}: {message}"
        );
    }
}

#[tokio::test]
async fn default_ignorable_characters_and_titles_of_only_combining_marks_are_a_422() {
    let app = spawn_app().await;
    // What the issue found accepted: each renders as nothing, yet none is a format character.
    for title in [
        "a\u{034F}b",
        "ok\u{FE0F}",
        "ok\u{E0100}",
        "ok\u{180B}",
        "\u{3164}ok",
        "\u{2800}\u{2800}",
        "ok\u{115F}",
        "ok\u{17B4}",
        "ok\u{FFA0}",
        "\u{0301}\u{0308}",
        "\u{20DD}",
    ] {
        let res = app
            .post_json("/api/tasks", &json!({ "title": title }))
            .await;
        let message = assert_error(res, 422, "validation_failed").await;
        assert!(message.contains("visible"), "{title:?}: {message}");
        let task = app.create_task("patch target").await;
        let id = task["id"].as_str().unwrap();
        let res = app.patch_task(id, &json!({ "title": title })).await;
        assert_error(res, 422, "validation_failed").await;
    }
    // A mark on a base character, and a visible character next to a blank one, are fine.
    for title in ["e\u{0301}", "\u{2800}x"] {
        app.create_task(title).await;
    }
}
