//! `ec2-assume-role doctor` (docs/troubleshooting.md): each check with its fault injected, the
//! time it takes whatever is wrong, and nothing written.

mod doctor;
