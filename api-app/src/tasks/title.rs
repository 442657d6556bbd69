//! `TaskTitle`: a task's title, parsed once ("parse, don't validate"), and [`TITLE_PATTERN`], the same
//! rule as the regular expression the OpenAPI document publishes.
//!
//! Which characters draw nothing comes from the Unicode Character Database through ICU4X's
//! `icu_properties` (the Unicode Consortium's own Rust library, already in the build through
//! `url`'s IDNA support, so it adds no crate, licence or source): `Default_Ignorable_Code_Point`
//! and the general categories, for the Unicode version the crate ships, rather than hand-kept tables.

use std::sync::LazyLock;

use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup};
use icu_properties::{CodePointMapData, CodePointSetData};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::{OpenApi, RefOr, Schema};

/// Longest accepted title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;

/// A task title: 1-200 characters after trimming, on one line (no control character, and no line or
/// paragraph separator, U+2028 and U+2029, which break a line as `\n` does), with no format (Cf) or
/// default-ignorable character (zero-width spaces and joiners, bidi controls, variation selectors,
/// Hangul fillers, tags...), and at least one base character (a letter, digit, punctuation mark or
/// symbol, not only combining marks), so two titles that look alike are alike and no title looks
/// empty.
// The OpenAPI schema states that rule exactly, as `TITLE_PATTERN`, rather than as `maxLength`:
// surrounding whitespace is trimmed and does not count, so a client reading the spec (or a fuzzer
// generating from it) gets the same answer as `TaskTitle::parse`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(try_from = "String")]
#[schema(value_type = String, min_length = 1, example = "Write the runbook")]
pub struct TaskTitle(String);

/// Written as the string it holds. (`#[serde(into = "String")]` would clone it first: an
/// allocation and a copy for every task of every page.)
impl Serialize for TaskTitle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Rust's `char::is_whitespace` set (what `trim` removes), as the body of a regex character class.
macro_rules! title_space {
    () => {
        r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    };
}

/// The general categories of a base character: Unicode's graphic characters less the marks and
/// the spaces.
const BASE_CATEGORIES: GeneralCategoryGroup = GeneralCategoryGroup::Letter
    .union(GeneralCategoryGroup::Number)
    .union(GeneralCategoryGroup::Punctuation)
    .union(GeneralCategoryGroup::Symbol);
/// U+2800 BRAILLE PATTERN BLANK: a symbol by category, so a base character, yet it draws nothing.
const BRAILLE_BLANK: char = '\u{2800}';

fn category(c: char) -> GeneralCategory {
    CodePointMapData::<GeneralCategory>::new().get(c)
}

/// A format character (Cf) or a default-ignorable one: both draw nothing where they stand.
fn is_invisible(c: char) -> bool {
    category(c) == GeneralCategory::Format
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// A control character, or a line or paragraph separator: what would break a title's one line.
fn breaks_the_line(c: char) -> bool {
    c.is_control()
        || matches!(
            category(c),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
}

/// What a title may not contain anywhere (within it: trimming removes whitespace at its ends).
fn is_refused(c: char) -> bool {
    breaks_the_line(c) || is_invisible(c)
}

/// What a title needs at least one of.
fn is_base(c: char) -> bool {
    !is_refused(c) && c != BRAILLE_BLANK && BASE_CATEGORIES.contains(category(c))
}

/// The characters for which `member` holds, as the body of a regex character class: `\uXXXX` and
/// `\uXXXX-\uXXXX` items for the Basic Multilingual Plane, the characters themselves for the planes
/// above it. Python's `re` and ECMA-262 in Unicode mode (`u`, as JSON Schema validators such as
/// Ajv compile a `pattern`) read both as code points; neither has an escape for an astral code
/// point that the other reads (`\U0001F600` is Python's, `\u{1F600}` ECMA-262's).
///
/// `member` must be one of this file's predicates, which depend only on a character's general
/// category, whether it is default-ignorable, and whether it is [`BRAILLE_BLANK`]: they are asked
/// once per stretch of code points where all three stay the same (a few thousand stretches, where
/// asking each of the 1.1 million code points cost seconds in a debug build's start-up).
fn char_class(member: impl Fn(char) -> bool) -> String {
    let mut ranges: Vec<(char, char)> = Vec::new();
    let starts = same_property_starts();
    for (at, &start) in starts.iter().enumerate() {
        let end = starts
            .get(at + 1)
            .map_or(u32::from(char::MAX), |next| next - 1);
        // A stretch of surrogates holds no character (the stretches around it end and start at
        // characters).
        let (Some(first), Some(last)) = (char::from_u32(start), char::from_u32(end)) else {
            continue;
        };
        if !member(first) {
            continue;
        }
        match ranges.last_mut() {
            // Consecutive, and on the same side of the BMP's end.
            Some((_, hi)) if u32::from(*hi) + 1 == start && start != 0x1_0000 => *hi = last,
            _ => ranges.push((first, last)),
        }
    }
    let item = |c: char| {
        if c > '\u{FFFF}' {
            c.to_string()
        } else {
            format!("\\u{:04X}", u32::from(c))
        }
    };
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if hi > lo {
                format!("{}-{}", item(lo), item(hi))
            } else {
                item(lo)
            }
        })
        .collect()
}

