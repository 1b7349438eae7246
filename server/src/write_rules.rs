//! The server's side of the write rules per record (`casebook_core::model::check_write`):
//! before a device's changes are stored, the document with the changes applied (a trial
//! copy) is compared with the stored document, and the changes are refused
//! if the caller's role may not make them. The sync handler then stores nothing for that
//! document and audits `denied` with reason `write_rule`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Automerge;
use casebook_core::doc::DocId;
use casebook_core::model::{Writer, check_write};
use serde_json::{Value, json};

use crate::auth::Caller;

/// The audit detail of a refusal if `after` (the stored document `before` with a device's
/// changes applied) holds changes the caller may not make to `doc`; `None` if they are all
/// allowed.
pub fn refusal(
    doc: &DocId,
    before: &Automerge,
    after: &Automerge,
    caller: &Caller,
) -> Option<Value> {
    let refuse = |why: &str| Some(json!({ "reason": "write_rule", "violations": [why] }));
    let (Ok(role), Ok(user)) = (caller.user.role.as_str().parse(), caller.user.id.parse()) else {
        return refuse("unknown writer");
    };
    let writer = Writer {
        user,
        role,
        device: caller.device,
    };
    let verdict = catch_unwind(AssertUnwindSafe(|| {
        check_write(doc.kind, before, after, &writer)
    }));
    match verdict {
        Ok(Ok(())) => None,
        Ok(Err(violations)) => {
            let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
            Some(json!({ "reason": "write_rule", "violations": listed }))
        }
        Err(_) => refuse("panic"),
    }
}
