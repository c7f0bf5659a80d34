//! Library compile of a 20-capability manifest (goal: <= 50 µs).
//! Run: `cargo bench --bench compile`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const MANIFEST: &[u8] = include_bytes!("fixtures/twenty.json");

fn options() -> capgate::Options {
    let mut o = capgate::Options::default();
    o.params.insert("PKG".into(), "/opt/mcp/bench-server".into());
    o
}

fn bench(c: &mut Criterion) {
    let opts = options();
    let out = capgate::compile(MANIFEST, &opts).expect("fixture compiles");
    assert_eq!(out.policy.grants.len(), 20, "the fixture has 20 capabilities");
    c.bench_function("compile_20_caps_all_targets", |b| {
        b.iter(|| capgate::compile(black_box(MANIFEST), black_box(&opts)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
