//! Lists a tree with Rust's `std::fs::read_dir` (which reads through `readdir64`), one path
//! a line, in the order the directory streams give them.
use std::path::Path;

fn walk(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        println!("{}", path.display());
        if path.is_dir() && !path.is_symlink() {
            walk(&path);
        }
    }
}

fn main() {
    let root = std::env::args().nth(1).expect("usage: read_dir DIR");
    walk(Path::new(&root));
}
