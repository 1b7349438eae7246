//! A device refuses, before it spends its enrolment code, a name for itself that would show to
//! other people as something else (control characters, bidirectional overrides and isolates).

use anyhow::Result;
use casebook_core::Error;
use casebook_tests::support::{Device, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_refuses_a_hostile_name_of_its_own_before_enrolling() -> Result<()> {
    let h = Harness::start().await?;
    let user = h.admin.user("guardian", "guardian").await?;
    let code = h.admin.code(&user).await?;
    for (i, name) in [
        "Work phone\u{202E}3gna",
        "phone\u{2067}x\u{2069}",
        "phone\n2",
    ]
    .into_iter()
    .enumerate()
    {
        let path = h.devices_dir.path().join(format!("hostile-{i}.db"));
        let err = Device::enrol_at(&h.server, path, &code, name)
            .await
            .expect_err("refused");
        match err.downcast_ref::<Error>() {
            // The device's own check: the server would have answered `bad_request`.
            Some(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "device_name");
                assert!(reason.contains("U+"), "{reason}");
            }
            other => panic!("expected the device to refuse {name:?}, got {other:?} ({err})"),
        }
    }
    // The code is still good for a plain name.
    let path = h.devices_dir.path().join("good.db");
    let device = Device::enrol_at(&h.server, path, &code, "Work phone").await?;
    device.sync().await?;
    Ok(())
}
