//! The interpreter link check (statutory guidance, paragraph 26: "care should be taken to
//! ensure that the interpreter is not linked in any way with those who may have been involved
//! in their trafficking"): a visit's interpreter (name, phone number, agency) compared with
//! the case's persons of concern (names and aliases, phone numbers, organisation). Pure: no
//! I/O, the same on the device (before a note is saved) and on the server (across the cases
//! of an organisation).
//!
//! - Names are folded (Unicode NFKD, combining marks dropped, `đ` read as `d`, lower case)
//!   and split into words. Two names match when every word of the shorter is a word of the
//!   longer and the shorter has at least two words (or both are the same single word): case,
//!   accents, word order and a missing middle name do not hide a match ("Hung Nguyen" ~
//!   "Nguyễn Văn Hùng").
//! - Phone numbers match after normalising to E.164 (region GB by default): "07700 900123"
//!   ~ "+44 7700 900123" ~ "0044 7700-900-123". A number that does not parse is compared by
//!   its digits.
//! - Agencies match when their folded words are the same.
//!
//! The persons' folded forms ([`AssociateKeys`]) are computed once per person and can be
//! kept (the server keeps them per case, so a check parses no document).

use serde::{Deserialize, Serialize};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use crate::error::{Error, Result};
use crate::ids::EntryId;
use crate::model::{Interpreter, InterpreterDecision, LinkDecision, PersonOfConcern, VisitNote};

/// Shortest run of digits compared when a phone number does not parse.
const MIN_RAW_DIGITS: usize = 6;

/// Which of a person's fields an interpreter's detail matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkField {
    /// The person's name.
    Name,
    /// One of the person's other names.
    Alias,
    /// One of the person's phone numbers.
    Phone,
    /// The organisation the person is linked to.
    Organisation,
}

impl LinkField {
    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkField::Name => "name",
            LinkField::Alias => "alias",
            LinkField::Phone => "phone",
            LinkField::Organisation => "organisation",
        }
    }
}

/// A possible link between the interpreter and a person of concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PossibleLink {
    /// The person of concern (entry id in the case's `associates` document).
    pub person: EntryId,
    /// The person's name as recorded.
    pub person_name: String,
    /// Which of the person's fields matched.
    pub field: LinkField,
    /// The person's value that matched (as recorded).
    pub matched: String,
    /// The interpreter's value that matched it (as entered).
    pub interpreter_value: String,
    /// Why they match, in words.
    pub reason: String,
}

/// A name as words: folded, de-duplicated and sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameKey {
    /// The name as recorded.
    pub raw: String,
    /// Its folded words.
    pub words: Vec<String>,
}

impl NameKey {
    /// The key of `raw`.
    pub fn new(raw: &str) -> Self {
        let mut words = fold_words(raw);
        words.sort();
        words.dedup();
        NameKey {
            raw: raw.to_owned(),
            words,
        }
    }

    /// Whether the two names may be the same person's.
    pub fn matches(&self, other: &NameKey) -> bool {
        let (short, long) = if self.words.len() <= other.words.len() {
            (&self.words, &other.words)
        } else {
            (&other.words, &self.words)
        };
        if short.is_empty() {
            return false;
        }
        if short.len() == 1 {
            return long.len() == 1 && short == long;
        }
        short.iter().all(|w| long.binary_search(w).is_ok())
    }
}

/// A phone number as recorded and as compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneKey {
    /// The number as recorded.
    pub raw: String,
    /// E.164 (`+447700900123`), or `#` and the digits when it does not parse.
    pub normal: String,
}

impl PhoneKey {
    /// The key of `raw`, or `None` when it holds too few digits to compare.
    pub fn new(raw: &str) -> Option<Self> {
        normalise_phone(raw).map(|normal| PhoneKey {
            raw: raw.to_owned(),
            normal,
        })
    }
}

/// A person of concern's folded names, phone numbers and organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociateKeys {
    /// The person (entry id in `associates`).
    pub person: EntryId,
    /// The name (first) and aliases.
    pub names: Vec<NameKey>,
    /// The phone numbers.
    pub phones: Vec<PhoneKey>,
    /// The organisation, folded (empty if none).
    pub organisation: Option<(String, String)>,
}

