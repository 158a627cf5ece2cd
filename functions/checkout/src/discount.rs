//! The new-user discount decision: this function's domain, pure. Who gets the discount is
//! decided here from data we trust (the ucc signup stored, the billing records the webhook
//! verified, Cello's own answer), never from the browser.
//!
//! 1. No stored referral code → none (`no_referral`).
//! 2. A paid invoice, a subscription that is not over, or a completed checkout recorded for the
//!    customer → none (`already_subscribed`): a discount counts only at the first subscription.
//! 3. Cello's API configured: its New User Reward answer decides. Not eligible → none
//!    (`not_eligible_at_cello`); eligible → the configured coupon for that reward
//!    (`cello_reward`), or none when no coupon gives it (`no_coupon_for_reward`).
//!    Cello unreachable → the configured fallback: the default coupon
//!    (`cello_unreachable_fallback`) or none (`cello_unreachable`).
//! 4. Cello's API not configured → the default coupon (`referred_new_user`).

use serde::{Deserialize, Serialize};

/// The discount a session starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    /// The Stripe coupon id.
    pub coupon: String,
    pub percent_off: u32,
    pub months: u32,
}

/// Why the decision is what it is; the answer's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Granted: a referred new user, Cello's API not configured.
    ReferredNewUser,
    /// Granted: Cello says eligible and a configured coupon gives its reward.
    CelloReward,
    /// Granted: Cello could not be asked and the fallback grants.
    CelloUnreachableFallback,
    NoReferral,
    AlreadySubscribed,
    NotEligibleAtCello,
    /// Cello's reward has no configured coupon (`CHECKOUT_COUPONS`).
    NoCouponForReward,
    /// Cello could not be asked and the fallback denies.
    CelloUnreachable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReferredNewUser => "referred_new_user",
            Self::CelloReward => "cello_reward",
            Self::CelloUnreachableFallback => "cello_unreachable_fallback",
            Self::NoReferral => "no_referral",
            Self::AlreadySubscribed => "already_subscribed",
            Self::NotEligibleAtCello => "not_eligible_at_cello",
            Self::NoCouponForReward => "no_coupon_for_reward",
            Self::CelloUnreachable => "cello_unreachable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub discount: Option<Discount>,
    pub reason: Reason,
}

impl Decision {
    fn none(reason: Reason) -> Self {
        Self {
            discount: None,
            reason,
        }
    }
}

/// One entry of `CHECKOUT_COUPONS`: a reward (percent off for so many months) and the coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRule {
    pub percent_off: u32,
    pub months: u32,
    pub coupon: String,
}

impl CouponRule {
    fn discount(&self) -> Discount {
        Discount {
            coupon: self.coupon.clone(),
            percent_off: self.percent_off,
            months: self.months,
        }
    }
}

/// What happens when Cello's API is configured but can't be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Grant,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountPolicy {
    /// Never empty; the first is the default discount.
    pub coupons: Vec<CouponRule>,
    pub fallback: Fallback,
}

impl DiscountPolicy {
    fn default_discount(&self) -> Option<Discount> {
        self.coupons.first().map(CouponRule::discount)
    }
}

/// What our own records say about the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub has_ucc: bool,
    pub paid_invoices: usize,
    /// A subscription whose status is not over (`canceled`, `incomplete_expired`).
    pub live_subscriptions: usize,
    /// Checkout Sessions the webhook recorded as completed.
    pub completed_checkouts: usize,
}

/// Cello's New User Reward answer, as far as the decision reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct CelloReward {
    pub eligible: bool,
    /// `reward.type`; only `discount` (or absent) rewards become coupons.
    pub kind: Option<String>,
    pub percentage: Option<f64>,
    /// `reward.interval` (`month`, `year`) and `intervalCount`.
    pub interval: Option<String>,
    pub interval_count: Option<u32>,
}

/// What asking Cello gave.
#[derive(Debug, Clone, PartialEq)]
pub enum CelloView {
    NotConfigured,
    Answered(CelloReward),
    Unreachable,
}

/// Step 1 and 2: a reason to refuse from our own records, before anyone asks Cello.
pub fn refused_by_records(facts: &Facts) -> Option<Reason> {
    if !facts.has_ucc {
        Some(Reason::NoReferral)
    } else if facts.paid_invoices > 0
        || facts.live_subscriptions > 0
        || facts.completed_checkouts > 0
    {
        Some(Reason::AlreadySubscribed)
    } else {
        None
    }
}

/// The whole decision. `cello` is only consulted when the records allow a discount.
pub fn decide(facts: &Facts, cello: &CelloView, policy: &DiscountPolicy) -> Decision {
    if let Some(reason) = refused_by_records(facts) {
        return Decision::none(reason);
    }
    match cello {
        CelloView::NotConfigured => Decision {
            discount: policy.default_discount(),
            reason: Reason::ReferredNewUser,
        },
        CelloView::Unreachable => match policy.fallback {
            Fallback::Grant => Decision {
                discount: policy.default_discount(),
                reason: Reason::CelloUnreachableFallback,
            },
            Fallback::Deny => Decision::none(Reason::CelloUnreachable),
        },
        CelloView::Answered(reward) if !reward.eligible => {
            Decision::none(Reason::NotEligibleAtCello)
        }
        CelloView::Answered(reward) => match coupon_for(reward, policy) {
            Some(discount) => Decision {
                discount: Some(discount),
                reason: Reason::CelloReward,
            },
            None => Decision::none(Reason::NoCouponForReward),
        },
    }
}

