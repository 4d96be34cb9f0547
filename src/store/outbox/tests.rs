//! The outbox's queue rules on a real SQLite file: ordering behind a trigger in backoff,
//! listing and re-queueing given-up rows.

use super::*;
use crate::model::EventKind;

fn item(sink: &str, key: &str, event: OutboxEvent) -> OutboxItem {
    OutboxItem {
        sink: sink.into(),
        idempotency_key: key.into(),
        payload: serde_json::json!({ "key": key }),
        subject: None,
        event,
    }
}

fn keys(rows: &[OutboxRow]) -> Vec<&str> {
    rows.iter().map(|r| r.idempotency_key.as_str()).collect()
}

/// A trigger in backoff holds back the resolve of the same drift on the same sink (a
/// PagerDuty incident would be left open), and nothing else.
#[test]
fn given_up_rows_are_listed_and_requeued_never_delivered_ones() {
    for (mut db, _keep) in crate::store::sql::testing::fresh_stores() {
        eprintln!("engine: {}", db.engine_name());
        let t0: Timestamp = "2026-11-21T10:00:00Z".parse().expect("ts");
        let fire = OutboxEvent::Alert(EventKind::Unmatched);
        {
            let tx = db.transaction().expect("tx");
            let items = [
                item("hook", "d-00000001:unmatched", fire),
                item("hook", "d-00000002:unmatched", fire),
                item("pd", "d-00000003:unmatched", fire),
                item("hook", "d-00000004:unmatched", fire),
            ];
            enqueue(&tx, t0, &items).expect("enqueue");
            tx.commit().expect("commit");
        }
        let rows = db.outbox_entries(false).expect("rows");
        for r in &rows[..3] {
            db.outbox_abandon(r.id, t0, "HTTP 503").expect("abandon");
        }
        db.outbox_delivered(rows[3].id, t0).expect("delivered");
        let listed = db.outbox_entries(false).expect("rows");
        assert_eq!(listed.len(), 3, "delivered rows are not listed by default");
        assert!(listed.iter().all(|r| r.state == RowState::Abandoned));
        assert_eq!(listed[0].last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(db.outbox_entries(true).expect("all").len(), 4);
        let later: Timestamp = "2026-11-22T10:00:00Z".parse().expect("ts");
        assert_eq!(
            db.outbox_requeue(Some("hook"), &[], later)
                .expect("requeue"),
            2
        );
        assert_eq!(
            db.outbox_requeue(None, &[rows[3].id], later)
                .expect("requeue"),
            0
        );
        assert_eq!(
            db.outbox_requeue(None, &[rows[2].id], later)
                .expect("requeue"),
            1
        );
        let due = db.outbox_due(later, 10).expect("due");
        assert_eq!(
            keys(&due),
            [
                "d-00000001:unmatched",
                "d-00000002:unmatched",
                "d-00000003:unmatched"
            ]
        );
        assert!(
            due.iter()
                .all(|r| r.attempts == 0 && r.queued_at == later && r.created_at == t0)
        );
    }
}

#[test]
fn a_resolve_waits_for_its_trigger_in_backoff() {
    for (mut db, _keep) in crate::store::sql::testing::fresh_stores() {
        eprintln!("engine: {}", db.engine_name());
        let t0: Timestamp = "2026-11-21T10:00:00Z".parse().expect("ts");
        let fire = OutboxEvent::Alert(EventKind::Unmatched);
        {
            let tx = db.transaction().expect("tx");
            enqueue(
                &tx,
                t0,
                &[
                    item("pd", "d-00000001:unmatched", fire),
                    item("pd", "d-00000001:resolved", OutboxEvent::Resolved),
                    item("hook", "d-00000001:resolved", OutboxEvent::Resolved),
                    item("pd", "d-00000002:unmatched", fire),
                ],
            )
            .expect("enqueue");
            tx.commit().expect("commit");
        }
        let all = db.outbox_due(t0, 10).expect("due");
        assert_eq!(all.len(), 4, "nothing waits before any attempt");
        // The trigger failed and waits an hour.
        let trigger = all[0].id;
        db.outbox_retry(
            trigger,
            "2026-11-21T11:00:00Z".parse().expect("ts"),
            "HTTP 503",
        )
        .expect("retry");
        let due = db.outbox_due(t0, 10).expect("due");
        assert_eq!(
            keys(&due),
            ["d-00000001:resolved", "d-00000002:unmatched"],
            "the pd resolve waits; the hook resolve (another sink) and another drift do not"
        );
        assert_eq!(due[0].sink, "hook");
        db.outbox_delivered(trigger, t0).expect("delivered");
        let due = db.outbox_due(t0, 10).expect("due");
        assert_eq!(
            keys(&due),
            [
                "d-00000001:resolved",
                "d-00000001:resolved",
                "d-00000002:unmatched"
            ]
        );
    }
}
