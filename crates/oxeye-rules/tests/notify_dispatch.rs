//! Routing, grouping, timing, inhibition, silences and time intervals of the built-in
//! notifier, on a manual clock with a webhook receiver.

use oxeye_rules::notify::Notifier;
use oxeye_rules::notify::silence::{Silence, SilenceMatcher};

use crate::notify_support::*;

fn webhook_config(url: &str, extra_route: &str, extra: &str) -> String {
    format!(
        r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
{extra_route}
receivers:
- name: hook
  webhook_configs:
  - url: {url}/hook
{extra}
"#
    )
}

const M: i64 = 60_000;

#[tokio::test]
async fn alerts_of_one_group_arrive_together_after_group_wait() {
    let hook = Hook::start().await;
    let s = setup(&webhook_config(&hook.url, "", ""));
    s.send(vec![
        firing(&[("alertname", "HighLatency"), ("instance", "a")], T0, T0),
        firing(&[("alertname", "HighLatency"), ("instance", "b")], T0, T0),
        firing(&[("alertname", "DiskFull"), ("instance", "a")], T0, T0),
    ]);
    s.at(10_000).await;
    assert!(hook.all().is_empty(), "nothing before group_wait");
    s.at(30_000).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 2, "one notification per group: {got:?}");
    let hl = got
        .iter()
        .find(|m| m["groupLabels"]["alertname"] == "HighLatency")
        .unwrap();
    assert_eq!(
        alert_names(hl),
        vec![
            ("HighLatency".into(), "a".into(), "firing".into()),
            ("HighLatency".into(), "b".into(), "firing".into())
        ]
    );
    assert_eq!(hl["version"], "4");
    assert_eq!(hl["status"], "firing");
    assert_eq!(hl["receiver"], "hook");
    assert_eq!(hl["groupKey"], "{}:{alertname=\"HighLatency\"}");
    assert_eq!(hl["commonLabels"]["alertname"], "HighLatency");
    assert_eq!(
        hl["commonAnnotations"]["runbook_url"],
        "https://runbooks.example/x"
    );
    assert_eq!(hl["truncatedAlerts"], 0);
    let a0 = &hl["alerts"][0];
    assert_eq!(
        a0["annotations"]["runbook_url"],
        "https://runbooks.example/x"
    );
    assert_eq!(a0["startsAt"], "2024-05-06T12:00:00Z");
    assert_eq!(a0["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a0["generatorURL"], "http://prom/graph?g0.expr=up");
    assert_eq!(a0["fingerprint"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn group_interval_sends_new_alerts_and_repeat_interval_resends() {
    let hook = Hook::start().await;
    let s = setup(&webhook_config(&hook.url, "", ""));
    s.send(vec![firing(
        &[("alertname", "A"), ("instance", "1")],
        T0,
        T0,
    )]);
    s.at(30_000).await;
    assert_eq!(hook.delivered("/hook").len(), 1);
    // A new alert of the group waits for the group interval.
    s.clock.set(T0 + M);
    s.send(vec![firing(
        &[("alertname", "A"), ("instance", "2")],
        T0 + M,
        T0 + M,
    )]);
    s.at(2 * M).await;
    assert_eq!(hook.delivered("/hook").len(), 1);
    s.at(30_000 + 5 * M).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 2);
    assert_eq!(alert_names(&got[1]).len(), 2);
    // Unchanged: nothing at the next intervals until repeat_interval has passed.
    for i in 2..10 {
        s.send(vec![
            firing(&[("alertname", "A"), ("instance", "1")], T0, T0 + i * 5 * M),
            firing(
                &[("alertname", "A"), ("instance", "2")],
                T0 + M,
                T0 + i * 5 * M,
            ),
        ]);
        s.at(30_000 + i * 5 * M).await;
    }
    assert_eq!(hook.delivered("/hook").len(), 2);
    let mut t = 30_000 + 5 * M;
    // Re-sent at the first flush after more than repeat_interval has passed.
    while t <= 30_000 + 5 * M + 4 * 60 * M {
        t += 5 * M;
        s.clock.set(T0 + t);
        s.send(vec![
            firing(&[("alertname", "A"), ("instance", "1")], T0, T0 + t),
            firing(&[("alertname", "A"), ("instance", "2")], T0 + M, T0 + t),
        ]);
        s.at(t).await;
    }
    assert_eq!(
        hook.delivered("/hook").len(),
        3,
        "re-sent after repeat_interval"
    );
}

#[tokio::test]
async fn resolved_alerts_are_sent_only_with_send_resolved() {
    let hook = Hook::start().await;
    let yaml = format!(
        r#"
route:
  receiver: both
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
receivers:
- name: both
  webhook_configs:
  - url: {0}/with
  - url: {0}/without
    send_resolved: false
"#,
        hook.url
    );
    let s = setup(&yaml);
    let a = firing(&[("alertname", "A"), ("instance", "1")], T0, T0);
    s.send(vec![a.clone()]);
    s.at(10_000).await;
    assert_eq!(hook.delivered("/with").len(), 1);
    assert_eq!(hook.delivered("/without").len(), 1);
    s.clock.set(T0 + 20_000);
    s.send(vec![resolved(a, T0 + 20_000)]);
    s.at(70_000).await;
    let with = hook.delivered("/with");
    assert_eq!(with.len(), 2);
    assert_eq!(with[1]["status"], "resolved");
    assert_eq!(with[1]["alerts"][0]["status"], "resolved");
    assert_eq!(with[1]["alerts"][0]["endsAt"], "2024-05-06T12:00:20Z");
    assert_eq!(hook.delivered("/without").len(), 1);
    // The group is gone: nothing more.
    s.at(10 * M).await;
    assert_eq!(hook.all().len(), 3);
    assert!(s.notifier.groups(&tenant()).is_empty());
}

#[tokio::test]
async fn critical_alert_inhibits_warning_with_equal_labels() {
    let hook = Hook::start().await;
    let inhibit = r#"
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [cluster]
"#;
    let s = setup(&webhook_config(&hook.url, "", inhibit));
    s.send(vec![
        firing(
            &[
                ("alertname", "Crit"),
                ("severity", "critical"),
                ("cluster", "eu"),
            ],
            T0,
            T0,
        ),
        firing(
            &[
                ("alertname", "Warn"),
                ("severity", "warning"),
                ("cluster", "eu"),
            ],
            T0,
            T0,
        ),
        firing(
            &[
                ("alertname", "Warn2"),
                ("severity", "warning"),
                ("cluster", "us"),
            ],
            T0,
            T0,
        ),
    ]);
    s.at(30_000).await;
    let mut names: Vec<String> = hook
        .delivered("/hook")
        .iter()
        .flat_map(|m| alert_names(m).into_iter().map(|a| a.0))
        .collect();
    names.sort();
    assert_eq!(names, vec!["Crit", "Warn2"]);
    let views = s.notifier.alerts(&tenant());
    let warn = views
        .iter()
        .find(|v| v.alert.labels["alertname"] == "Warn")
        .unwrap();
    assert_eq!(warn.state(), "suppressed");
    assert_eq!(warn.inhibited_by.len(), 1);
}

fn silence_for(name: &str, value: &str, ends: i64) -> Silence {
    Silence {
        id: String::new(),
        matchers: vec![SilenceMatcher {
            name: name.into(),
            value: value.into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at_ms: T0,
        ends_at_ms: ends,
        updated_at_ms: 0,
        created_by: "ops".into(),
        comment: "deploy".into(),
    }
}

#[tokio::test]
async fn silenced_alert_is_not_notified_until_the_silence_expires() {
    let hook = Hook::start().await;
    let s = setup(&webhook_config(&hook.url, "", ""));
    let id = s
        .notifier
        .upsert_silence(&tenant(), silence_for("alertname", "Noisy", T0 + 60 * M))
        .await
        .unwrap();
    s.send(vec![
        firing(&[("alertname", "Noisy")], T0, T0),
        firing(&[("alertname", "Other")], T0, T0),
    ]);
    s.at(30_000).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["groupLabels"]["alertname"], "Other");
    let v = s.notifier.alerts(&tenant());
    assert_eq!(
        v.iter()
            .find(|a| a.alert.labels["alertname"] == "Noisy")
            .unwrap()
            .silenced_by,
        vec![id.clone()]
    );
    s.clock.set(T0 + M);
    s.notifier.expire_silence(&tenant(), &id).await.unwrap();
    s.send(vec![firing(&[("alertname", "Noisy")], T0, T0 + M)]);
    s.at(30_000 + 5 * M).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["groupLabels"]["alertname"], "Noisy");
}

#[tokio::test]
async fn continue_routes_reach_every_matching_receiver_and_first_match_wins_otherwise() {
    let hook = Hook::start().await;
    let yaml = format!(
        r#"
route:
  receiver: default
  group_wait: 1s
  routes:
  - matchers: [team="db"]
    receiver: db
    continue: true
  - match_re:
      severity: crit.*
    receiver: pager
  - matchers: [team=~"d.*"]
    receiver: never
receivers:
- name: default
  webhook_configs: [{{url: "{0}/default"}}]
- name: db
  webhook_configs: [{{url: "{0}/db"}}]
- name: pager
  webhook_configs: [{{url: "{0}/pager"}}]
- name: never
  webhook_configs: [{{url: "{0}/never"}}]
"#,
        hook.url
    );
    let s = setup(&yaml);
    s.send(vec![
        firing(
            &[("alertname", "A"), ("team", "db"), ("severity", "critical")],
            T0,
            T0,
        ),
        firing(&[("alertname", "B"), ("team", "web")], T0, T0),
    ]);
    s.at(1_000).await;
    assert_eq!(hook.delivered("/db").len(), 1);
    assert_eq!(hook.delivered("/pager").len(), 1);
    assert_eq!(
        hook.delivered("/never").len(),
        0,
        "the match before stopped the walk"
    );
    let default = hook.delivered("/default");
    assert_eq!(default.len(), 1);
    assert_eq!(default[0]["alerts"][0]["labels"]["alertname"], "B");
    assert_eq!(hook.delivered("/db")[0]["groupKey"], "{}/{team=\"db\"}:{}");
    let a = s.notifier.alerts(&tenant());
    let rcv = &a
        .iter()
        .find(|v| v.alert.labels["alertname"] == "A")
        .unwrap()
        .receivers;
    assert_eq!(rcv, &vec!["db".to_string(), "pager".to_string()]);
}

#[tokio::test]
async fn mute_time_intervals_hold_notifications_back() {
    let hook = Hook::start().await;
    let route = r#"  routes:
  - matchers: [alertname="Batch"]
    mute_time_intervals: [lunch]
  - matchers: [alertname="Office"]
    active_time_intervals: [lunch]
"#;
    let extra = r#"
time_intervals:
- name: lunch
  time_intervals:
  - times:
    - start_time: "12:00"
      end_time: "13:00"
    weekdays: ["monday:friday"]
"#;
    let s = setup(&webhook_config(&hook.url, route, extra));
    // T0 is Monday 12:00 UTC: inside the interval.
    s.send(vec![firing(&[("alertname", "Batch")], T0, T0)]);
    s.at(30_000).await;
    assert!(hook.all().is_empty(), "muted at lunch");
    s.clock.set(T0 + 61 * M);
    s.send(vec![firing(&[("alertname", "Batch")], T0, T0 + 61 * M)]);
    s.send(vec![firing(
        &[("alertname", "Office")],
        T0 + 61 * M,
        T0 + 61 * M,
    )]);
    s.at(61 * M + 30_000).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["groupLabels"]["alertname"], "Batch");
}

#[tokio::test]
async fn failed_sends_are_retried_with_backoff_and_4xx_is_not() {
    let hook = Hook::start().await;
    let s = setup(&webhook_config(&hook.url, "", ""));
    hook.respond_with(&[500, 503]);
    s.send(vec![firing(&[("alertname", "A")], T0, T0)]);
    s.at(30_000).await;
    assert_eq!(hook.all().len(), 1);
    assert_eq!(s.notifier.pending_retries(), 1);
    s.at(30_500).await;
    assert_eq!(hook.all().len(), 1, "backoff of 1s not over");
    s.at(31_000).await;
    assert_eq!(hook.all().len(), 2);
    s.at(32_000).await;
    assert_eq!(hook.all().len(), 2, "second backoff is 2s");
    s.at(33_000).await;
    assert_eq!(hook.delivered("/hook").len(), 1);
    assert_eq!(s.notifier.pending_retries(), 0);

    hook.respond_with(&[400]);
    s.send(vec![firing(
        &[("alertname", "B")],
        T0 + 33_000,
        T0 + 33_000,
    )]);
    s.at(33_000 + 30_000).await;
    assert_eq!(hook.all().len(), 4);
    assert_eq!(s.notifier.pending_retries(), 0, "400 is not retried");
}

#[tokio::test]
async fn group_by_all_labels_and_max_alerts_truncation() {
    let hook = Hook::start().await;
    let yaml = format!(
        r#"
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  routes:
  - matchers: [alertname="Many"]
    group_by: [alertname]
receivers:
- name: hook
  webhook_configs:
  - url: {}/hook
    max_alerts: 2
"#,
        hook.url
    );
    let s = setup(&yaml);
    s.send(
        (0..5)
            .map(|i| {
                firing(
                    &[("alertname", "Many"), ("instance", &i.to_string())],
                    T0,
                    T0,
                )
            })
            .chain([
                firing(&[("alertname", "Each"), ("instance", "x")], T0, T0),
                firing(&[("alertname", "Each"), ("instance", "y")], T0, T0),
            ])
            .collect(),
    );
    s.at(0).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 3);
    let many = got
        .iter()
        .find(|m| m["groupLabels"]["alertname"] == "Many")
        .unwrap();
    assert_eq!(many["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(many["truncatedAlerts"], 3);
    assert!(got.iter().any(|m| m["groupLabels"]["instance"] == "y"));
}

#[tokio::test]
async fn alerts_without_end_resolve_after_resolve_timeout() {
    let hook = Hook::start().await;
    let s = setup(&webhook_config(
        &hook.url,
        "",
        "global:\n  resolve_timeout: 2m\n",
    ));
    let mut a = firing(&[("alertname", "A")], T0, T0);
    a.ends_at_ms = None;
    s.send(vec![a]);
    s.at(30_000).await;
    assert_eq!(s.notifier.alerts(&tenant()).len(), 1);
    s.at(30_000 + 5 * M).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["status"], "resolved");
    assert!(s.notifier.alerts(&tenant()).is_empty());
}

#[test]
fn invalid_configs_are_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(oxeye_core::ManualClock::new(T0));
    let err = |yaml: &str| {
        Notifier::new(yaml, dir.path().to_path_buf(), clock.clone())
            .unwrap_err()
            .to_string()
    };
    let e = err("route:\n  receiver: nope\nreceivers:\n- name: a\n");
    assert!(e.contains("undefined receiver \"nope\""), "{e}");
    let e = err("route:\n  receiver: a\n  routes:\n  - matchers: ['foo']\nreceivers:\n- name: a\n");
    assert!(e.contains("bad matcher format"), "{e}");
    let e = err("route:\n  receiver: a\n  group_wait: soon\nreceivers:\n- name: a\n");
    assert!(e.contains("not a valid duration string"), "{e}");
    let e = err(
        "route:\n  receiver: a\n  routes:\n  - mute_time_intervals: [x]\nreceivers:\n- name: a\n",
    );
    assert!(e.contains("undefined time interval \"x\""), "{e}");
    let e = err("receivers:\n- name: a\n");
    assert!(e.contains("no route"), "{e}");
    // Empty config: a default receiver that notifies nowhere.
    let n = Notifier::new("", dir.path().to_path_buf(), clock.clone()).unwrap();
    assert_eq!(n.receivers(), vec!["default".to_string()]);
    // A bad reload keeps the old config.
    assert!(n.apply_config("route: {receiver: x}\n").is_err());
    assert_eq!(n.receivers(), vec!["default".to_string()]);
    n.apply_config("route: {receiver: x}\nreceivers: [{name: x}]\n")
        .unwrap();
    assert_eq!(n.receivers(), vec!["x".to_string()]);
}

#[tokio::test]
async fn run_loop_delivers_on_the_system_clock_and_stops_on_shutdown() {
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route: {{receiver: hook, group_wait: 0s}}\nreceivers:\n- name: hook\n  webhook_configs: [{{url: '{}/hook'}}]\n",
        hook.url
    );
    let n = Notifier::new(
        &yaml,
        dir.path().to_path_buf(),
        std::sync::Arc::new(oxeye_core::SystemClock),
    )
    .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(n.clone().run(rx));
    let now = oxeye_core::Clock::now_ms(&oxeye_core::SystemClock);
    let sent = std::time::Instant::now();
    oxeye_rules::alert::AlertSink::send(
        &*n,
        &tenant(),
        vec![firing(&[("alertname", "Now")], now, now)],
    );
    while hook.delivered("/hook").is_empty() {
        assert!(
            sent.elapsed() < std::time::Duration::from_secs(5),
            "no notification"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let latency = sent.elapsed();
    eprintln!("alert to webhook latency with group_wait 0s: {latency:?}");
    assert!(
        latency < std::time::Duration::from_secs(1),
        "alert to webhook took {latency:?}"
    );
    tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(2), task)
        .await
        .expect("run returns on shutdown")
        .unwrap();
    assert!(
        dir.path().join("nflog.json").exists(),
        "notification log persisted"
    );
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_other_groups() {
    let hook = Hook::start().await;
    // Accepts connections and never answers.
    let stuck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}", stuck.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = stuck.accept().await {
            held.push(c);
        }
    });
    let yaml = format!(
        r#"
route:
  receiver: fast
  group_by: [alertname]
  group_wait: 0s
  routes:
  - matchers: [alertname="Slow"]
    receiver: slow
receivers:
- name: fast
  webhook_configs: [{{url: '{}/fast'}}]
- name: slow
  webhook_configs: [{{url: '{}/slow'}}]
"#,
        hook.url, stuck_url
    );
    let dir = tempfile::tempdir().unwrap();
    let n = Notifier::new(
        &yaml,
        dir.path().to_path_buf(),
        std::sync::Arc::new(oxeye_core::SystemClock),
    )
    .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(n.clone().run(rx));
    let now = oxeye_core::Clock::now_ms(&oxeye_core::SystemClock);
    oxeye_rules::alert::AlertSink::send(
        &*n,
        &tenant(),
        vec![firing(&[("alertname", "Slow")], now, now)],
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let sent = std::time::Instant::now();
    oxeye_rules::alert::AlertSink::send(
        &*n,
        &tenant(),
        vec![firing(&[("alertname", "Fast")], now, now)],
    );
    while hook.delivered("/fast").is_empty() {
        assert!(
            sent.elapsed() < std::time::Duration::from_secs(3),
            "fast receiver waited for the stuck one"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tx.send(true).unwrap();
}

#[tokio::test]
async fn notify_group_key_and_alert_order_are_alertmanagers() {
    // Alertmanager keys a group by the route's matchers sorted by name and the group
    // labels as `{a="1", b="2"}`, and orders a notification's alerts by `job`, then
    // `instance`, then labels, so `max_alerts` keeps the same ones.
    let hook = Hook::start().await;
    let yaml = format!(
        r#"
route:
  receiver: hook
  group_wait: 1s
  routes:
  - matchers: ['team="db"', 'env=~"prod|stage"']
    group_by: [alertname, env]
receivers:
- name: hook
  webhook_configs:
  - url: {}/hook
    max_alerts: 2
"#,
        hook.url
    );
    let s = setup(&yaml);
    let a = |inst: &str| {
        firing(
            &[
                ("alertname", "A"),
                ("env", "prod"),
                ("team", "db"),
                ("instance", inst),
            ],
            T0,
            T0,
        )
    };
    s.send(vec![a("i5"), a("i4"), a("i3")]);
    s.at(1_000).await;
    let got = hook.delivered("/hook");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0]["groupKey"],
        "{}/{env=~\"prod|stage\",team=\"db\"}:{alertname=\"A\", env=\"prod\"}"
    );
    let instances: Vec<String> = alert_names(&got[0]).into_iter().map(|a| a.1).collect();
    assert_eq!(instances, vec!["i3", "i4"]);
    assert_eq!(got[0]["truncatedAlerts"], 1);
    let groups = s.notifier.groups(&tenant());
    let in_group: Vec<&str> = groups[0]
        .alerts
        .iter()
        .map(|v| v.alert.labels["instance"].as_str())
        .collect();
    assert_eq!(
        in_group,
        vec!["i3", "i4", "i5"],
        "the API lists them in that order too"
    );
}

