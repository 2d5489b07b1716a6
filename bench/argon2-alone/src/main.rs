//! `argon2_alone PHC_HASH PASSWORD THREADS SECONDS`: checks PASSWORD against a hash
//! auth_ext stored (so with the parameters in use) on THREADS threads for SECONDS, and
//! prints the checks per second: what a password sign-in would cost if the hash were
//! all of it.
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHash, PasswordVerifier};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, hash, password, threads, seconds] = &args[..] else {
        eprintln!("usage: argon2_alone PHC_HASH PASSWORD THREADS SECONDS");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().expect("THREADS is a number");
    let seconds: f64 = seconds.parse().expect("SECONDS is a number");
    PasswordHash::new(hash).expect("a PHC hash string");
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let checks: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let parsed = PasswordHash::new(hash).expect("a PHC hash string");
                    let mut n = 0u64;
                    while Instant::now() < until {
                        Argon2::default().verify_password(password.as_bytes(), &parsed).expect("the password matches");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a worker")).sum()
    });
    println!("{:.1}", checks as f64 / started.elapsed().as_secs_f64());
}