/// The configured coupon that gives Cello's reward. Eligible without a reward spelled out:
/// the default coupon.
fn coupon_for(reward: &CelloReward, policy: &DiscountPolicy) -> Option<Discount> {
    if reward.percentage.is_none() && reward.kind.is_none() {
        return policy.default_discount();
    }
    if reward.kind.as_deref().is_some_and(|k| k != "discount") {
        return None;
    }
    let percent = reward.percentage?;
    let count = reward.interval_count.unwrap_or(1);
    let months = match reward.interval.as_deref() {
        None | Some("month") => count,
        Some("year") => count.checked_mul(12)?,
        Some(_) => return None,
    };
    policy
        .coupons
        .iter()
        .find(|c| f64::from(c.percent_off) == percent && c.months == months)
        .map(CouponRule::discount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(fallback: Fallback) -> DiscountPolicy {
        DiscountPolicy {
            coupons: vec![
                CouponRule {
                    percent_off: 50,
                    months: 3,
                    coupon: "c50x3".into(),
                },
                CouponRule {
                    percent_off: 20,
                    months: 12,
                    coupon: "c20x12".into(),
                },
            ],
            fallback,
        }
    }

    fn referred() -> Facts {
        Facts {
            has_ucc: true,
            ..Facts::default()
        }
    }

    fn reward(eligible: bool, pct: Option<f64>, interval: &str, count: u32) -> CelloView {
        CelloView::Answered(CelloReward {
            eligible,
            kind: pct.map(|_| "discount".into()),
            percentage: pct,
            interval: Some(interval.into()),
            interval_count: Some(count),
        })
    }

    fn coupon(d: &Decision) -> Option<&str> {
        d.discount.as_ref().map(|d| d.coupon.as_str())
    }

    #[test]
    fn our_records_refuse_before_cello_is_asked() {
        let p = policy(Fallback::Grant);
        let d = decide(&Facts::default(), &reward(true, Some(50.0), "month", 3), &p);
        assert_eq!((coupon(&d), d.reason), (None, Reason::NoReferral));
        for facts in [
            Facts {
                paid_invoices: 1,
                ..referred()
            },
            Facts {
                live_subscriptions: 1,
                ..referred()
            },
            Facts {
                completed_checkouts: 1,
                ..referred()
            },
        ] {
            let d = decide(&facts, &reward(true, Some(50.0), "month", 3), &p);
            assert_eq!((coupon(&d), d.reason), (None, Reason::AlreadySubscribed));
        }
        assert_eq!(refused_by_records(&referred()), None);
    }

    #[test]
    fn cello_decides_and_picks_the_coupon() {
        let p = policy(Fallback::Grant);
        let d = decide(&referred(), &reward(true, Some(50.0), "month", 3), &p);
        assert_eq!((coupon(&d), d.reason), (Some("c50x3"), Reason::CelloReward));
        assert_eq!(
            d.discount,
            Some(Discount {
                coupon: "c50x3".into(),
                percent_off: 50,
                months: 3
            })
        );
        let d = decide(&referred(), &reward(true, Some(20.0), "year", 1), &p);
        assert_eq!(coupon(&d), Some("c20x12"));
        let d = decide(&referred(), &reward(false, Some(50.0), "month", 3), &p);
        assert_eq!((coupon(&d), d.reason), (None, Reason::NotEligibleAtCello));
        let d = decide(&referred(), &reward(true, Some(30.0), "month", 3), &p);
        assert_eq!((coupon(&d), d.reason), (None, Reason::NoCouponForReward));
        let d = decide(&referred(), &reward(true, Some(50.0), "week", 3), &p);
        assert_eq!(d.reason, Reason::NoCouponForReward);
        let credits = CelloView::Answered(CelloReward {
            eligible: true,
            kind: Some("credits".into()),
            percentage: None,
            interval: None,
            interval_count: None,
        });
        assert_eq!(
            decide(&referred(), &credits, &p).reason,
            Reason::NoCouponForReward
        );
        let bare = CelloView::Answered(CelloReward {
            eligible: true,
            kind: None,
            percentage: None,
            interval: None,
            interval_count: None,
        });
        assert_eq!(coupon(&decide(&referred(), &bare, &p)), Some("c50x3"));
    }

    #[test]
    fn without_cello_the_default_and_when_unreachable_the_fallback() {
        let d = decide(
            &referred(),
            &CelloView::NotConfigured,
            &policy(Fallback::Deny),
        );
        assert_eq!(
            (coupon(&d), d.reason),
            (Some("c50x3"), Reason::ReferredNewUser)
        );
        let d = decide(
            &referred(),
            &CelloView::Unreachable,
            &policy(Fallback::Grant),
        );
        assert_eq!(
            (coupon(&d), d.reason),
            (Some("c50x3"), Reason::CelloUnreachableFallback)
        );
        let d = decide(
            &referred(),
            &CelloView::Unreachable,
            &policy(Fallback::Deny),
        );
        assert_eq!((coupon(&d), d.reason), (None, Reason::CelloUnreachable));
    }

    #[test]
    fn reasons_serialise_as_documented() {
        for r in [
            Reason::ReferredNewUser,
            Reason::CelloReward,
            Reason::CelloUnreachableFallback,
            Reason::NoReferral,
            Reason::AlreadySubscribed,
            Reason::NotEligibleAtCello,
            Reason::NoCouponForReward,
            Reason::CelloUnreachable,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
