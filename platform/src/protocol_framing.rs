//! Where each request head starts and ends in the bytes a connection reads, so that the connection
//! wrapper ([`crate::deadline_io`]) can cap a head at [`MAX_HEAD_BYTES`] (actix-http accepts up to
//! 128 KiB and keeps a buffer that size) before actix buffers it.
//!
//! It follows HTTP/1.1 message framing just far enough: a head ends at an empty line; its body is
//! `Content-Length` bytes or a chunked body; a request that switches protocols (`Upgrade`,
//! `CONNECT`) or whose framing it cannot read ends the tracking, and actix's own parser, which sees
//! the same bytes, refuses what is malformed.

/// The largest request head either app reads: request line, headers and the empty line that ends
/// them. Past it the request gets 431 `headers_too_large` and the connection closes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header fields a request head may have: actix-http's parser holds 96 and answers a bare
/// 431 past them, so the connection wrapper refuses the 97th itself, in the JSON envelope.
pub const MAX_HEADER_FIELDS: usize = 96;

/// A head this large or larger is served, and then the connection closes: the read buffer it grew
/// is released with the connection instead of staying for the keep-alive.
pub const LARGE_HEAD_BYTES: usize = 8 * 1024;

/// The bytes of a header line read to find its name and a short value (`content-length`,
/// `transfer-encoding`, `upgrade`); the rest of a longer line is counted, not kept.
const LINE_PREFIX: usize = 64;

/// What one call to [`Framing::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fed {
    /// How many of the bytes fed it followed: all of them, unless it stopped after the last head
    /// it was allowed, or at a head too large (then up to [`Fed::too_large_at`]).
    pub consumed: usize,
    /// Heads completed.
    pub heads: usize,
    /// The head being read went past [`MAX_HEAD_BYTES`] at this offset of the bytes fed: the
    /// first byte it has no room for, or their length when the bytes fed fill the cap and the head
    /// has not ended (the next byte, whatever it is, would be past it). Or, with
    /// [`Fed::too_many_fields`], its field past [`MAX_HEADER_FIELDS`] starts here (or at 0, when
    /// it began in an earlier read).
    pub too_large_at: Option<usize>,
    /// A head of [`LARGE_HEAD_BYTES`] or more was completed.
    pub large_head: bool,
    /// The head refused at [`Fed::too_large_at`] had more than [`MAX_HEADER_FIELDS`] fields (it
    /// may be short in bytes).
    pub too_many_fields: bool,
}

/// The framing state of one connection's incoming bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    state: State,
}

