//! Which replica polls a scope: rendezvous (highest random weight) hashing over the live
//! members. Every member computes the same owner from the same member list, each scope has
//! exactly one owner, and when a member leaves only its own scopes move (to the member that
//! was second for each), while a member that joins takes only the scopes it now wins.
//! Pure: no IO, no clock.

use sha2::{Digest, Sha256};

/// The weight of `member` for `scope`: the first 8 bytes of SHA-256 over both, separated so
/// that ("ab", "c") and ("a", "bc") differ.
fn weight(member: &str, scope: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(member.as_bytes());
    h.update([0u8]);
    h.update(scope.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// The member that owns `scope`, or `None` when there are no members. Ties (equal weights,
/// practically never) go to the smaller member name, so the answer never depends on order.
pub fn owner<'a, S: AsRef<str>>(scope: &str, members: &'a [S]) -> Option<&'a str> {
    members.iter().map(|m| m.as_ref()).max_by(|a, b| {
        weight(a, scope)
            .cmp(&weight(b, scope))
            .then_with(|| b.cmp(a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(n: usize) -> Vec<String> {
        (0..n)
            .flat_map(|i| {
                ["us-east-1", "eu-west-1"]
                    .map(|r| format!("aws/{:012}/{r}", 100_000_000_000u64 + i as u64))
            })
            .collect()
    }

    #[test]
    fn every_scope_has_one_owner_whatever_the_order() {
        let members = ["replica-a", "replica-b", "replica-c"];
        let reversed = ["replica-c", "replica-b", "replica-a"];
        for s in scopes(200) {
            let o = owner(&s, &members).expect("an owner");
            assert_eq!(Some(o), owner(&s, &reversed), "{s}");
        }
        assert_eq!(owner::<&str>("aws/1/us-east-1", &[]), None);
    }

    #[test]
    fn the_load_is_spread_and_a_leaving_member_moves_only_its_scopes() {
        let all = scopes(200);
        let three = ["replica-a", "replica-b", "replica-c"];
        let two = ["replica-a", "replica-c"];
        let mut per = [0usize; 3];
        let mut moved = 0;
        for s in &all {
            let before = owner(s, &three).expect("owner");
            let i = three.iter().position(|m| *m == before).expect("member");
            per[i] += 1;
            let after = owner(s, &two).expect("owner");
            if before == "replica-b" {
                moved += 1;
                assert_ne!(after, "replica-b");
            } else {
                assert_eq!(before, after, "{s} moved though its owner stayed");
            }
        }
        assert_eq!(moved, per[1]);
        // 400 scopes over 3: each gets a fair share (expected 133; binomial sd ≈ 9.4).
        for n in per {
            assert!((90..=180).contains(&n), "{per:?}");
        }
        // A member that joins takes only scopes it now wins.
        let four = ["replica-a", "replica-b", "replica-c", "replica-d"];
        for s in &all {
            let after = owner(s, &four).expect("owner");
            if after != "replica-d" {
                assert_eq!(Some(after), owner(s, &three), "{s}");
            }
        }
    }
}
