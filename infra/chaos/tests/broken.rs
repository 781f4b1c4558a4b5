//! The run is only worth something if it fails when the product is wrong: here every
//! conditional write goes out without its condition (the local gateway's `unconditional`
//! switch, which no Lambda has), and the run must fail and say what broke.

use std::process::Command;

/// What dropping the conditions breaks first under this load: racing hires both succeed,
/// concurrent deliveries overwrite one inbox position, a retried create commits again.
const DOUBLED: [&str; 9] = [
    "audit: filled_hires",
    "audit: too_many_contracts",
    "audit: hired_count",
    "audit: inbox_positions",
    "audit: duplicate_notification",
    "hires:",
    "inbox_positions:",
    "notified_twice:",
    "unannounced:",
];

#[test]
fn a_product_without_its_conditions_fails_the_run_and_names_what_broke() {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        // 16 clients, so that its races are sure to meet; a broken product never settles
        // (its counts drift), and 20 s of waiting are enough to show it.
        .args(["--seconds", "40", "--seed", "11", "--clients", "16"])
        .args(["--settle", "20", "--break"])
        .output()
        .expect("the chaos binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        DOUBLED.iter().any(|d| stdout.contains(d)),
        "the run failed without naming a doubled effect:\n{stdout}"
    );
}
