//! `chatctl`: the operator's tool for a running chatd. The admin socket it talks to is
//! not built yet; this binary says so instead of pretending.

fn main() {
    eprintln!("chatctl: the admin socket is not available in this version of chatd yet");
    std::process::exit(2);
}
