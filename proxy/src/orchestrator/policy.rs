//! A virtual bucket's placement policy over its backends' labels, and the choice of the backends
//! that hold an object's copies. Pure functions over names and labels: placement of new
//! objects, replication, rebalance and drain all pick through [`pick`], so every way a copy is
//! made honours the same rules, and a set of copies that cannot satisfy them is refused rather
//! than placed wrongly.
//!
//! The rules: every copy's backend carries the `require` labels; the copies differ on every
//! `distinct` key (a backend without the label counts as the empty value, so two such backends
//! clash); at least one copy carries all the `require_one` labels.

use std::collections::BTreeMap;

/// Labels of one backend.
pub type Labels = BTreeMap<String, String>;

/// The rules a bucket states over the labels of the backends holding an object's copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Copies of each object.
    pub factor: usize,
    /// Label keys the copies must all differ on.
    pub distinct: Vec<String>,
    /// Labels every copy's backend must carry.
    pub require: Labels,
    /// Labels at least one copy's backend must carry.
    pub require_one: Labels,
}

/// Most sets [`pick`] examines before it gives up (a bound for pathological configurations;
/// real ones have a handful of backends and a factor of two or three).
const SEARCH_BUDGET: usize = 100_000;

fn carries(labels: &Labels, wanted: &Labels) -> bool {
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl Policy {
    /// Whether the policy states any rule beyond the number of copies.
    pub fn has_rules(&self) -> bool {
        !(self.distinct.is_empty() && self.require.is_empty() && self.require_one.is_empty())
    }

    /// Whether a backend with `labels` may hold a copy at all.
    pub fn admits(&self, labels: &Labels) -> bool {
        carries(labels, &self.require)
    }

    /// Whether `a` and `b` may both hold copies of one object.
    fn compatible(&self, a: &Labels, b: &Labels) -> bool {
        self.distinct.iter().all(|k| a.get(k) != b.get(k))
    }

    /// Why copies on backends with these labels break the policy (`None`: they keep it). Used
    /// to audit existing copies; a set smaller than the factor is judged on what it holds,
    /// except that `require_one` must hold once the set is complete.
    pub fn violation(&self, copies: &[&Labels]) -> Option<String> {
        for (i, a) in copies.iter().enumerate() {
            if !self.admits(a) {
                return Some(format!("a copy lacks the required labels {:?}", self.require));
            }
            for b in &copies[i + 1..] {
                if !self.compatible(a, b) {
                    return Some(format!("two copies share a value of {:?}", self.distinct));
                }
            }
        }
        let complete = copies.len() >= self.factor;
        if complete && !self.require_one.is_empty() && !copies.iter().any(|l| carries(l, &self.require_one)) {
            return Some(format!("no copy carries {:?}", self.require_one));
        }
        None
    }
}

/// Chooses backends for the copies of one object: `keep` are the backends that hold copies
/// already (kept as they are), `candidates` the eligible others in order of preference (each with
/// its labels). Returns the `want - keep.len()` candidates to add, earliest-preferred first, such
/// that `keep` plus them keeps `policy`; when no such set exists, the largest set of at least
/// `at_least` additions that keeps `require` and `distinct` (and `require_one` if it can);
/// `None` when not even that exists.
pub fn pick<'a>(
    policy: &Policy,
    keep: &[&Labels],
    candidates: &[(&'a str, &Labels)],
    want: usize,
    at_least: usize,
) -> Option<Vec<&'a str>> {
    let need = want.saturating_sub(keep.len());
    let usable: Vec<&(&str, &Labels)> = candidates
        .iter()
        .filter(|(_, l)| policy.admits(l) && keep.iter().all(|k| policy.compatible(k, l)))
        .collect();
    let has_one = keep.iter().any(|l| carries(l, &policy.require_one));
    let mut budget = SEARCH_BUDGET;
    let wants_one = !policy.require_one.is_empty() && !has_one;
    for n in (at_least.min(need)..=need).rev() {
        // A complete set must carry require_one; with fewer copies than wanted it is kept when
        // it can be and waived when it cannot (the replicator completes the set later).
        let tries: &[bool] = if n == need { &[true] } else { &[true, false] };
        for &strict in tries {
            let mut chosen = Vec::with_capacity(n);
            if search(policy, &usable, 0, n, strict && wants_one, &mut chosen, &mut budget) {
                return Some(chosen.iter().map(|&i| usable[i].0).collect());
            }
        }
    }
    None
}

/// Depth-first search for `n` more indexes into `usable` from `from` on, pairwise compatible,
/// one of them carrying `require_one` when `need_one`. Preference order is kept: the first set
/// found is the earliest in lexicographic order.
fn search(
    policy: &Policy,
    usable: &[&(&str, &Labels)],
    from: usize,
    n: usize,
    need_one: bool,
    chosen: &mut Vec<usize>,
    budget: &mut usize,
) -> bool {
    if n == 0 {
        return !need_one;
    }
    for i in from..usable.len() {
        if *budget == 0 || usable.len() - i < n {
            return false;
        }
        *budget -= 1;
        let labels = usable[i].1;
        if chosen.iter().any(|&c| !policy.compatible(usable[c].1, labels)) {
            continue;
        }
        let still_need = need_one && !carries(labels, &policy.require_one);
        // The last slot must satisfy require_one if nothing else did.
        if n == 1 && still_need {
            continue;
        }
        chosen.push(i);
        if search(policy, usable, i + 1, n - 1, still_need, chosen, budget) {
            return true;
        }
        chosen.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn policy(factor: usize, distinct: &[&str], require: &[(&str, &str)], one: &[(&str, &str)]) -> Policy {
        Policy {
            factor,
            distinct: distinct.iter().map(|s| s.to_string()).collect(),
            require: labels(require),
            require_one: labels(one),
        }
    }

    #[test]
    fn distinct_providers_skip_a_second_copy_at_the_same_provider() {
        let (b2a, b2b, r2) = (
            labels(&[("provider", "b2")]),
            labels(&[("provider", "b2")]),
            labels(&[("provider", "r2")]),
        );
        let c = [("b2-a", &b2a), ("b2-b", &b2b), ("r2-a", &r2)];
        let p = policy(2, &["provider"], &[], &[]);
        assert_eq!(pick(&p, &[], &c, 2, 2), Some(vec!["b2-a", "r2-a"]));
        // Keeping a copy at b2, the one to add must be at r2.
        assert_eq!(pick(&p, &[&b2b], &c[..2], 2, 1), None);
        assert_eq!(pick(&p, &[&b2b], &c, 2, 1), Some(vec!["r2-a"]));
        // Three copies on two providers cannot be; two can, and are offered when allowed.
        assert_eq!(pick(&p, &[], &c, 3, 3), None);
        assert_eq!(pick(&p, &[], &c, 3, 1), Some(vec!["b2-a", "r2-a"]));
    }

    #[test]
    fn required_labels_filter_and_require_one_is_met_by_some_copy() {
        let (eu_local, eu_off, us_off) = (
            labels(&[("region", "eu"), ("site", "local")]),
            labels(&[("region", "eu"), ("site", "offsite")]),
            labels(&[("region", "us"), ("site", "offsite")]),
        );
        let c = [("us-off", &us_off), ("eu-off", &eu_off), ("eu-local", &eu_local)];
        let p = policy(2, &[], &[("region", "eu")], &[("site", "local")]);
        assert_eq!(pick(&p, &[], &c, 2, 2), Some(vec!["eu-off", "eu-local"]));
        let p1 = policy(1, &[], &[], &[("site", "local")]);
        assert_eq!(pick(&p1, &[], &c, 1, 1), Some(vec!["eu-local"]));
        // Without a local backend a complete set is impossible; a partial one is offered.
        assert_eq!(pick(&p, &[], &c[..2], 2, 2), None);
        assert_eq!(pick(&p, &[], &c[..2], 2, 1), Some(vec!["eu-off"]));
        assert!(p.violation(&[&eu_off, &us_off]).is_some());
        assert!(p.violation(&[&eu_off, &eu_local]).is_none());
        assert!(
            p.violation(&[&eu_off]).is_none(),
            "incomplete sets are judged on what they hold"
        );
    }

    #[test]
    fn missing_labels_clash_with_each_other_and_preference_order_is_kept() {
        let (none_a, none_b, x) = (labels(&[]), labels(&[]), labels(&[("provider", "x")]));
        let c = [("a", &none_a), ("b", &none_b), ("c", &x)];
        let p = policy(2, &["provider"], &[], &[]);
        assert_eq!(pick(&p, &[], &c, 2, 2), Some(vec!["a", "c"]));
        let plain = policy(2, &[], &[], &[]);
        assert_eq!(pick(&plain, &[], &c, 2, 2), Some(vec!["a", "b"]));
        assert_eq!(pick(&plain, &[&x], &c, 2, 1), Some(vec!["a"]));
        assert_eq!(pick(&plain, &[&x, &x], &c, 2, 0), Some(vec![]));
    }

    #[test]
    fn the_search_is_bounded() {
        // 40 backends all at one provider, 3 distinct copies wanted: no answer, quickly.
        let same = labels(&[("provider", "p")]);
        let names: Vec<String> = (0..40).map(|i| format!("b{i}")).collect();
        let c: Vec<(&str, &Labels)> = names.iter().map(|n| (n.as_str(), &same)).collect();
        let p = policy(3, &["provider"], &[], &[]);
        assert_eq!(pick(&p, &[], &c, 3, 3), None);
    }
}
