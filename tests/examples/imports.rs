//! Prints api-app's import drawing (Graphviz DOT):
//! `cargo run -q -p integration-tests --example imports > api-app/imports.dot`.
#![allow(clippy::print_stdout)]

fn main() {
    let graph = integration_tests::imports::graph("api-app/src");
    print!("{}", integration_tests::imports::dot("api-app", &graph));
}
