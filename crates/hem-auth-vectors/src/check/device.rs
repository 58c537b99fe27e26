//! Runners of the device role's kinds (pending: the role has not landed on main yet).

use super::Verdict;
use crate::report::Outcome;
use crate::schema::Case;

fn awaiting_role() -> Verdict {
    Ok(Outcome::Skipped {
        reason: "the device role is not in hem-auth-core yet".into(),
    })
}

pub(super) fn ext_token(_case: &Case) -> Verdict {
    awaiting_role()
}

pub(super) fn ext_validate(_case: &Case) -> Verdict {
    awaiting_role()
}

pub(super) fn login(_case: &Case) -> Verdict {
    awaiting_role()
}

pub(super) fn access_token(_case: &Case) -> Verdict {
    awaiting_role()
}
