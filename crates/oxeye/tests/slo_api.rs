//! SLO files loaded by the server: the generated rules run and `/api/v1/slos` reports the
//! SLO's SLI, burn rates, budget remaining and its firing alerts.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::alertmanager_external::push;
use crate::harness::Server;

const SPEC: &str = r#"version: prometheus/v1
service: checkout
labels:
  team: payments
slos:
  - name: requests-availability
    objective: 99
    description: Checkout requests succeed.
    sli:
      events:
        error_query: sum(rate(checkout_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(checkout_requests_total[{{.window}}]))
    alerting:
      name: CheckoutErrorBudgetBurn
      page_alert:
        labels: {severity: critical}
      ticket_alert:
        labels: {severity: warning}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_state_is_reported_from_the_generated_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slo.yml"), SPEC).unwrap();
    let config = "global:\n  evaluation_interval: 1s\nslo_files: [slo.yml]\n";
    let server = Server::start(dir.path(), Some(config)).await;

    // half of the requests fail: 10 ok and 10 errors per second over the last two minutes
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut text = String::new();
    for i in 0..=8 {
        let t = now_ms - 120_000 + i * 15_000;
        let n = i * 150;
        text.push_str(&format!(
            "checkout_requests_total{{code=\"200\"}} {n} {t}\ncheckout_requests_total{{code=\"500\"}} {n} {t}\n"
        ));
    }
    push(&server, &text).await;

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let slo = loop {
        let body: serde_json::Value = serde_json::from_slice(
            &client
                .get(format!("{}/api/v1/slos", server.http))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(body["status"], "success");
        let slo = body["data"][0].clone();
        let ready = !slo["sli"].is_null()
            && !slo["error_budget_remaining"].is_null()
            && slo["alerts"].as_array().is_some_and(|a| a.len() == 2);
        if ready {
            break slo;
        }
        assert!(
            Instant::now() < deadline,
            "slo state not reported: {body}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(slo["id"], "checkout-requests-availability");
    assert_eq!(slo["service"], "checkout");
    assert_eq!(slo["objective"], 99.0);
    let near = |v: &serde_json::Value, want: f64| {
        v.as_f64()
            .is_some_and(|x| (x - want).abs() < want.abs() * 0.02 + 1e-9)
    };
    assert!(near(&slo["sli"], 0.5), "{slo}");
    assert!(near(&slo["burn_rates"]["5m"], 50.0), "{slo}");
    assert!(near(&slo["current_burn_rate"], 50.0), "{slo}");
    // the whole period so far burnt at 50x: the budget is overspent 49 times
    assert!(near(&slo["error_budget_remaining"], -49.0), "{slo}");
    let alerts = slo["alerts"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["severity"] == "page" && a["state"] == "firing"),
        "{slo}"
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["severity"] == "ticket" && a["state"] == "firing"),
        "{slo}"
    );
    assert!(server.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_picks_up_new_slo_files_and_refuses_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = "global:\n  evaluation_interval: 1s\nslo_files: [slos/*.yml]\n";
    let server = Server::start(dir.path(), Some(config)).await;
    let client = reqwest::Client::new();
    let slos = || async {
        let body: serde_json::Value = serde_json::from_slice(
            &client
                .get(format!("{}/api/v1/slos", server.http))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        body["data"].as_array().unwrap().len()
    };
    assert_eq!(slos().await, 0);

    std::fs::create_dir_all(dir.path().join("slos")).unwrap();
    std::fs::write(dir.path().join("slos/checkout.yml"), SPEC).unwrap();
    let resp = client
        .post(format!("{}/-/reload", server.http))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    assert_eq!(slos().await, 1);
    let rules: serde_json::Value = serde_json::from_slice(
        &client
            .get(format!("{}/api/v1/rules", server.http))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rules["data"]["groups"].as_array().unwrap().len(), 3);

    // an invalid spec fails the reload and keeps the SLO loaded before
    std::fs::write(
        dir.path().join("slos/broken.yml"),
        "version: prometheus/v1\nservice: x\nslos:\n  - name: y\n    objective: 200\n",
    )
    .unwrap();
    let resp = client
        .post(format!("{}/-/reload", server.http))
        .send()
        .await
        .unwrap();
    assert!(!resp.status().is_success());
    assert_eq!(slos().await, 1);
}
