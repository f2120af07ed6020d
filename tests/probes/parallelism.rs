//! Prints Rust's `std::thread::available_parallelism()` (sched_getaffinity, then cgroups).
fn main() {
    match std::thread::available_parallelism() {
        Ok(n) => println!("available_parallelism={n}"),
        Err(e) => println!("available_parallelism=error {e}"),
    }
}