impl AssociateKeys {
    /// The keys of `person`.
    pub fn new(id: EntryId, person: &PersonOfConcern) -> Self {
        Self::with_phones(id, person, |_| true)
    }

    /// The keys of `person`, parsing only the phone numbers `wanted` (given their digits).
    fn with_phones(id: EntryId, person: &PersonOfConcern, wanted: impl Fn(&str) -> bool) -> Self {
        let names = std::iter::once(&person.name)
            .chain(&person.aliases)
            .map(|n| NameKey::new(n))
            .filter(|k| !k.words.is_empty())
            .collect();
        let phones = person
            .phone_numbers
            .iter()
            .filter(|p| wanted(&digits(p)))
            .filter_map(|p| PhoneKey::new(p))
            .collect();
        let folded = fold_agency(&person.organisation);
        let organisation = (!folded.is_empty()).then(|| (person.organisation.clone(), folded));
        AssociateKeys {
            person: id,
            names,
            phones,
            organisation,
        }
    }

    /// The keys of every person.
    pub fn all(persons: &[(EntryId, PersonOfConcern)]) -> Vec<Self> {
        persons.iter().map(|(id, p)| Self::new(*id, p)).collect()
    }
}

/// An interpreter's folded name, phone number and agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterKeys {
    name: NameKey,
    phone: Option<PhoneKey>,
    agency: String,
    agency_raw: String,
}

impl InterpreterKeys {
    /// The keys of `interpreter`.
    pub fn new(interpreter: &Interpreter) -> Self {
        InterpreterKeys {
            name: NameKey::new(&interpreter.name),
            phone: PhoneKey::new(&interpreter.phone),
            agency: fold_agency(&interpreter.agency),
            agency_raw: interpreter.agency.clone(),
        }
    }

    /// Whether there is anything to check.
    pub fn is_empty(&self) -> bool {
        self.name.words.is_empty() && self.phone.is_none() && self.agency.is_empty()
    }

    /// The possible links to `person`.
    pub fn links_to(&self, person: &AssociateKeys, person_name: &str, out: &mut Vec<PossibleLink>) {
        let link = |field, matched: &str, value: &str, reason: &str| PossibleLink {
            person: person.person,
            person_name: person_name.to_owned(),
            field,
            matched: matched.to_owned(),
            interpreter_value: value.to_owned(),
            reason: reason.to_owned(),
        };
        for (index, name) in person.names.iter().enumerate() {
            if self.name.matches(name) {
                let field = if index == 0 {
                    LinkField::Name
                } else {
                    LinkField::Alias
                };
                out.push(link(
                    field,
                    &name.raw,
                    &self.name.raw,
                    "the same name, ignoring case, accents, word order and middle names",
                ));
                break;
            }
        }
        if let Some(phone) = &self.phone
            && let Some(theirs) = person.phones.iter().find(|p| p.normal == phone.normal)
        {
            out.push(link(
                LinkField::Phone,
                &theirs.raw,
                &phone.raw,
                "the same phone number once both are written in international form",
            ));
        }
        if !self.agency.is_empty()
            && let Some((raw, folded)) = &person.organisation
            && *folded == self.agency
        {
            out.push(link(
                LinkField::Organisation,
                raw,
                &self.agency_raw,
                "the interpreter's agency is the organisation this person is linked to",
            ));
        }
    }
}

/// The possible links between `interpreter` and the persons of concern (`keys`, computed
/// from `persons` once; `persons` gives their names as recorded). Ordered by person, then
/// field.
pub fn interpreter_links(
    interpreter: &Interpreter,
    keys: &[AssociateKeys],
    name_of: impl Fn(EntryId) -> String,
) -> Vec<PossibleLink> {
    let mine = InterpreterKeys::new(interpreter);
    let mut out = Vec::new();
    if mine.is_empty() {
        return out;
    }
    for person in keys {
        let start = out.len();
        mine.links_to(person, "", &mut out);
        if out.len() > start {
            let name = name_of(person.person);
            for link in &mut out[start..] {
                link.person_name.clone_from(&name);
            }
        }
    }
    out
}

