//! The writer end to end: events in, the session read back as the admin page reads it.

use std::time::Duration;

use super::*;
use crate::history::kept::read;
use crate::protocol::linker::PayloadKind;

#[test]
fn lines_never_go_back_in_time() {
    let (folder, id, started, writer) = new_writer();
    let at = |ms| started + Duration::from_millis(ms);
    let (tx, rx) = crate::support::queue::bounded(16);
    // Two threads' events, queued in the other order than they happened.
    for (ms, player) in [(2000, "A"), (1000, "B")] {
        let event = Event::Player {
            at: at(ms),
            id: player.into(),
            state: "in_game".into(),
        };
        assert!(tx.try_send(event).is_ok());
    }
    let end = Event::End {
        at: at(3000),
        until: Instant::now(),
    };
    assert!(tx.try_send(end).is_ok());
    writer.run(rx);

    let session = read::open(folder.path(), &id).unwrap();
    let mut times = Vec::new();
    session
        .events(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            times.push(value["t"].as_u64().unwrap());
        })
        .unwrap();
    assert_eq!(times, [2000, 2000]);
}

#[test]
fn frames_larger_than_a_slice_are_compressed_as_they_fill_and_read_back_whole() {
    let (folder, id, started, writer) = new_writer();
    let at = |ms| started + Duration::from_millis(ms);
    const PLAYERS: u64 = 3000;
    let (tx, rx) = crate::support::queue::bounded(PLAYERS as usize + 1);
    // 3 000 player lines of about 190 bytes over 15 s: two frames, each several slices.
    for i in 0..PLAYERS {
        let event = Event::Player {
            at: at(i * 5),
            id: format!("{i:0>120}"),
            state: "in_game".into(),
        };
        assert!(tx.try_send(event).is_ok());
    }
    let end = Event::End {
        at: at(PLAYERS * 5),
        until: Instant::now(),
    };
    assert!(tx.try_send(end).is_ok());
    writer.run(rx);

    let session = read::open(folder.path(), &id).unwrap();
    assert_eq!(session.info.chunks.len(), 2, "{:?}", session.info.chunks);
    let (mut lines, mut snapshot, mut text, mut last) = (Vec::new(), 0, 0, 0);
    session
        .lines_from(0, |line| {
            text += line.len() + 1;
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = value["t"].as_u64().unwrap();
            assert!(t >= last, "{t} after {last}");
            last = t;
            if value["snap"] == true {
                snapshot += 1;
            } else {
                lines.push(value["player"]["id"].as_str().unwrap().to_string());
            }
            true
        })
        .unwrap();
    let expected: Vec<String> = (0..PLAYERS).map(|i| format!("{i:0>120}")).collect();
    assert_eq!(lines, expected);
    // Told to stop, reading stops there, in the middle of a frame too.
    let mut calls = 0;
    session
        .lines_from(0, |_| {
            calls += 1;
            calls < 10
        })
        .unwrap();
    assert_eq!(calls, 10);
    // The second frame starts with every player's state so far.
    assert_eq!(snapshot, 2000);
    assert!(text > 2 * STAGE_BYTES, "{text} bytes");
    let compressed: u64 = session.info.chunks.iter().map(|c| c.len).sum();
    assert!(
        (compressed as usize) < text / 4,
        "{compressed} of {text} bytes"
    );
}

#[test]
fn a_snapshot_writes_a_payload_players_share_once() {
    let (folder, id, started, writer) = new_writer();
    let at = |ms| started + Duration::from_millis(ms);
    let (tx, rx) = crate::support::queue::bounded(16);
    let world = crate::protocol::linker::frame_of(r#"{"contents":{"pointsLoc":[1,2]}}"#);
    let other = crate::protocol::linker::frame_of(r#"{"contents":{"pointsLoc":[3]}}"#);
    let out = |ms, players: &[&str], frame: &Frame| Event::Out {
        at: at(ms),
        players: players.iter().map(|p| p.to_string()).collect(),
        frame: frame.clone(),
        kind: PayloadKind::OneShot,
    };
    assert!(tx.try_send(out(1000, &["A", "B", "C"], &world)).is_ok());
    assert!(tx.try_send(out(2000, &["C"], &other)).is_ok());
    // The next frame starts with the view so far.
    let later = Event::Player {
        at: at(CHUNK_MS + 500),
        id: "D".into(),
        state: "in_game".into(),
    };
    assert!(tx.try_send(later).is_ok());
    let end = Event::End {
        at: at(CHUNK_MS + 1000),
        until: Instant::now(),
    };
    assert!(tx.try_send(end).is_ok());
    writer.run(rx);

    let session = read::open(folder.path(), &id).unwrap();
    assert_eq!(session.info.chunks.len(), 2, "{:?}", session.info.chunks);
    let mut snapshot = Vec::new();
    session
        .lines_from(CHUNK_MS, |line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            if value["snap"] == true {
                let mut players: Vec<String> = value["out"]["p"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect();
                players.sort();
                snapshot.push((players, value["out"]["f"]["contents"]["pointsLoc"].clone()));
            }
            true
        })
        .unwrap();
    snapshot.sort_by_key(|(players, _)| players.clone());
    assert_eq!(
        snapshot,
        [
            (
                vec!["A".to_string(), "B".to_string()],
                serde_json::json!([1, 2])
            ),
            (vec!["C".to_string()], serde_json::json!([3])),
        ]
    );
}

fn new_writer() -> (tempfile::TempDir, String, Instant, Writer) {
    let folder = tempfile::tempdir().unwrap();
    let config = SessionsConfig {
        enabled: true,
        folder_path: folder.path().to_path_buf(),
        max_total_bytes: u64::MAX,
        max_count: 10,
        world_updates_per_second: 5.0,
        max_queued_messages: 16,
    };
    let start = Start::default();
    let id = new_id(folder.path(), &start);
    let started = Instant::now();
    let writer = Writer::create(folder.path(), &id, &start, &config, started).unwrap();
    (folder, id, started, writer)
}
