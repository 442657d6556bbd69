//! The part of expr-lang (the language of Argo CD Notifications' `when` and `oncePer`) that the
//! deployment-record triggers use, evaluated over an Application as the engine sees it.
//!
//! No Rust crate evaluates expr-lang, and the triggers need little of it: member access (`?.`
//! too), `nil`, `and`/`or`/`!`, `==`/`!=`, `in [...]`, comparisons, `+` on strings and numbers,
//! and Argo CD's `time.Parse`/`time.Now` with the `time.Time` and `time.Duration` methods they
//! call. Anything else is a parse error, so a trigger that outgrows this subset fails the test
//! instead of being misread. As in the engine, a runtime error (a member of nil, a wrong type)
//! makes the condition false.

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Time(OffsetDateTime),
    Duration(Duration),
    /// `time`, or a method bound to its receiver, waiting for its call.
    Callable(Callable),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Callable {
    TimeModule,
    Function(&'static str),
    Method(Box<Value>, String),
}

impl Value {
    pub fn from_json(json: &serde_json::Value) -> Self {
        match json {
            serde_json::Value::Null => Self::Nil,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => Self::Num(n.as_f64().unwrap()),
            serde_json::Value::String(s) => Self::Str(s.clone()),
            serde_json::Value::Array(a) => Self::List(a.iter().map(Self::from_json).collect()),
            serde_json::Value::Object(o) => Self::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Go's `fmt.Sprintf("%v", v)` for the values a oncePer yields.
    pub fn to_go_string(&self) -> String {
        match self {
            Self::Nil => "<nil>".to_owned(),
            Self::Bool(b) => b.to_string(),
            Self::Num(n) => n.to_string(),
            Self::Str(s) => s.clone(),
            other => format!("{other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Num(f64),
    Str(String),
    Op(&'static str),
}

const OPERATORS: &[&str] = &[
    "?.", "==", "!=", ">=", "<=", "&&", "||", ">", "<", "!", "(", ")", "[", "]", ",", ".", "+", "-",
];

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if c == '\'' || c == '"' {
            let end = rest[1..]
                .find(c)
                .ok_or_else(|| format!("unterminated string in {src}"))?;
            tokens.push(Token::Str(rest[1..=end].to_owned()));
            rest = &rest[end + 2..];
        } else if c.is_ascii_digit() {
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            tokens.push(Token::Num(rest[..end].parse().map_err(|e| format!("{e}"))?));
            rest = &rest[end..];
        } else if c.is_alphabetic() || c == '_' {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            tokens.push(Token::Ident(rest[..end].to_owned()));
            rest = &rest[end..];
        } else {
            let op = OPERATORS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| format!("unsupported character {c:?} in {src}"))?;
            tokens.push(Token::Op(op));
            rest = &rest[op.len()..];
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone)]
pub enum Node {
    Literal(Value),
    Name(String),
    Member {
        of: Box<Node>,
        name: String,
        optional: bool,
    },
    Call(Box<Node>, Vec<Node>),
    List(Vec<Node>),
    Not(Box<Node>),
    Binary(&'static str, Box<Node>, Box<Node>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, op: &str) -> bool {
        let hit = matches!(self.peek(), Some(Token::Op(o)) if *o == op);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(format!("expected {op}, found {:?}", self.peek()))
        }
    }

    /// The binary operator at the cursor, normalised (`and` is `&&`), if it binds at `level`.
    fn binary_at(&self, level: u8) -> Option<&'static str> {
        let op = match self.peek()? {
            Token::Ident(w) if w == "or" => "||",
            Token::Ident(w) if w == "and" => "&&",
            Token::Ident(w) if w == "in" => "in",
            Token::Op(o) => o,
            Token::Ident(_) | Token::Num(_) | Token::Str(_) => return None,
        };
        let binds = match op {
            "||" => 1,
            "&&" => 2,
            "==" | "!=" | "<" | ">" | "<=" | ">=" | "in" => 3,
            "+" | "-" => 4,
            _ => return None,
        };
        (binds == level).then_some(op)
    }

    fn expression(&mut self, level: u8) -> Result<Node, String> {
        if level > 4 {
            return self.unary();
        }
        let mut left = self.expression(level + 1)?;
        while let Some(op) = self.binary_at(level) {
            self.at += 1;
            let right = self.expression(level + 1)?;
            left = Node::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        let not_word = matches!(self.peek(), Some(Token::Ident(w)) if w == "not");
        if not_word || self.eat("!") {
            self.at += usize::from(not_word);
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Node, String> {
        let mut node = self.primary()?;
        loop {
            if self.eat(".") || self.eat("?.") {
                let optional = matches!(&self.tokens[self.at - 1], Token::Op("?."));
                let Some(Token::Ident(name)) = self.next() else {
                    return Err("a member name must follow '.'".into());
                };
                node = Node::Member {
                    of: Box::new(node),
                    name,
                    optional,
                };
            } else if self.eat("(") {
                let args = self.list_until(")")?;
                node = Node::Call(Box::new(node), args);
            } else {
                return Ok(node);
            }
        }
    }

    fn list_until(&mut self, close: &str) -> Result<Vec<Node>, String> {
        let mut items = Vec::new();
        while !self.eat(close) {
            if !items.is_empty() {
                self.expect(",")?;
            }
            items.push(self.expression(1)?);
        }
        Ok(items)
    }

    fn primary(&mut self) -> Result<Node, String> {
        match self.next() {
            Some(Token::Num(n)) => Ok(Node::Literal(Value::Num(n))),
            Some(Token::Str(s)) => Ok(Node::Literal(Value::Str(s))),
            Some(Token::Ident(w)) => Ok(match w.as_str() {
                "nil" => Node::Literal(Value::Nil),
                "true" => Node::Literal(Value::Bool(true)),
                "false" => Node::Literal(Value::Bool(false)),
                _ => Node::Name(w),
            }),
            Some(Token::Op("(")) => {
                let inner = self.expression(1)?;
                self.expect(")")?;
                Ok(inner)
            }
            Some(Token::Op("[")) => Ok(Node::List(self.list_until("]")?)),
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

pub fn parse(src: &str) -> Result<Node, String> {
    let mut parser = Parser {
        tokens: tokenize(src)?,
        at: 0,
    };
    let node = parser.expression(1)?;
    if parser.at != parser.tokens.len() {
        return Err(format!("trailing input in {src}: {:?}", parser.peek()));
    }
    Ok(node)
}

/// What an expression sees: `app` (the Application) and Argo CD's `time` with a fixed now.
pub struct Env<'a> {
    pub app: &'a Value,
    pub now: OffsetDateTime,
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("expected a bool, got {other:?}")),
    }
}

pub fn eval(node: &Node, env: &Env<'_>) -> Result<Value, String> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::Name(name) => match name.as_str() {
            "app" => Ok(env.app.clone()),
            "time" => Ok(Value::Callable(Callable::TimeModule)),
            other => Err(format!("unknown name {other}")),
        },
        Node::List(items) => Ok(Value::List(
            items
                .iter()
                .map(|i| eval(i, env))
                .collect::<Result<_, _>>()?,
        )),
        Node::Not(inner) => Ok(Value::Bool(!boolean(&eval(inner, env)?)?)),
        Node::Member { of, name, optional } => match eval(of, env)? {
            Value::Map(map) => Ok(map.get(name).cloned().unwrap_or(Value::Nil)),
            Value::Nil if *optional => Ok(Value::Nil),
            Value::Nil => Err(format!("cannot fetch {name} from <nil>")),
            Value::Callable(Callable::TimeModule) => match name.as_str() {
                "Parse" => Ok(Value::Callable(Callable::Function("Parse"))),
                "Now" => Ok(Value::Callable(Callable::Function("Now"))),
                other => Err(format!("time.{other} is not offered")),
            },
            receiver @ (Value::Time(_) | Value::Duration(_)) => Ok(Value::Callable(
                Callable::Method(Box::new(receiver), name.clone()),
            )),
            other => Err(format!("cannot fetch {name} from {other:?}")),
        },
        Node::Call(callee, args) => {
            let args: Vec<Value> = args
                .iter()
                .map(|a| eval(a, env))
                .collect::<Result<_, _>>()?;
            match eval(callee, env)? {
                Value::Callable(Callable::Function(f)) => call_function(f, &args, env),
                Value::Callable(Callable::Method(receiver, name)) => {
                    call_method(&receiver, &name, &args)
                }
                other => Err(format!("{other:?} is not callable")),
            }
        }
        Node::Binary(op, left, right) => {
            let left = eval(left, env)?;
            // expr-lang short-circuits and/or.
            match (*op, &left) {
                ("&&", l) if !boolean(l)? => return Ok(Value::Bool(false)),
                ("||", l) if boolean(l)? => return Ok(Value::Bool(true)),
                ("&&" | "||", _) => return Ok(Value::Bool(boolean(&eval(right, env)?)?)),
                _ => {}
            }
            binary(op, &left, &eval(right, env)?)
        }
    }
}

fn call_function(name: &str, args: &[Value], env: &Env<'_>) -> Result<Value, String> {
    match (name, args) {
        // Argo CD: time.Parse(time.RFC3339, s), panicking (an error here) on anything else.
        ("Parse", [Value::Str(s)]) => OffsetDateTime::parse(s, &Rfc3339)
            .map(Value::Time)
            .map_err(|e| format!("time.Parse({s:?}): {e}")),
        ("Now", []) => Ok(Value::Time(env.now)),
        _ => Err(format!("time.{name}{args:?}: wrong arguments")),
    }
}

fn call_method(receiver: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    match (receiver, name, args) {
        (Value::Time(t), "Before", [Value::Time(u)]) => Ok(Value::Bool(t < u)),
        (Value::Time(t), "After", [Value::Time(u)]) => Ok(Value::Bool(t > u)),
        (Value::Time(t), "Sub", [Value::Time(u)]) => Ok(Value::Duration(*t - *u)),
        #[allow(clippy::cast_precision_loss)]
        (Value::Time(t), "Unix", []) => Ok(Value::Num(t.unix_timestamp() as f64)),
        (Value::Duration(d), "Minutes", []) => Ok(Value::Num(d.as_seconds_f64() / 60.0)),
        (Value::Duration(d), "Seconds", []) => Ok(Value::Num(d.as_seconds_f64())),
        _ => Err(format!("{receiver:?}.{name}{args:?} is not offered")),
    }
}

fn binary(op: &str, l: &Value, r: &Value) -> Result<Value, String> {
    let number = |v: &Value| match v {
        Value::Num(n) => Ok(*n),
        other => Err(format!("{op}: expected a number, got {other:?}")),
    };
    Ok(match op {
        "==" => Value::Bool(l == r),
        "!=" => Value::Bool(l != r),
        "in" => match r {
            Value::List(items) => Value::Bool(items.contains(l)),
            other => return Err(format!("in: expected a list, got {other:?}")),
        },
        "+" => match (l, r) {
            (Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
            _ => Value::Num(number(l)? + number(r)?),
        },
        "-" => Value::Num(number(l)? - number(r)?),
        "<" => Value::Bool(number(l)? < number(r)?),
        ">" => Value::Bool(number(l)? > number(r)?),
        "<=" => Value::Bool(number(l)? <= number(r)?),
        ">=" => Value::Bool(number(l)? >= number(r)?),
        other => return Err(format!("operator {other} is not offered")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, app: &serde_json::Value) -> Result<Value, String> {
        let app = Value::from_json(app);
        let now = OffsetDateTime::parse("2026-11-23T10:05:00Z", &Rfc3339).unwrap();
        eval(&parse(src)?, &Env { app: &app, now })
    }

    #[test]
    fn the_operators_the_triggers_use_behave_as_in_expr_lang() {
        let app = serde_json::json!({"status": {"phase": "Failed", "at": "2026-11-23T10:00:00Z"}});
        let yes = |src: &str| run(src, &app) == Ok(Value::Bool(true));
        assert!(yes(
            "app.status != nil and app.status.phase in ['Error', 'Failed']"
        ));
        assert!(yes(
            "not (app.missing != nil) && !(app.status.phase == \"Succeeded\")"
        ));
        assert!(yes("app.missing?.deeper == nil"));
        assert!(yes(
            "app.status.phase + ' ' + 'x' == 'Failed x' and 1 + 1 >= 2"
        ));
        assert!(yes(
            "time.Now().Sub(time.Parse(app.status.at)).Minutes() >= 5 or app.nothing.at"
        ));
        assert!(yes(
            "!time.Parse(app.status.at).Before(time.Parse('2026-11-23T10:00:00Z'))"
        ));
        // A member of nil without ?. is an error, which the engine reads as false.
        assert!(run("app.missing.deeper == nil", &app).is_err());
        assert!(run("time.Parse(app.missing)", &app).is_err());
        // Outside the subset: a parse error, not a guess.
        assert!(parse("app.status.phase matches 'F.*'").is_err());
        assert!(parse("len(app.status) > 0 ? 1 : 2").is_err());
    }
}
