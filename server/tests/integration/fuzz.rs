//! Malformed, truncated and oversized input: always a 4xx in the error shape, never a change.

use axum::http::{Method, StatusCode};
use casebook_core::doc::DocKind;
use casebook_core::sync::wire::{
    DocMessage, ErrorBody, MAX_SYNC_REQUEST_BYTES, PROTOCOL_VERSION, SyncRequest,
};
use proptest::prelude::*;

use crate::support::{Device, Harness, doc, new_case};

struct Fixture {
    rt: tokio::runtime::Runtime,
    h: Harness,
    guardian: Device,
    valid_body: Vec<u8>,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (h, guardian, valid_body) = rt.block_on(async {
        let h = Harness::new().await;
        let mut guardian = h.person("guardian").await;
        let case = new_case();
        guardian.write(doc(case, DocKind::Visits), "v", "x");
        h.sync_until_quiet(&mut guardian).await;
        let mut am = automerge::AutoCommit::new();
        let msg = automerge::sync::SyncDoc::generate_sync_message(
            &am.sync(),
            &mut automerge::sync::State::new(),
        )
        .expect("message");
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 0,
            messages: vec![DocMessage {
                doc: doc(case, DocKind::Profile),
                data: msg.encode(),
            }],
            purged: vec![doc(case, DocKind::Visits)],
            epoch: None,
        };
        (h, guardian, serde_json::to_vec(&req).expect("encode"))
    });
    Fixture {
        rt,
        h,
        guardian,
        valid_body,
    }
}

impl Fixture {
    fn snapshot(&self) -> (i64, u64) {
        self.rt.block_on(async {
            let audit = self.h.audit_count().await;
            let seq = self
                .h
                .state
                .db
                .read(casebook_server::db::current_seq)
                .await
                .expect("seq");
            (audit, seq)
        })
    }

    fn post(&self, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
        self.rt.block_on(async {
            let r = self
                .h
                .raw(Method::POST, "/v1/sync", Some(&self.guardian.token), body)
                .await;
            (r.status, r.body)
        })
    }

    fn assert_refused_unchanged(&self, body: Vec<u8>) {
        let before = self.snapshot();
        let (status, reply) = self.post(body);
        assert!(status.is_client_error(), "status {status}");
        let err: ErrorBody = serde_json::from_slice(&reply).expect("error shape");
        assert!(!err.error.is_empty());
        assert_eq!(self.snapshot(), before);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let f = fixture();
        f.assert_refused_unchanged(body);
    }

    #[test]
    fn truncated_requests_are_refused(cut in 0usize..10_000) {
        let f = fixture();
        let len = f.valid_body.len();
        let body = f.valid_body[..cut % len].to_vec();
        f.assert_refused_unchanged(body);
    }

    #[test]
    fn arbitrary_message_bytes_never_fail_the_server(
        data in proptest::collection::vec(any::<u8>(), 0..256),
        first in prop_oneof![Just(0x42u8), Just(0x43u8), any::<u8>()],
    ) {
        let f = fixture();
        let mut data = data;
        data.insert(0, first);
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: 0,
            messages: vec![DocMessage { doc: doc(new_case(), DocKind::Safety), data }],
            purged: vec![],
         epoch: None,
};
        let (status, _) = f.post(serde_json::to_vec(&req).expect("encode"));
        prop_assert_eq!(status, StatusCode::OK);
    }
}

#[test]
fn oversized_bodies_are_refused() {
    let f = fixture();
    let mut body = f.valid_body.clone();
    body.resize(MAX_SYNC_REQUEST_BYTES + 1, b' ');
    let before = f.snapshot();
    let (status, reply) = f.post(body);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let err: ErrorBody = serde_json::from_slice(&reply).expect("error shape");
    assert_eq!(err.error, "payload_too_large");
    assert_eq!(f.snapshot(), before);
}

#[test]
fn small_endpoints_have_small_limits_and_unknown_routes_use_the_error_shape() {
    let f = fixture();
    f.rt.block_on(async {
        let big = vec![b' '; 64 * 1024];
        let r = f.h.raw(Method::POST, "/v1/enrol", None, big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.error(), "payload_too_large");
        let r = f.h.raw(Method::GET, "/v1/nothing", None, vec![]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error(), "not_found");
        let r = f.h.raw(Method::GET, "/v1/sync", None, vec![]).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.error(), "method_not_allowed");
        let r =
            f.h.raw(Method::POST, "/v1/enrol", None, b"{\"code\":1}".to_vec())
                .await;
        assert_eq!(r.error(), "bad_request");
    });
}
