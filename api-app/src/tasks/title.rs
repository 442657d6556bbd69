//! `TaskTitle`: a task's title, parsed once ("parse, don't validate"), and [`TITLE_PATTERN`], the same
//! rule as the regular expression the OpenAPI document publishes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::{OpenApi, RefOr, Schema};

/// Longest accepted title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;

/// A task title: 1-200 characters after trimming, at least one of them visible, with no control or
/// format (Unicode Cf) characters, so two titles that look alike are alike.
// The OpenAPI schema states that rule exactly, as `TITLE_PATTERN`, rather than as `maxLength`:
// surrounding whitespace is trimmed and does not count, so a client reading the spec (or a fuzzer
// generating from it) gets the same answer as `TaskTitle::parse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, min_length = 1, example = "Write the runbook")]
pub struct TaskTitle(String);

/// Rust's `char::is_whitespace` set (what `trim` removes), as the body of a regex character class.
macro_rules! title_space {
    () => {
        r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}
/// `char::is_control` (what a title may not contain), as the body of a regex character class.
macro_rules! title_control {
    () => {
        r"\u0000-\u001F\u007F-\u009F"
    };
}
/// The Basic Multilingual Plane's format characters (Unicode category Cf: soft hyphen, zero-width
/// space and joiners, bidi embeddings, overrides and isolates, BOM…), which a title may not contain.
/// [`FORMAT_CHARS`] also lists the astral ones.
macro_rules! title_format {
    () => {
        r"\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB"
    };
}
/// Characters that draw nothing though they are neither spaces nor format characters (Hangul and
/// braille fillers, the combining grapheme joiner, variation selectors): a title needs at least one
/// character outside these, the spaces and the format characters.
macro_rules! title_invisible {
    () => {
        r"\u034F\u115F\u1160\u17B4\u17B5\u2800\u3164\uFE00-\uFE0F\uFFA0"
    };
}

/// Every format character (Unicode 16 category Cf), as inclusive ranges.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// The characters [`title_invisible!`] lists, as inclusive ranges.
const INVISIBLE_CHARS: &[(char, char)] = &[
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FFA0}', '\u{FFA0}'),
];

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

fn is_format(c: char) -> bool {
    in_ranges(c, FORMAT_CHARS)
}

fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !is_format(c) && !in_ranges(c, INVISIBLE_CHARS)
}

/// [`TaskTitle`]'s rule as a regular expression (ECMA-262 and Python alike): somewhere a visible
/// character (the lookahead); optional whitespace, then 1-200 characters that start and end with a
/// non-space and contain no control or format character, then optional whitespace. The OpenAPI
/// document publishes it as the title's `pattern`. Regex classes here hold BMP characters only, so
/// the astral format characters (tags, musical and hieroglyph format controls) are refused by
/// `TaskTitle::parse` without appearing in the pattern.
pub const TITLE_PATTERN: &str = concat!(
    "^(?=[\\s\\S]*[^",
    title_space!(),
    title_control!(),
    title_format!(),
    title_invisible!(),
    "])[",
    title_space!(),
    "]*",
    "[^",
    title_control!(),
    title_format!(),
    title_space!(),
    "]",
    "([^",
    title_control!(),
    title_format!(),
    "]{0,198}[^",
    title_control!(),
    title_format!(),
    title_space!(),
    "])?",
    "[",
    title_space!(),
    "]*$"
);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let title = raw.trim();
        let chars = title.chars().count();
        if chars == 0 || chars > MAX_TITLE_CHARS {
            return Err(format!("title must be 1-{MAX_TITLE_CHARS} characters"));
        }
        if title.chars().any(char::is_control) {
            return Err("title must not contain control characters".into());
        }
        if title.chars().any(is_format) {
            return Err(
                "title must not contain invisible format characters (zero-width, bidi controls, BOM, soft hyphen)"
                    .into(),
            );
        }
        if !title.chars().any(is_visible) {
            return Err("title must contain at least one visible character".into());
        }
        Ok(Self(title.to_owned()))
    }
}

