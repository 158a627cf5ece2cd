//! Tolerant reading of a verified Stripe event. Stripe sends each event in the API version of
//! the endpoint or account, so fields come and go between versions and an expandable field is
//! an id in one delivery and an object in another. Every leaf here accepts any JSON: a value of
//! the expected type is read, anything else (absent, null, another type) reads as `None`.
//! Unknown fields are skipped without being built, and strings are borrowed from the body,
//! which keeps a 5 KB event cheap to read.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use std::borrow::Cow;
use std::fmt;

/// The envelope every Stripe event shares, with its `data.object`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    pub kind: Text<'a>,
    pub created: Int,
    pub livemode: Flag,
    #[serde(borrow)]
    pub api_version: Text<'a>,
    #[serde(borrow)]
    pub data: Maybe<EventData<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventData<'a> {
    /// Boxed: the object is most of the event's size, and unboxed it was moved by value
    /// through each layer of the parse (memmove 5 % of a `perf record` of it).
    #[serde(borrow)]
    pub object: Maybe<Box<Object<'a>>>,
}

impl<'a> Event<'a> {
    /// Parses the body. Only text that is not a JSON object at all is refused.
    ///
    /// The body is checked as UTF-8 once, then read as text: from bytes, serde_json validates
    /// every key and string it reads on its own, about a fifth of this parse for a 5 KB event
    /// (measured: benches/verify_parse.rs). JSON is UTF-8, so nothing readable is refused.
    pub fn parse(body: &'a [u8]) -> Result<Self, serde_json::Error> {
        let text = std::str::from_utf8(body)
            .map_err(|e| <serde_json::Error as de::Error>::custom(format!("not UTF-8: {e}")))?;
        serde_json::from_str(text)
    }

    pub fn object(&self) -> Option<&Object<'a>> {
        self.data.get()?.object.get().map(|object| &**object)
    }
}

/// The fields read from the event's object, whichever kind it is (customer, subscription,
/// invoice, charge). Each kind fills its own and leaves the others `None`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Object<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub object: Text<'a>,
    pub created: Int,
    pub livemode: Flag,
    #[serde(borrow)]
    pub metadata: Maybe<Metadata<'a>>,
    /// A customer's own `deleted` marker (present on deleted customers).
    pub deleted: Flag,
    /// The customer of a subscription, invoice or charge: an id, or the expanded object.
    #[serde(borrow)]
    pub customer: IdRef<'a>,
    #[serde(borrow)]
    pub status: Text<'a>,
    #[serde(borrow)]
    pub currency: Text<'a>,
    // Subscription.
    pub cancel_at_period_end: Flag,
    pub canceled_at: Int,
    /// On the subscription before API 2025-03-31; on each item since.
    pub current_period_end: Int,
    #[serde(borrow)]
    pub items: Maybe<List<SubscriptionItem<'a>>>,
    /// The legacy single plan, still sent by older API versions.
    #[serde(borrow)]
    pub plan: Maybe<Price<'a>>,
    /// When the subscription started.
    pub start_date: Int,
    /// The subscription's discount before API 2025-03-31; since then in `discounts` (below).
    #[serde(borrow)]
    pub discount: Maybe<Discount<'a>>,
    // Invoice.
    /// Before API 2025-03-31; since then under `parent.subscription_details`.
    #[serde(borrow)]
    pub subscription: IdRef<'a>,
    #[serde(borrow)]
    pub parent: Maybe<InvoiceParent<'a>>,
    pub amount_paid: Int,
    #[serde(borrow)]
    pub billing_reason: Text<'a>,
    #[serde(borrow)]
    pub number: Text<'a>,
    pub status_transitions: Maybe<StatusTransitions>,
    #[serde(borrow)]
    pub lines: Maybe<List<InvoiceLine<'a>>>,
    // Charge.
    pub amount: Int,
    pub amount_refunded: Int,
    pub paid: Flag,
    pub refunded: Flag,
    #[serde(borrow)]
    pub invoice: IdRef<'a>,
    #[serde(borrow)]
    pub payment_intent: IdRef<'a>,
    /// Listed on charges before API 2022-11-15; absent unless expanded since.
    #[serde(borrow)]
    pub refunds: Maybe<List<Refund<'a>>>,
    // Checkout Session.
    #[serde(borrow)]
    pub client_reference_id: Text<'a>,
    #[serde(borrow)]
    pub mode: Text<'a>,
    /// A Checkout Session's (at most one: `{coupon, promotion_code}`, the coupon an id or the
    /// expanded object) and a subscription's since API 2025-03-31 (ids unless expanded: only
    /// the objects are read). A bare array (not wrapped in `Maybe`, which reads only objects).
    #[serde(borrow)]
    pub discounts: List<Discount<'a>>,
    pub total_details: Maybe<TotalDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TotalDetails {
    pub amount_discount: Int,
}

