//! The general path of linker output: `serde_json` reads the document, each element's payload is
//! re-serialised the JavaScript way ([`crate::protocol::json`]) and delivered as soon as it is read. It reads
//! whatever JSON allows (ids as numbers, unusual escapes, numbers out of a double's range…) and is
//! the reference the fast path ([`super::scan`]) is checked against.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Delivery, FRAME_PREFIX, FRAME_SUFFIX, Output};
use crate::protocol::json;
use crate::support::excerpt::truncate;

/// Parses `{"contents":[{"id":[…],"contents":{…}},…],"type":"output"}` or a console object
/// `{"message":…,"color":…}`.
/// `skip` elements were already delivered by the fast path: they are read, not delivered again.
pub(super) fn document(doc: &str, sink: &mut dyn FnMut(Delivery), skip: usize) -> Output {
    let mut de = serde_json::Deserializer::from_str(doc);
    let mut delivered = skip;
    match de::DeserializeSeed::deserialize(
        DocumentSeed {
            sink,
            delivered: &mut delivered,
            skip,
        },
        &mut de,
    ) {
        Ok(Document::Linker) => Output::Linker(delivered),
        Ok(Document::Console(message)) => Output::Console(message),
        Ok(Document::Other) => Output::Other(truncate(doc, 200)),
        Err(e) => {
            tracing::warn!(error = %e, delivered, "GAMA sent a linker output that is not valid JSON; the elements before the error were delivered");
            Output::Linker(delivered)
        }
    }
}

enum Document {
    Linker,
    Console(String),
    Other,
}

/// The document, with its elements handed to the sink as the parser reaches them.
struct DocumentSeed<'s, 'f> {
    sink: &'s mut dyn FnMut(Delivery),
    delivered: &'f mut usize,
    skip: usize,
}

impl<'de> de::DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = Document;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Document, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a linker output or a console message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut linker = false;
        let mut message = None;
        while let Some(key) = map.next_key::<DocumentField>()? {
            match key {
                DocumentField::Contents if !linker => {
                    linker = true;
                    map.next_value_seed(ElementsSeed {
                        sink: &mut *self.sink,
                        delivered: &mut *self.delivered,
                        skip: self.skip,
                    })?;
                }
                DocumentField::Message => {
                    message = map.next_value::<MaybeText>()?.0;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(if linker {
            Document::Linker
        } else if let Some(m) = message {
            Document::Console(m)
        } else {
            Document::Other
        })
    }
}

/// The keys of the document that matter, identified without allocating.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum DocumentField {
    Contents,
    Message,
    #[serde(other)]
    Other,
}

struct ElementsSeed<'s, 'f> {
    sink: &'s mut dyn FnMut(Delivery),
    delivered: &'f mut usize,
    skip: usize,
}

impl<'de> de::DeserializeSeed<'de> for ElementsSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of {\"id\":[…],\"contents\":{…}}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(element) = seq.next_element::<Element<'de>>()? {
            if index < self.skip {
                index += 1;
                continue;
            }
            match element.into_delivery() {
                Some(d) => {
                    (self.sink)(d);
                    *self.delivered += 1;
                }
                None => tracing::warn!(
                    element = index,
                    "GAMA sent a linker output element without a usable id list or contents; skipped it"
                ),
            }
            index += 1;
        }
        Ok(())
    }

    // Anything but a list: not linker output after all.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One element, read without failing on a wrong shape (a bad element must not cost the others
/// their delivery): `id` and `contents` when they are usable, `None` otherwise.
struct Element<'a> {
    players: Option<Vec<String>>,
    contents: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an element")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Element<'de>, A::Error> {
                let mut e = Element {
                    players: None,
                    contents: None,
                };
                while let Some(key) = map.next_key::<ElementField>()? {
                    match key {
                        ElementField::Id => {
                            e.players = map.next_value::<PlayerIds>()?.0;
                        }
                        ElementField::Contents => {
                            e.contents = Some(map.next_value::<&'de RawValue>()?);
                        }
                        ElementField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(e)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Element<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Element {
                    players: None,
                    contents: None,
                })
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Element<'de>, E> {
                Ok(Element {
                    players: None,
                    contents: None,
                })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Element<'de>, E> {
                self.visit_str("")
            }
        }
        d.deserialize_any(V)
    }
}

impl Element<'_> {
    /// The element wrapped as the frame headsets receive, its payload re-serialised as
    /// JavaScript would (fast scanner first, the serde reference for anything unusual, and the
    /// bytes as GAMA wrote them if even that refuses, e.g. a number out of a double's range).
    fn into_delivery(self) -> Option<Delivery> {
        let players = self.players?;
        let payload = self.contents?.get();
        let mut buf = Vec::with_capacity(payload.len() + FRAME_PREFIX.len() + FRAME_SUFFIX.len());
        buf.extend_from_slice(FRAME_PREFIX);
        if !json::normalize_js(payload, &mut buf) && json::write_js(payload, &mut buf).is_err() {
            buf.truncate(FRAME_PREFIX.len());
            buf.extend_from_slice(payload.as_bytes());
        }
        buf.extend_from_slice(FRAME_SUFFIX);
        Some(Delivery::new(players, buf))
    }
}

/// The keys of a linker output element, identified without allocating.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ElementField {
    Id,
    Contents,
    #[serde(other)]
    Other,
}

/// `id`: a list of player names; a single string or numbers are accepted too. `None` for
/// anything else (objects, lists of lists).
struct PlayerIds(Option<Vec<String>>);

impl<'de> Deserialize<'de> for PlayerIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Vec<String>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of player ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                let mut usable = true;
                while let Some(MaybeText(id)) = seq.next_element::<MaybeText>()? {
                    match id {
                        Some(id) if usable => out.push(id),
                        _ => usable = false,
                    }
                }
                Ok(usable.then_some(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(vec![v.to_string()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V).map(PlayerIds)
    }
}

/// A string, or a number/bool taken as its text; `None` for anything else (never an error, so a
/// bad id does not abort the document).
struct MaybeText(Option<String>);

impl<'de> Deserialize<'de> for MaybeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
        d.deserialize_any(V).map(MaybeText)
    }
}