impl TryFrom<String> for TaskTitle {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TaskTitle> for String {
    fn from(t: TaskTitle) -> Self {
        t.0
    }
}

impl AsRef<str> for TaskTitle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Publishes [`TITLE_PATTERN`] on the `TaskTitle` schema: the exact rule `TaskTitle::parse` applies
/// (trimmed length and no control characters), which `maxLength` alone cannot state.
pub(crate) fn document_pattern(doc: &mut OpenApi) {
    let schema = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("TaskTitle"));
    if let Some(RefOr::T(Schema::Object(title))) = schema {
        title.pattern = Some(TITLE_PATTERN.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn titles_are_trimmed() {
        assert_eq!(TaskTitle::parse("  ship it ").unwrap().as_ref(), "ship it");
    }

    #[test]
    fn blank_and_long_titles_are_rejected() {
        assert!(TaskTitle::parse("   ").is_err());
        assert!(TaskTitle::parse(&"x".repeat(201)).is_err());
        assert!(
            TaskTitle::parse(&"é".repeat(200)).is_ok(),
            "limits count characters, not bytes"
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        assert!(TaskTitle::parse("line\nbreak").is_err());
        assert!(TaskTitle::parse("nul\0").is_err());
    }

    /// The characters in a regex class body made of `\uXXXX` and `\uXXXX-\uXXXX` items.
    fn class_chars(body: &str) -> std::collections::BTreeSet<char> {
        let code = |hex: &str| u32::from_str_radix(hex, 16).unwrap();
        let mut set = std::collections::BTreeSet::new();
        for item in body
            .replace("-\\u", "-")
            .split("\\u")
            .filter(|i| !i.is_empty())
        {
            let (lo, hi) = match item.split_once('-') {
                Some((lo, hi)) => (code(lo), code(hi)),
                None => (code(item), code(item)),
            };
            set.extend((lo..=hi).filter_map(char::from_u32));
        }
        set
    }

    #[test]
    fn the_published_title_pattern_uses_rusts_own_character_sets() {
        let all = || (0..=0x10_FFFF_u32).filter_map(char::from_u32);
        let space: std::collections::BTreeSet<char> = all().filter(|c| c.is_whitespace()).collect();
        let control: std::collections::BTreeSet<char> = all().filter(|c| c.is_control()).collect();
        assert_eq!(class_chars(title_space!()), space);
        assert_eq!(class_chars(title_control!()), control);
        let inner = format!("{{0,{}}}", MAX_TITLE_CHARS - 2);
        assert!(TITLE_PATTERN.contains(&inner), "{TITLE_PATTERN}");
    }

    #[test]
    fn format_characters_and_invisible_only_titles_are_rejected() {
        for sneaky in [
            "pay\u{200B}pal",     // zero-width space
            "abc\u{202E}gpj.exe", // right-to-left override
            "\u{FEFF}title",      // byte-order mark
            "soft\u{00AD}hyphen", // soft hyphen
            "join\u{200D}er",     // zero-width joiner
            "iso\u{2066}late",    // left-to-right isolate
            "tag\u{E0041}",       // an astral tag character
        ] {
            assert!(TaskTitle::parse(sneaky).is_err(), "{sneaky:?}");
        }
        for blank in ["\u{3164}", "\u{2800}\u{2800}", " \u{115F} ", "\u{FE0F}"] {
            let err = TaskTitle::parse(blank).unwrap_err();
            assert!(err.contains("visible"), "{blank:?}: {err}");
        }
        assert!(
            TaskTitle::parse("\u{3164}ok").is_ok(),
            "one visible character is enough"
        );
        assert!(TaskTitle::parse("caf\u{00E9} \u{1F680}").is_ok());
    }

    #[test]
    fn the_published_pattern_lists_the_same_format_and_invisible_characters() {
        let bmp = |ranges: &[(char, char)]| -> std::collections::BTreeSet<char> {
            ranges
                .iter()
                .flat_map(|(lo, hi)| *lo..=*hi)
                .filter(|c| u32::from(*c) <= 0xFFFF)
                .collect()
        };
        assert_eq!(class_chars(title_format!()), bmp(FORMAT_CHARS));
        assert_eq!(class_chars(title_invisible!()), bmp(INVISIBLE_CHARS));
        assert!(
            FORMAT_CHARS
                .iter()
                .all(|(_, hi)| !hi.is_control() && !hi.is_whitespace())
        );
    }

    proptest! {
        /// A title that parses round-trips through JSON unchanged, and is already in canonical form.
        #[test]
        fn parsed_titles_round_trip(raw in "\\PC{0,250}") {
            if let Ok(title) = TaskTitle::parse(&raw) {
                let json = serde_json::to_string(&title).unwrap();
                let back: TaskTitle = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&back, &title);
                prop_assert_eq!(TaskTitle::parse(title.as_ref()).unwrap(), title.clone());
                let n = title.as_ref().chars().count();
                prop_assert!((1..=MAX_TITLE_CHARS).contains(&n));
            }
        }

    }
}