/// [`interpreter_links`] against the persons of a case's `associates` document, folding
/// them on the way. Parsing a phone number is the costly part, so only the persons' numbers
/// ending in the same last six digits as the interpreter's are parsed (a number's E.164
/// form ends with the digits it was written with).
pub fn links_to_persons(
    interpreter: &Interpreter,
    persons: &[(EntryId, PersonOfConcern)],
) -> Vec<PossibleLink> {
    let tail: Option<String> = PhoneKey::new(&interpreter.phone).map(|p| {
        let d = digits(&p.normal);
        d[d.len().saturating_sub(MIN_RAW_DIGITS)..].to_owned()
    });
    let keys: Vec<AssociateKeys> = persons
        .iter()
        .map(|(id, p)| {
            AssociateKeys::with_phones(*id, p, |d| tail.as_deref().is_some_and(|t| d.ends_with(t)))
        })
        .collect();
    interpreter_links(interpreter, &keys, |id| {
        persons
            .iter()
            .find(|(p, _)| *p == id)
            .map(|(_, p)| p.name.clone())
            .unwrap_or_default()
    })
}

/// Whether `decision` is about `interpreter` (the name and phone number it was made on).
pub fn decision_covers(decision: &InterpreterDecision, interpreter: &Interpreter) -> bool {
    decision.interpreter_name.trim() == interpreter.name.trim()
        && decision.interpreter_phone.trim() == interpreter.phone.trim()
}

/// Refuse to save `note` when its interpreter has possible `links` and the note holds no
/// decision on them: the user must choose another interpreter, or proceed with a reason.
/// The error names the field, never the interpreter or the person.
pub fn check_interpreter_decision(note: &VisitNote, links: &[PossibleLink]) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let decision = &note.interpreter_decision;
    if !decision_covers(decision, &note.interpreter) {
        return Err(Error::invalid(
            "interpreter_decision",
            format!(
                "the interpreter has {} possible link(s) to the child's persons of concern: \
                 check them and record a decision (use another interpreter, or proceed with a \
                 reason)",
                links.len()
            ),
        ));
    }
    match decision.outcome {
        LinkDecision::Proceed if !decision.reason.trim().is_empty() => Ok(()),
        LinkDecision::Proceed => Err(Error::invalid(
            "interpreter_decision.reason",
            "proceeding with an interpreter who may be linked to the child's persons of \
             concern needs a reason",
        )),
        LinkDecision::OtherInterpreter => Err(Error::invalid(
            "interpreter",
            "the decision was to use another interpreter: change the interpreter",
        )),
        LinkDecision::Undecided => Err(Error::invalid(
            "interpreter_decision",
            "record a decision on the interpreter's possible links (use another interpreter, \
             or proceed with a reason)",
        )),
    }
}

/// A name's folded words: NFKD, combining marks dropped, `đ`/`Đ` read as `d` (it has no
/// decomposition), lower case, split on anything not a letter or digit.
///
/// Each character is decomposed on its own (`decompose_compatible`), ASCII passed straight
/// through: the same words as the string's NFKD, because canonical reordering only moves
/// combining marks, which are dropped, and it halves the device's check of 500 persons.
pub fn fold_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut push = |c: char, word: &mut String| {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                word.push(c.to_ascii_lowercase());
            } else if !word.is_empty() {
                words.push(std::mem::take(word));
            }
            return;
        }
        if is_combining_mark(c) {
            return;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            other => other,
        };
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    for c in name.chars() {
        if c.is_ascii() {
            push(c, &mut word);
        } else {
            decompose_compatible(c, |d| push(d, &mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The ASCII digits of `s`.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// An agency's folded words joined by single spaces.
pub fn fold_agency(agency: &str) -> String {
    fold_words(agency).join(" ")
}

/// A phone number in E.164 (region GB when it has no country code), or `#` and its digits
/// when it does not parse; `None` when it holds fewer than six digits.
pub fn normalise_phone(raw: &str) -> Option<String> {
    let digits = digits(raw);
    if digits.len() < MIN_RAW_DIGITS {
        return None;
    }
    match phonenumber::parse(Some(phonenumber::country::Id::GB), raw) {
        Ok(number) => Some(
            phonenumber::format(&number)
                .mode(phonenumber::Mode::E164)
                .to_string(),
        ),
        Err(_) => Some(format!("#{digits}")),
    }
}

#[cfg(test)]
#[path = "interpreter_check_tests.rs"]
mod tests;