/// The code points where a stretch of equal general category, default-ignorability and
/// [`BRAILLE_BLANK`]-ness starts, in order; also where the surrogates and the planes above the BMP
/// start, so no stretch spans the BMP's end (a class item is written one way or the other).
fn same_property_starts() -> Vec<u32> {
    let mut starts: Vec<u32> = CodePointMapData::<GeneralCategory>::new()
        .iter_ranges()
        .map(|r| *r.range.start())
        .collect();
    for ignorable in CodePointSetData::new::<DefaultIgnorableCodePoint>().iter_ranges() {
        starts.extend([*ignorable.start(), ignorable.end() + 1]);
    }
    let braille = u32::from(BRAILLE_BLANK);
    starts.extend([0, braille, braille + 1, 0xD800, 0xE000, 0x1_0000]);
    starts.retain(|&start| start <= u32::from(char::MAX));
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// [`TaskTitle`]'s rule as a regular expression (Python's and ECMA-262's in Unicode mode alike):
/// somewhere a base character (the lookahead, written as "not a character that is not a base
/// one"); optional whitespace, then 1-200 characters that start and end with a non-space and
/// contain no refused character, then optional whitespace. The OpenAPI document publishes it as
/// the title's `pattern`. Built from the same predicates `TaskTitle::parse` applies, over every
/// code point: the astral refused ones (tag characters, the variation selectors supplement) are in
/// it too, so a client that checks a title against it gets `TaskTitle::parse`'s answer.
pub static TITLE_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let refused = char_class(is_refused);
    let not_base = char_class(|c| !is_base(c));
    let space = title_space!();
    let inner = MAX_TITLE_CHARS - 2;
    format!(
        "^(?=[\\s\\S]*[^{not_base}])[{space}]*[^{refused}{space}]\
         ([^{refused}]{{0,{inner}}}[^{refused}{space}])?[{space}]*$"
    )
});

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let title = raw.trim();
        let chars = title.chars().count();
        if chars == 0 || chars > MAX_TITLE_CHARS {
            return Err(format!("title must be 1-{MAX_TITLE_CHARS} characters"));
        }
        if title.chars().any(breaks_the_line) {
            return Err(
                "title must be one line: no control characters or line or paragraph separators"
                    .into(),
            );
        }
        if title.chars().any(is_invisible) {
            return Err(
                "title must not contain invisible characters (zero-width, joiners, bidi controls, \
                 variation selectors, fillers, BOM, soft hyphen)"
                    .into(),
            );
        }
        if !title.chars().any(is_base) {
            return Err(
                "title must contain at least one visible character: a letter, digit, punctuation \
                 mark or symbol, not only spaces or combining marks"
                    .into(),
            );
        }
        Ok(Self(title.to_owned()))
    }
}