/// The metadata keys Cello's signup tracking puts on the customer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Metadata<'a> {
    #[serde(borrow)]
    pub new_user_id: Text<'a>,
    #[serde(borrow)]
    pub cello_ucc: Text<'a>,
    #[serde(borrow)]
    pub new_user_organization_id: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SubscriptionItem<'a> {
    #[serde(borrow)]
    pub price: Maybe<Price<'a>>,
    #[serde(borrow)]
    pub plan: Maybe<Price<'a>>,
    pub current_period_end: Int,
}

/// A discount: its coupon (on the discount before API 2025-03-31, under `source` since; a
/// Checkout Session's `{coupon, promotion_code}`) and when it began to apply.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Discount<'a> {
    #[serde(borrow)]
    pub coupon: IdRef<'a>,
    #[serde(borrow)]
    pub promotion_code: IdRef<'a>,
    #[serde(borrow)]
    pub source: Maybe<DiscountSource<'a>>,
    pub start: Int,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DiscountSource<'a> {
    #[serde(borrow)]
    pub coupon: IdRef<'a>,
}

/// A price, or a legacy plan (which has `interval` at its top level instead of `recurring`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Price<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub product: IdRef<'a>,
    #[serde(borrow)]
    pub nickname: Text<'a>,
    #[serde(borrow)]
    pub lookup_key: Text<'a>,
    #[serde(borrow)]
    pub recurring: Maybe<Recurring<'a>>,
    #[serde(borrow)]
    pub interval: Text<'a>,
    pub interval_count: Int,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Recurring<'a> {
    #[serde(borrow)]
    pub interval: Text<'a>,
    pub interval_count: Int,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceParent<'a> {
    #[serde(borrow)]
    pub subscription_details: Maybe<SubscriptionDetails<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SubscriptionDetails<'a> {
    #[serde(borrow)]
    pub subscription: IdRef<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusTransitions {
    pub paid_at: Int,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InvoiceLine<'a> {
    #[serde(borrow)]
    pub price: Maybe<Price<'a>>,
    #[serde(borrow)]
    pub plan: Maybe<Price<'a>>,
    /// API 2025-03-31 and later: the price is referenced from `pricing.price_details`.
    #[serde(borrow)]
    pub pricing: Maybe<LinePricing<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinePricing<'a> {
    #[serde(borrow)]
    pub price_details: Maybe<PriceDetails<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PriceDetails<'a> {
    #[serde(borrow)]
    pub price: IdRef<'a>,
    #[serde(borrow)]
    pub product: IdRef<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Refund<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    pub amount: Int,
    #[serde(borrow)]
    pub currency: Text<'a>,
    pub created: Int,
    #[serde(borrow)]
    pub status: Text<'a>,
}

/// A Stripe list object (`{"object": "list", "data": [...]}`); a bare array is read too.
#[derive(Debug)]
pub struct List<T>(pub Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> List<T> {
    pub fn first(&self) -> Option<&T> {
        self.0.first()
    }
}

// ---- lenient leaves ---------------------------------------------------------------------

/// A string, or `None` for anything else. Borrowed from the body unless it holds escapes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

/// An integer (Stripe's amounts and timestamps), or `None` for anything else.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub Option<i64>);

/// A boolean, or `None` for anything else.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub Option<bool>);

/// An expandable reference: the id string, or the id of the expanded object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdRef<'a>(pub Option<Cow<'a, str>>);

/// A nested object, or `None` when the value is not an object.
#[derive(Debug)]
pub struct Maybe<T>(pub Option<T>);

impl<T> Default for Maybe<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl Text<'_> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}
impl IdRef<'_> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}
impl Int {
    pub fn get(&self) -> Option<i64> {
        self.0
    }
}
impl Flag {
    pub fn get(&self) -> Option<bool> {
        self.0
    }
}
impl<T> Maybe<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

/// Consumes a map or sequence that is not of the expected kind.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// What a leaf makes of each JSON kind; every kind it does not name reads as `None`.
trait LenientTarget<'de>: Sized {
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    /// A string that lives as long as the body (one without escapes): kept without a copy.
    fn from_borrowed_str(v: &'de str) -> Option<Self> {
        Self::from_str(v)
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        skip_map(map).map(|_| None)
    }
}

