//! Silences and the notification log survive a restart of the notifier.

use std::sync::Arc;

use oxeye_rules::alert::AlertSink;
use oxeye_rules::notify::Notifier;
use oxeye_rules::notify::silence::{Silence, SilenceMatcher};

use crate::notify_support::*;

#[tokio::test]
async fn restart_keeps_silences_and_the_notification_log() {
    let hook = Hook::start().await;
    let yaml = format!(
        "route: {{receiver: hook, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}}\nreceivers:\n- name: hook\n  webhook_configs: [{{url: '{}/hook'}}]\n",
        hook.url
    );
    let s = setup(&yaml);
    let sid = s
        .notifier
        .upsert_silence(
            &tenant(),
            Silence {
                id: String::new(),
                matchers: vec![SilenceMatcher {
                    name: "alertname".into(),
                    value: "Quiet".into(),
                    is_regex: false,
                    is_equal: true,
                }],
                starts_at_ms: T0,
                ends_at_ms: T0 + 24 * 3_600_000,
                updated_at_ms: 0,
                created_by: "ops".into(),
                comment: "known issue".into(),
            },
        )
        .await
        .unwrap();
    s.send(vec![
        firing(&[("alertname", "Loud")], T0, T0),
        firing(&[("alertname", "Quiet")], T0, T0),
    ]);
    s.at(30_000).await;
    assert_eq!(hook.delivered("/hook").len(), 1);
    drop(s.notifier);

    // A new notifier over the same directory, ten minutes later; rules send again.
    s.clock.set(T0 + 10 * 60_000);
    let n2 = Notifier::new(&yaml, s.dir.path().to_path_buf(), Arc::new(s.clock.clone())).unwrap();
    let silences = n2.silences(&tenant());
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0].0.id, sid);
    assert_eq!(silences[0].1.as_str(), "active");
    n2.send(
        &tenant(),
        vec![
            firing(&[("alertname", "Loud")], T0, T0 + 10 * 60_000),
            firing(&[("alertname", "Quiet")], T0, T0 + 10 * 60_000),
        ],
    );
    // group_wait is long over for these alerts: the groups flush at once, but the
    // notification log says Loud was already sent and Quiet stays silenced.
    n2.flush_due().await;
    s.clock.advance(30_000);
    n2.flush_due().await;
    assert_eq!(hook.delivered("/hook").len(), 1, "{:?}", hook.all());
    let quiet = n2
        .alerts(&tenant())
        .into_iter()
        .find(|a| a.alert.labels["alertname"] == "Quiet")
        .unwrap();
    assert_eq!(quiet.silenced_by, vec![sid]);
    // Once more than repeat_interval has passed it is sent again.
    s.clock.set(T0 + 30_000 + 4 * 3_600_000 + 1);
    n2.send(
        &tenant(),
        vec![firing(
            &[("alertname", "Loud")],
            T0,
            T0 + 4 * 3_600_000 + 30_000,
        )],
    );
    n2.flush_due().await;
    assert_eq!(hook.delivered("/hook").len(), 2);
}