impl Default for Framing {
    fn default() -> Self {
        Self {
            state: State::Head(Head::default()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Head(Head),
    /// `remaining` bytes of a `Content-Length` body.
    Body(u64),
    Chunked(Chunk),
    /// Tracking stopped: a protocol switch, a refused head, or framing it cannot read.
    Untracked,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Head {
    /// Bytes of the head so far (leading empty lines aside).
    len: usize,
    /// How far into a line ending the last bytes were: 1 after `\n`, 2 after `\n\r`.
    after_newline: u8,
    /// The start of the current line, kept while the line goes on in a later read.
    line: LinePrefix,
    /// What the lines so far said about the framing.
    facts: Facts,
}

/// What a head's lines say about how its request is framed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Facts {
    /// Whether the request line has been read.
    request_line_done: bool,
    /// Header fields read so far.
    fields: usize,
    content_length: Option<u64>,
    chunked: bool,
    /// `Upgrade`, `CONNECT`, or framing it cannot read: stop tracking after this head.
    untrackable: bool,
}

/// The first [`LINE_PREFIX`] content bytes (any but `\r`) of a line that goes on in a later read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LinePrefix {
    bytes: [u8; LINE_PREFIX],
    len: usize,
}

impl Default for LinePrefix {
    fn default() -> Self {
        Self {
            bytes: [0; LINE_PREFIX],
            len: 0,
        }
    }
}

impl LinePrefix {
    /// Keeps the content bytes of `run` while there is room.
    fn extend(&mut self, run: &[u8]) {
        for &byte in run {
            if self.len == LINE_PREFIX {
                break;
            }
            if byte != b'\r' {
                self.bytes[self.len] = byte;
                self.len += 1;
            }
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Where a head's bytes took it.
enum Step {
    /// The head ended with the byte before this offset.
    Ended(usize),
    /// The head went past [`MAX_HEAD_BYTES`] at this offset.
    TooLarge(usize),
    /// The head's field past [`MAX_HEADER_FIELDS`] starts at this offset (or began in an
    /// earlier read, at 0).
    TooManyFields(usize),
    /// Every byte belongs to the head, which goes on.
    More,
}

impl Head {
    /// Follows `bytes`, which continue this head (its first byte is not a leading empty line),
    /// a line at a time.
    fn follow(&mut self, bytes: &[u8]) -> Step {
        let mut at = 0;
        loop {
            let line_start = at;
            let rest = &bytes[at..];
            let newline = memchr::memchr(b'\n', rest);
            let run = &rest[..newline.unwrap_or(rest.len())];
            // A head that fills the cap before the `\n` that would end it can never end within
            // it: refused where its bytes run out of room, without waiting for another byte.
            let room = MAX_HEAD_BYTES - self.len;
            if run.len() >= room {
                return Step::TooLarge(at + room);
            }
            self.len += run.len();
            // A `\r` goes towards a line ending (`\n\r`); any other byte is content.
            if run.iter().any(|&b| b != b'\r') {
                self.after_newline = 0;
            } else if self.after_newline == 1 {
                self.after_newline = 2;
            }
            let Some(newline) = newline else {
                self.line.extend(run);
                return Step::More;
            };
            self.len += 1;
            at += newline + 1;
            if self.after_newline > 0 {
                return Step::Ended(at);
            }
            // A line read whole with no `\r` but its last byte is its own content: read in place.
            let whole = run.strip_suffix(b"\r").unwrap_or(run);
            if self.line.len == 0 && memchr::memchr(b'\r', whole).is_none() {
                self.facts.note_line(whole);
            } else {
                self.line.extend(run);
                self.facts.note_line(self.line.as_slice());
                self.line = LinePrefix::default();
            }
            if self.facts.fields > MAX_HEADER_FIELDS {
                // Cut where the field's line starts in these bytes: actix's parser, given all of
                // it, would answer its own bare 431 before this one.
                return Step::TooManyFields(line_start);
            }
            self.after_newline = 1;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line: the size so far, its digit count, and whether an extension began.
    Size {
        size: u64,
        digits: u8,
        extension: bool,
    },
    /// `remaining` bytes of chunk data, then its line ending.
    Data(u64),
    DataEnd,
    /// Trailer lines after the last chunk; `line_start` when nothing of the line has come yet.
    Trailers {
        line_start: bool,
    },
}

impl Framing {
    /// Whether the next byte begins a request head (nothing of one has been read yet).
    pub fn at_head_start(&self) -> bool {
        matches!(&self.state, State::Head(head) if head.len == 0)
    }

    /// Follows `bytes`, the next bytes read from the connection, stopping where a head would
    /// start once it has completed `heads_allowed` heads (the rest is for later; the body of the
    /// last head allowed is followed).
    pub fn feed(&mut self, bytes: &[u8], heads_allowed: usize) -> Fed {
        let mut fed = Fed::default();
        let mut at = 0;
        while at < bytes.len() {
            if fed.heads >= heads_allowed && self.at_head_start() {
                break;
            }
            match &mut self.state {
                State::Untracked => break,
                State::Body(remaining) => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - at);
                    at += take;
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.state = State::Head(Head::default());
                    }
                }
                State::Chunked(Chunk::Data(remaining)) => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - at);
                    at += take;
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.state = State::Chunked(Chunk::DataEnd);
                    }
                }
                State::Chunked(chunk) => {
                    let byte = bytes[at];
                    at += 1;
                    if let Some(next) = chunk_byte(chunk, byte) {
                        self.state = next;
                    }
                }
                State::Head(head) => {
                    // Empty lines before a request line are ignored (RFC 9112, 2.2).
                    if head.len == 0 {
                        at += bytes[at..]
                            .iter()
                            .take_while(|&&b| b == b'\r' || b == b'\n')
                            .count();
                        if at == bytes.len() {
                            break;
                        }
                    }
                    match head.follow(&bytes[at..]) {
                        Step::Ended(taken) => {
                            at += taken;
                            fed.large_head |= head.len >= LARGE_HEAD_BYTES;
                            fed.heads += 1;
                            self.state = after_head(head);
                        }
                        Step::TooLarge(offset) => {
                            at += offset;
                            fed.too_large_at = Some(at);
                            self.state = State::Untracked;
                            break;
                        }
                        Step::TooManyFields(offset) => {
                            at += offset;
                            fed.too_large_at = Some(at);
                            fed.too_many_fields = true;
                            self.state = State::Untracked;
                            break;
                        }
                        Step::More => at = bytes.len(),
                    }
                }
            }
        }
        fed.consumed = if matches!(self.state, State::Untracked) && fed.too_large_at.is_none() {
            bytes.len()
        } else {
            at
        };
        fed
    }
}

impl Facts {
    /// A header line (or the request line) is complete, `line` its content bytes: note what
    /// framing it sets. Names and values are matched without regard to case.
    fn note_line(&mut self, line: &[u8]) {
        let truncated = line.len() >= LINE_PREFIX;
        let line = &line[..line.len().min(LINE_PREFIX)];
        if !self.request_line_done {
            self.request_line_done = true;
            self.untrackable |= line
                .get(..8)
                .is_some_and(|start| start.eq_ignore_ascii_case(b"connect "));
            return;
        }
        self.fields += 1;
        let Some(colon) = memchr::memchr(b':', line) else {
            return;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
            match (parsed, self.content_length) {
                (Some(n), None) if !truncated => self.content_length = Some(n),
                // Two lengths, or one it cannot read: actix refuses the request.
                _ => self.untrackable = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let chunked = value
                .len()
                .checked_sub(7)
                .is_some_and(|at| value[at..].eq_ignore_ascii_case(b"chunked"));
            if chunked && !truncated {
                self.chunked = true;
            } else {
                self.untrackable = true;
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.untrackable = true;
        }
    }
}

fn after_head(head: &Head) -> State {
    if head.facts.untrackable {
        State::Untracked
    } else if head.facts.chunked {
        State::Chunked(Chunk::Size {
            size: 0,
            digits: 0,
            extension: false,
        })
    } else {
        match head.facts.content_length {
            Some(n) if n > 0 => State::Body(n),
            _ => State::Head(Head::default()),
        }
    }
}

/// One byte of a chunked body outside chunk data; the next state when the state changes kind.
fn chunk_byte(chunk: &mut Chunk, byte: u8) -> Option<State> {
    match chunk {
        Chunk::Size {
            size,
            digits,
            extension,
        } => match byte {
            b'\n' if *digits == 0 => Some(State::Untracked),
            b'\n' if *size == 0 => {
                *chunk = Chunk::Trailers { line_start: true };
                None
            }
            b'\n' => {
                *chunk = Chunk::Data(*size);
                None
            }
            _ if *extension => None,
            b';' | b'\r' | b' ' | b'\t' => {
                *extension = true;
                None
            }
            _ => match char::from(byte).to_digit(16) {
                Some(d) if *digits < 15 => {
                    *size = *size * 16 + u64::from(d);
                    *digits += 1;
                    None
                }
                _ => Some(State::Untracked),
            },
        },
        Chunk::DataEnd => (byte == b'\n').then_some(State::Chunked(Chunk::Size {
            size: 0,
            digits: 0,
            extension: false,
        })),
        Chunk::Trailers { line_start } => match byte {
            b'\n' if *line_start => Some(State::Head(Head::default())),
            b'\n' => {
                *line_start = true;
                None
            }
            b'\r' => None,
            _ => {
                *line_start = false;
                None
            }
        },
        Chunk::Data(_) => unreachable!("chunk data is skipped in bulk"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` in pieces of `step` bytes and returns the first offset (in `bytes`) where a
    /// head went past the cap, and whether a large head was completed.
    fn feed_in(bytes: &[u8], step: usize) -> (Framing, Option<usize>, bool) {
        let mut framing = Framing::default();
        let (mut too_large, mut large) = (None, false);
        for (i, piece) in bytes.chunks(step).enumerate() {
            let fed = framing.feed(piece, usize::MAX);
            too_large = too_large.or(fed.too_large_at.map(|at| i * step + at));
            large |= fed.large_head;
            if too_large.is_none() {
                assert_eq!(fed.consumed, piece.len());
            }
        }
        (framing, too_large, large)
    }

    fn head_of(len: usize) -> Vec<u8> {
        let start = b"GET / HTTP/1.1\r\nHost: x\r\nx-pad: ";
        let mut head = start.to_vec();
        head.resize(len - 4, b'a');
        head.extend_from_slice(b"\r\n\r\n");
        head
    }

    #[test]
    fn a_head_at_the_cap_passes_and_one_byte_more_does_not() {
        for step in [1, 7, 4096, usize::MAX] {
            let (framing, too_large, large) = feed_in(&head_of(MAX_HEAD_BYTES), step);
            assert_eq!(too_large, None, "step {step}");
            assert!(large, "step {step}");
            assert_eq!(framing, Framing::default(), "ready for the next head");
            let (_, too_large, _) = feed_in(&head_of(MAX_HEAD_BYTES + 1), step);
            assert_eq!(too_large, Some(MAX_HEAD_BYTES), "step {step}");
        }
        // The caps as the module's documentation states them: 16 KiB refused, 8 KiB large.
        assert_eq!((MAX_HEAD_BYTES, LARGE_HEAD_BYTES), (16 * 1024, 8 * 1024));
        let (_, _, large) = feed_in(&head_of(LARGE_HEAD_BYTES - 1), 100);
        assert!(!large);
    }

    /// A head with `fields` header fields (`Host` and `x-h1`...), in a few hundred bytes.
    fn head_with_fields(fields: usize) -> Vec<u8> {
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for n in 1..fields {
            head.extend_from_slice(format!("x-h{n}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    #[test]
    fn a_head_with_the_most_fields_passes_and_one_more_is_refused_before_actix_holds_it() {
        for step in [1, 7, 4096, usize::MAX] {
            let (framing, too_large, _) = feed_in(&head_with_fields(MAX_HEADER_FIELDS), step);
            assert_eq!(too_large, None, "step {step}");
            assert_eq!(framing, Framing::default(), "ready for the next head");
            let head = head_with_fields(MAX_HEADER_FIELDS + 1);
            let (_, too_large, _) = feed_in(&head, step);
            // Cut where the 97th field's line starts, or where the piece that ends it starts
            // when the line began in an earlier one: actix never holds all 97 fields.
            let last_line = format!("x-h{MAX_HEADER_FIELDS}: v\r\n");
            let start = head.len() - 2 - last_line.len();
            let end = head.len() - 3;
            let piece_start = end / step.min(head.len()) * step.min(head.len());
            assert_eq!(too_large, Some(start.max(piece_start)), "step {step}");
        }
        let mut framing = Framing::default();
        let fed = framing.feed(&head_with_fields(MAX_HEADER_FIELDS + 1), usize::MAX);
        assert!(fed.too_many_fields, "{fed:?}");
        let fed = Framing::default().feed(&head_of(MAX_HEAD_BYTES + 1), usize::MAX);
        assert!(
            !fed.too_many_fields,
            "a long head is too large, not too many: {fed:?}"
        );
        // actix-http's own limit, which this one must not exceed.
        assert_eq!(MAX_HEADER_FIELDS, 96);
    }

    #[test]
    fn a_head_that_fills_the_cap_without_ending_is_refused_without_waiting_for_more() {
        let full = head_of(MAX_HEAD_BYTES + 1);
        // Every byte up to the cap, its last one not the `\n` that would end the head.
        let unfinished = &full[..MAX_HEAD_BYTES];
        let mut framing = Framing::default();
        let fed = framing.feed(unfinished, usize::MAX);
        assert_eq!(fed.too_large_at, Some(MAX_HEAD_BYTES), "{fed:?}");
        assert_eq!(fed.consumed, MAX_HEAD_BYTES);
        // One byte short of the cap, the head may still end.
        let mut framing = Framing::default();
        let fed = framing.feed(&unfinished[..MAX_HEAD_BYTES - 1], usize::MAX);
        assert_eq!(fed.too_large_at, None, "{fed:?}");
        let fed = framing.feed(b"\n", usize::MAX);
        assert_eq!((fed.heads, fed.too_large_at), (1, None), "{fed:?}");
    }

    #[test]
    fn bodies_are_skipped_so_every_pipelined_head_is_measured_from_its_start() {
        let body = vec![b'x'; 3 * MAX_HEAD_BYTES];
        let mut stream = format!(
            "POST /api/tasks HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        stream.extend_from_slice(&body);
        // A chunked body whose data would look like an endless head if it were not skipped.
        stream.extend_from_slice(
            b"POST /api/tasks HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n8000;ext=1\r\n",
        );
        stream.extend(std::iter::repeat_n(b'y', 0x8000));
        stream.extend_from_slice(b"\r\n0\r\nx-trailer: t\r\n\r\n");
        for _ in 0..3 {
            stream.extend_from_slice(&head_of(MAX_HEAD_BYTES));
        }
        for step in [1, 13, 1500, usize::MAX] {
            let (framing, too_large, _) = feed_in(&stream, step);
            assert_eq!(too_large, None, "step {step}");
            assert_eq!(framing, Framing::default(), "step {step}");
        }
        stream.extend_from_slice(&head_of(MAX_HEAD_BYTES + 100));
        let (_, too_large, _) = feed_in(&stream, 1000);
        assert_eq!(too_large, Some(stream.len() - 100));
    }

    #[test]
    fn chunk_sizes_data_and_trailers_are_followed_to_the_next_head() {
        // A 0x1f-byte chunk whose data looks like the end of a head, two trailer lines, then a GET.
        let data = b"0\r\n\r\nGET /x HTTP/1.1\r\n\r\n0123456";
        assert_eq!(data.len(), 0x1f);
        let mut stream = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1f\r\n".to_vec();
        stream.extend_from_slice(data);
        stream.extend_from_slice(b"\r\n0\r\na: 1\r\nb: 2\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        for step in [1, 5, 64, usize::MAX] {
            let mut framing = Framing::default();
            let heads: usize = stream
                .chunks(step.min(stream.len()))
                .map(|piece| framing.feed(piece, usize::MAX).heads)
                .sum();
            assert_eq!(heads, 2, "step {step}");
            assert_eq!(framing, Framing::default(), "step {step}");
        }
    }

    #[test]
    fn it_stops_after_the_heads_it_is_allowed_and_goes_on_from_there() {
        let one = b"GET / HTTP/1.1\r\n\r\n";
        let with_body = b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc";
        let mut stream = [&one[..], with_body, one, one].concat();
        let mut framing = Framing::default();
        let fed = framing.feed(&stream, 2);
        assert_eq!((fed.heads, fed.consumed), (2, one.len() + with_body.len()));
        stream.drain(..fed.consumed);
        let fed = framing.feed(&stream, 0);
        assert_eq!((fed.heads, fed.consumed), (0, 0));
        let fed = framing.feed(&stream, 5);
        assert_eq!((fed.heads, fed.consumed), (2, stream.len()));
        // After a head with an empty body, the next byte begins a head: reading can stop there.
        let empty_body = b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n";
        let mut framing = Framing::default();
        let fed = framing.feed(empty_body, 1);
        assert_eq!((fed.heads, fed.consumed), (1, empty_body.len()));
        assert!(framing.at_head_start());
        assert_eq!(framing.feed(one, 0).consumed, 0);
    }

    #[test]
    fn leading_empty_lines_and_bare_newlines_are_read_like_actix_reads_them() {
        let (framing, too_large, _) = feed_in(b"\r\n\r\nGET / HTTP/1.1\nHost: x\n\nGET /", 3);
        assert_eq!(too_large, None);
        let State::Head(head) = framing.state else {
            panic!("in the second head: {framing:?}");
        };
        assert_eq!(head.len, 5);
        // Empty lines are not a request of their own, and the request line after them is read as
        // the request line.
        let mut framing = Framing::default();
        let fed = framing.feed(b"\r\n\n\r\nCONNECT a:1 HTTP/1.1\r\n\r\n", usize::MAX);
        assert_eq!(fed.heads, 1, "{fed:?}");
        assert_eq!(framing.state, State::Untracked);
    }

    #[test]
    fn upgrades_connect_and_unreadable_framing_stop_the_tracking() {
        for head in [
            &b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"[..],
            b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n",
            b"POST / HTTP/1.1\r\ncontent-length: lots\r\n\r\n",
            b"POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n",
            // A chunk-size line with no digits, and one with more than 15.
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n\r\n",
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1000000000000000\r\n",
            // A length on a line too long to keep whole: not read from the part that was kept.
            b"POST / HTTP/1.1\r\ncontent-length: 00000000000000000000000000000000000000000000000005\r\n\r\n",
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked                                              \r\n\r\n",
        ] {
            let (framing, _, _) = feed_in(head, 5);
            assert_eq!(
                framing.state,
                State::Untracked,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