impl LenientTarget<'_> for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

impl LenientTarget<'_> for i64 {
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
}

impl<'de> LenientTarget<'de> for Cow<'de, str> {
    fn from_str(v: &str) -> Option<Self> {
        Some(Cow::Owned(v.to_owned()))
    }
    fn from_borrowed_str(v: &'de str) -> Option<Self> {
        Some(Cow::Borrowed(v))
    }
}

/// An expandable reference: the id itself, or the `id` of the expanded object.
struct ExpandedId<'de>(Cow<'de, str>);

impl<'de> LenientTarget<'de> for ExpandedId<'de> {
    fn from_str(v: &str) -> Option<Self> {
        Some(ExpandedId(Cow::Owned(v.to_owned())))
    }
    fn from_borrowed_str(v: &'de str) -> Option<Self> {
        Some(ExpandedId(Cow::Borrowed(v)))
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut id = None;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 && id.is_none() {
                id = map.next_value::<Text<'de>>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id.map(ExpandedId))
    }
}

struct LenientVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: LenientTarget<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(T::from_i64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).ok().and_then(T::from_i64))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::from_str(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(T::from_borrowed_str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map)
    }
}

fn lenient<'de, T: LenientTarget<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_any(LenientVisitor::<T>(std::marker::PhantomData))
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::<Cow<'de, str>, D>(d).map(Text)
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::<i64, D>(d).map(Int)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::<bool, D>(d).map(Flag)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for IdRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::<ExpandedId, D>(d).map(|id| IdRef(id.map(|e| e.0)))
    }
}

/// A map key, told apart without allocating: `true` for the one key a visitor looks for.
/// (Used for `id` in expanded objects and `data` in lists.)
struct Key(bool);

struct KeyVisitor(&'static str);

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(v == self.0))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor("id"))
    }
}

struct DataKey(bool);

impl<'de> Deserialize<'de> for DataKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor("data")).map(|k| DataKey(k.0))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Maybe<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Maybe(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Maybe(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Maybe(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Maybe(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Maybe(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Maybe(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                skip_seq(seq).map(|_| Maybe(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|v| Maybe(Some(v)))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Elements that are not objects are dropped, not fatal.
        fn elements<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
            mut seq: A,
        ) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(Maybe(item)) = seq.next_element::<Maybe<T>>()? {
                out.extend(item);
            }
            Ok(out)
        }
        struct Data<T>(Vec<T>);
        impl<'de, T: Deserialize<'de>> Deserialize<'de> for Data<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<T>(std::marker::PhantomData<T>);
                impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                    type Value = Data<T>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("any JSON value")
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                        elements(seq).map(Data)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                        skip_map(map).map(|_| Data(Vec::new()))
                    }
                    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                        Ok(Data(Vec::new()))
                    }
                    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                        Ok(Data(Vec::new()))
                    }
                    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                        Ok(Data(Vec::new()))
                    }
                    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                        Ok(Data(Vec::new()))
                    }
                    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                        Ok(Data(Vec::new()))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok(Data(Vec::new()))
                    }
                }
                d.deserialize_any(V(std::marker::PhantomData))
            }
        }
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                elements(seq).map(List)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut data = Vec::new();
                while let Some(key) = map.next_key::<DataKey>()? {
                    if key.0 {
                        data = map.next_value::<Data<T>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(List(data))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(List::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(List::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(List::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(List::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(List::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(List::default())
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_any_script_is_read_and_bytes_that_are_not_utf8_are_refused() {
        let event = Event::parse(
            "{\"id\":\"evt_1\",\"type\":\"customer.updated\",\"data\":{\"object\":{\"id\":\"cus_1\",\
             \"metadata\":{\"cello_ucc\":\"Zoë-\\u00e9-日本\"}}}}"
                .as_bytes(),
        )
        .unwrap();
        let metadata = event.object().unwrap().metadata.get().unwrap();
        assert_eq!(metadata.cello_ucc.get(), Some("Zoë-é-日本"));
        assert!(Event::parse(b"{\"id\":\"evt_\xff\"}").is_err());
        assert!(Event::parse(b"not json").is_err());
    }
}