#[tokio::test]
async fn notify_flushes_keep_their_schedule_and_repeat_after_more_than_repeat_interval() {
    // Alertmanager flushes a group every group_interval from its first flush however
    // late a round runs, and re-sends only once more than repeat_interval has passed
    // since the logged notification.
    let hook = Hook::start().await;
    let yaml = format!(
        "route: {{receiver: hook, group_by: [alertname], group_wait: 1s, group_interval: 2s, repeat_interval: 6s}}\nreceivers:\n- name: hook\n  webhook_configs: [{{url: '{}/hook'}}]\n",
        hook.url
    );
    let s = setup(&yaml);
    s.send(vec![firing(
        &[("alertname", "A"), ("instance", "1")],
        T0,
        T0,
    )]);
    // A late round does not move the schedule: the next flush is still due at 3s.
    s.at(1_150).await;
    assert_eq!(hook.delivered("/hook").len(), 1);
    s.clock.set(T0 + 2_000);
    s.send(vec![firing(
        &[("alertname", "A"), ("instance", "2")],
        T0 + 2_000,
        T0 + 2_000,
    )]);
    s.at(3_000).await;
    assert_eq!(
        hook.delivered("/hook").len(),
        2,
        "new alert at the next flush"
    );
    for t in [5_000, 7_000] {
        s.at(t).await;
        assert_eq!(hook.delivered("/hook").len(), 2, "no repeat at {t} ms");
    }
    s.at(9_000).await;
    assert_eq!(
        hook.delivered("/hook").len(),
        2,
        "exactly repeat_interval is not more"
    );
    s.at(11_000).await;
    assert_eq!(
        hook.delivered("/hook").len(),
        3,
        "repeated after the interval"
    );
}

#[tokio::test]
async fn notify_a_group_muted_for_a_while_is_not_news_when_the_silence_ends() {
    // When every alert of a group is muted a flush sends nothing and leaves the
    // notification log alone (Alertmanager's pipeline stops there), so after the
    // silence the still-firing alert waits for repeat_interval like before it.
    let hook = Hook::start().await;
    let s = setup(&webhook_config(&hook.url, "", ""));
    s.send(vec![firing(&[("alertname", "A")], T0, T0)]);
    s.at(30_000).await;
    assert_eq!(hook.delivered("/hook").len(), 1);
    s.clock.set(T0 + M);
    let id = s
        .notifier
        .upsert_silence(&tenant(), silence_for("alertname", "A", T0 + 60 * M))
        .await
        .unwrap();
    s.at(30_000 + 5 * M).await;
    assert_eq!(hook.delivered("/hook").len(), 1, "muted");
    s.clock.set(T0 + 6 * M);
    s.notifier.expire_silence(&tenant(), &id).await.unwrap();
    s.at(30_000 + 10 * M).await;
    s.at(30_000 + 15 * M).await;
    assert_eq!(
        hook.delivered("/hook").len(),
        1,
        "already notified, repeat_interval not over: {:?}",
        hook.all()
    );
}
