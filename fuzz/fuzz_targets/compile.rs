//! Full compile, every target. Invariants: two compiles give identical
//! bytes and key; every diagnostic has a code and a span inside the
//! manifest; an accepted manifest's artifacts are exactly the targets'
//! fixed files, listed with their sha256 in index.json, as strict JSON;
//! they grant nothing outside the declared grants (`containment::check`);
//! and the manifest re-serialized in canonical JSON (other whitespace,
//! key order and escapes) compiles to the same key and bytes.
#![no_main]

use capgate_fuzz::{
    check_contained, check_deterministic, check_outputs, check_rewrite, check_spans, decode_compile_input,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(input) = decode_compile_input(data) else {
        return;
    };
    let src = &input.manifest;
    let first = capgate::compile(src, &input.options);
    let second = capgate::compile(src, &input.options);
    check_deterministic(&first, &second, src);
    match &first {
        Ok(c) => {
            check_spans("compile warning", &c.warnings, src.len(), src);
            check_outputs(c, &input.options);
            check_contained(c, src);
            check_rewrite(c, src, &input.options);
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "compile failed without a diagnostic");
            check_spans("compile error", diags, src.len(), src);
        }
    }
});
