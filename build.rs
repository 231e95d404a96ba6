//! Rebuilds the crate when the admin page's files change: they are embedded at compile time, and
//! a file added to `static/` would otherwise go unnoticed until some Rust file changed.

fn main() {
    println!("cargo:rerun-if-changed=static");
}