impl TaskTitle {
    /// A title as a store holds it: it passed the rule of the release that wrote it. The rule only
    /// ever tightens (this release refuses default-ignorable characters an earlier one accepted),
    /// and what was stored must stay readable, as the expand-then-contract rule keeps old rows
    /// readable: the rule guards writes, not reads.
    pub(crate) fn from_store(stored: String) -> Self {
        Self(stored)
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

/// Publishes [`TITLE_PATTERN`] on the `TaskTitle` schema: the exact rule `TaskTitle::parse` applies,
/// which `maxLength` alone cannot state.
pub(crate) fn document_pattern(doc: &mut OpenApi) {
    let schema = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("TaskTitle"));
    if let Some(RefOr::T(Schema::Object(title))) = schema {
        title.pattern = Some(TITLE_PATTERN.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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
    fn control_characters_and_line_breaks_within_are_rejected() {
        for broken in [
            "line\nbreak",
            "nul\0",
            "line\u{2028}separator",
            "paragraph\u{2029}separator",
        ] {
            let err = TaskTitle::parse(broken).unwrap_err();
            assert!(err.contains("one line"), "{broken:?}: {err}");
        }
        // At the ends they are whitespace, trimmed like a trailing newline.
        assert_eq!(
            TaskTitle::parse("\u{2028}title\u{2029}\n")
                .unwrap()
                .as_ref(),
            "title"
        );
    }

    /// The items of a regex class body made of `\uXXXX` items, literal astral characters, and
    /// ranges of the two, in order, each as its first and last character. A range must span two
    /// characters or more (one is written as itself); only astral characters are written as
    /// themselves.
    fn class_items(body: &str) -> Vec<(char, char)> {
        let mut items: Vec<(char, char)> = Vec::new();
        let mut rest = body;
        let mut range = false;
        while let Some(c) = rest.chars().next() {
            let (item, len) = match c {
                '\\' => {
                    let hex = &rest[2..6];
                    (
                        char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap(),
                        6,
                    )
                }
                '-' => {
                    range = true;
                    rest = &rest[1..];
                    continue;
                }
                c => {
                    assert!(
                        c > '\u{FFFF}',
                        "{c:?} is in the BMP: it is written as \\uXXXX"
                    );
                    (c, c.len_utf8())
                }
            };
            match items.last_mut() {
                Some((lo, hi)) if range => {
                    assert!(*lo < item, "{lo:?}-{item:?} is not a range of two or more");
                    *hi = item;
                }
                _ => items.push((item, item)),
            }
            range = false;
            rest = &rest[len..];
        }
        items
    }

    /// The characters of a class body (see [`class_items`]).
    fn class_chars(body: &str) -> BTreeSet<char> {
        class_items(body)
            .into_iter()
            .flat_map(|(lo, hi)| lo..=hi)
            .collect()
    }

    fn all(member: impl Fn(char) -> bool) -> BTreeSet<char> {
        (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|c| member(*c))
            .collect()
    }

    #[test]
    fn the_published_pattern_is_built_from_the_predicates_parse_applies() {
        let space: BTreeSet<char> = all(char::is_whitespace);
        assert_eq!(class_chars(title_space!()), space, "Rust's own whitespace");
        let refused = class_chars(&char_class(is_refused));
        assert_eq!(refused, all(is_refused));
        assert_eq!(
            class_chars(&char_class(|c| !is_base(c))),
            all(|c| !is_base(c))
        );
        for part in [char_class(is_refused), char_class(|c| !is_base(c))] {
            assert!(TITLE_PATTERN.contains(&part));
            // As short as the two notations allow: no item starts right after the one before
            // ends, except where `\uFFFF` gives way to the astral characters themselves.
            for pair in class_items(&part).windows(2) {
                let ((_, hi), (lo, _)) = (pair[0], pair[1]);
                assert!(
                    u32::from(lo) > u32::from(hi) + 1 || lo == '\u{10000}',
                    "{hi:?} and {lo:?} are one range written as two"
                );
            }
        }
        let inner = format!("{{0,{}}}", MAX_TITLE_CHARS - 2);
        assert!(TITLE_PATTERN.contains(&inner), "{}", *TITLE_PATTERN);
        // The astral refused characters are in the pattern, as themselves: a tag character and a
        // reserved one of the same block (Schemathesis found the gap with U+E0DAE).
        for astral in ['\u{E0041}', '\u{E0DAE}'] {
            assert!(is_refused(astral) && refused.contains(&astral));
        }
    }

    #[test]
    fn the_unicode_data_knows_the_characters_the_rule_is_about() {
        for refused in [
            '\u{2028}',
            '\u{2029}',
            '\u{00AD}',
            '\u{034F}',
            '\u{200B}',
            '\u{202E}',
            '\u{FE0F}',
            '\u{E0100}',
        ] {
            assert!(is_refused(refused), "{refused:?}");
        }
        for base in ['a', 'é', '7', '!', '€', '\u{1F680}', '\u{4E2D}'] {
            assert!(is_base(base), "{base:?}");
        }
        for not_base in [' ', '\u{0301}', '\u{20DD}', BRAILLE_BLANK, '\u{3164}'] {
            assert!(!is_base(not_base), "{not_base:?}");
        }
    }

    #[test]
    fn invisible_characters_anywhere_and_titles_without_a_base_character_are_rejected() {
        // Format characters, and default-ignorable ones that are not Cf: each draws nothing.
        for sneaky in [
            "pay\u{200B}pal",     // zero-width space
            "abc\u{202E}gpj.exe", // right-to-left override
            "\u{FEFF}title",      // byte-order mark
            "soft\u{00AD}hyphen", // soft hyphen
            "join\u{200D}er",     // zero-width joiner
            "iso\u{2066}late",    // left-to-right isolate
            "tag\u{E0041}",       // an astral tag character
            "a\u{034F}b",         // combining grapheme joiner
            "ok\u{FE0F}",         // variation selector 16
            "ok\u{E0100}",        // a variation selector from the supplement
            "ok\u{180B}",         // Mongolian free variation selector
            "\u{3164}ok",         // Hangul filler
            "ok\u{115F}",         // Hangul choseong filler
            "ok\u{17B4}",         // Khmer inherent vowel
            "ok\u{FFA0}",         // halfwidth Hangul filler
        ] {
            let err = TaskTitle::parse(sneaky).unwrap_err();
            assert!(err.contains("invisible"), "{sneaky:?}: {err}");
        }
        for blank in [
            "\u{2800}",
            "\u{2800}\u{2800}",
            "\u{0301}",
            "\u{0301}\u{0308}\u{20DD}",
        ] {
            let err = TaskTitle::parse(blank).unwrap_err();
            assert!(err.contains("visible character"), "{blank:?}: {err}");
        }
        for fine in [
            "caf\u{00E9} \u{1F680}",
            "e\u{0301}",
            "\u{2800}x",
            "\u{4E2D}\u{6587}",
            "-",
        ] {
            assert!(TaskTitle::parse(fine).is_ok(), "{fine:?}");
        }
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
