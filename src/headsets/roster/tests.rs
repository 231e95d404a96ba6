//! The players' state machine driven event by event, without sockets or a clock: each test gives
//! the times and reads the effects and the view.

use super::*;

type S = Roster<u32>;

fn addr() -> SocketAddr {
    "127.0.0.1:5000".parse().unwrap()
}

const KA: Keepalive = Keepalive {
    ms: 5000,
    as_text: true,
};

/// A fixed time, `seconds` after 14:00 UTC on 7 December 2026, in a zone an hour ahead.
fn at(seconds: i64) -> Zoned {
    "2026-12-07T14:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(1)))
}

/// The `date_connection` of the `json_state` frames sent.
fn dates(effects: &[Effect<u32>]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { frame, .. } => {
                let json: serde_json::Value = serde_json::from_str(frame.as_str()).ok()?;
                Some(json["date_connection"].as_str()?.to_string())
            }
            _ => None,
        })
        .collect()
}

fn session(max: Option<u32>) -> S {
    let mut s = S::new(Policy {
        grace: Duration::from_secs(60),
        aggressive_disconnect: false,
        max_players: 100,
    });
    s.set_limits(Limits { min: None, max });
    s
}

fn creates(effects: &[Effect<u32>]) -> Vec<(String, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Create { id, ticket } => Some((id.to_string(), *ticket)),
            _ => None,
        })
        .collect()
}

fn states(effects: &[Effect<u32>]) -> Vec<(u32, bool)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { conn, frame } => {
                Some((*conn, frame.as_str().contains("\"in_game\":true")))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn players_join_only_when_live_and_only_when_acknowledged() {
    let mut s = session(None);
    let e = s.connect("A", 1, addr(), KA, &at(0)).unwrap();
    assert_eq!(states(&e), vec![(1, false)]);
    assert!(creates(&e).is_empty(), "no experiment yet");
    let e = s.experiment(Some(1));
    let c = creates(&e);
    assert_eq!(c.len(), 1);
    assert!(
        states(&e).is_empty(),
        "not in game before GAMA acknowledges"
    );
    let e = s.join_result("A", c[0].1, JoinOutcome::Accepted);
    assert_eq!(states(&e), vec![(1, true)]);
    assert!(s.view().0[0].in_game);
}

#[test]
fn a_refused_join_rolls_back_and_frees_the_slot() {
    let mut s = session(Some(1));
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    assert!(
        creates(&s.connect("B", 2, addr(), KA, &at(0)).unwrap()).is_empty(),
        "B waits"
    );
    let e = s.join_result("A", c[0].1, JoinOutcome::Refused);
    assert!(states(&e).is_empty());
    assert_eq!(
        creates(&e).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["B"]
    );
    let view = s.view().0;
    assert_eq!(view[0].state, "refused");
    assert!(!view[0].in_game);
}

#[test]
fn a_late_answer_still_decides() {
    let mut s = session(Some(1));
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    assert!(creates(&s.connect("B", 2, addr(), KA, &at(0)).unwrap()).is_empty());
    // The deadline passed: A keeps its slot and says GAMA is late, B still waits.
    assert!(s.join_late("A", c[0].1).is_empty());
    let view = s.view().0;
    assert_eq!((view[0].state, view[0].in_game), ("no_answer", false));
    assert_eq!(view[1].state, "waiting");
    // GAMA's late yes puts A in the game.
    assert_eq!(
        states(&s.join_result("A", c[0].1, JoinOutcome::Accepted)),
        vec![(1, true)]
    );
    assert_eq!(s.view().0[0].state, "in_game");
    // A late answer of an old attempt changes nothing.
    assert!(s.join_late("A", c[0].1).is_empty());
    assert_eq!(s.view().0[0].state, "in_game");
}

#[test]
fn no_answer_at_all_frees_the_slot_without_saying_refused() {
    let mut s = session(Some(1));
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    s.join_late("A", c[0].1);
    let e = s.join_result("A", c[0].1, JoinOutcome::NoAnswer);
    assert!(states(&e).is_empty());
    assert_eq!(s.view().0[0].state, "no_answer");
}

#[test]
fn max_players_is_enforced_and_waiting_players_are_admitted_in_arrival_order() {
    let mut s = session(Some(2));
    s.experiment(Some(1));
    let mut tickets = HashMap::new();
    for (i, id) in ["A", "B", "C", "D"].iter().enumerate() {
        for (cid, t) in creates(&s.connect(id, i as u32, addr(), KA, &at(0)).unwrap()) {
            tickets.insert(cid, t);
        }
    }
    assert_eq!(tickets.len(), 2, "only two slots");
    for (id, t) in &tickets {
        s.join_result(id, *t, JoinOutcome::Accepted);
    }
    let (view, counts) = s.view();
    assert_eq!(counts.in_game, 2);
    assert_eq!(counts.waiting, 2);
    assert_eq!(view[2].state, "waiting");
    let e = s.leave("A", "bye").unwrap();
    assert!(e.contains(&Effect::Remove { id: Arc::from("A") }));
    assert!(e.contains(&Effect::Close {
        conn: 0,
        code: 1000,
        reason: "bye".into()
    }));
    assert_eq!(
        creates(&e).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["C"]
    );
}

#[test]
fn takeover_keeps_the_place_in_game_and_closes_the_old_socket() {
    let mut s = session(None);
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    s.join_result("A", c[0].1, JoinOutcome::Accepted);
    let e = s.connect("A", 2, addr(), KA, &at(0)).unwrap();
    assert!(matches!(&e[0], Effect::Close { conn: 1, .. }));
    assert!(e.contains(&Effect::Route {
        id: Arc::from("A"),
        conn: Some(2)
    }));
    assert_eq!(states(&e), vec![(2, true)]);
    assert!(creates(&e).is_empty(), "no second create_player");
    // The old socket's close is stale and changes nothing.
    assert!(s.disconnect("A", &1, &at(0)).is_empty());
    assert_eq!(s.view().1.connected, 1);
}

#[test]
fn dropped_players_keep_their_slot_for_the_grace_time() {
    let mut s = session(Some(1));
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    s.join_result("A", c[0].1, JoinOutcome::Accepted);
    s.connect("B", 2, addr(), KA, &at(0)).unwrap();
    let e = s.disconnect("A", &1, &at(0));
    let token = match &e[..] {
        [
            Effect::Route { conn: None, .. },
            Effect::StartGrace { token, .. },
        ] => *token,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.view().1.waiting, 1, "B still waits: A keeps its slot");
    // A comes back in time: no new create, straight back in game.
    let e = s.connect("A", 3, addr(), KA, &at(0)).unwrap();
    assert_eq!(states(&e), vec![(3, true)]);
    assert!(s.grace_expired("A", token).is_empty(), "stale timer");
    // A drops again and this time does not come back.
    let e = s.disconnect("A", &3, &at(0));
    let Effect::StartGrace { token, .. } = e[1].clone() else {
        panic!("{e:?}")
    };
    let e = s.grace_expired("A", token);
    assert!(e.contains(&Effect::Remove { id: Arc::from("A") }));
    assert_eq!(
        creates(&e).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["B"]
    );
    assert!(s.view().0.iter().all(|p| p.id != "A"));
}

#[test]
fn aggressive_disconnect_removes_at_once() {
    let mut s = S::new(Policy {
        grace: Duration::from_secs(60),
        aggressive_disconnect: true,
        max_players: 100,
    });
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    s.join_result("A", c[0].1, JoinOutcome::Accepted);
    let e = s.disconnect("A", &1, &at(0));
    assert_eq!(
        e,
        vec![
            Effect::Route {
                id: Arc::from("A"),
                conn: None
            },
            Effect::Remove { id: Arc::from("A") }
        ]
    );
    assert!(s.view().0.iter().all(|p| p.id != "A"));
}

#[test]
fn a_new_epoch_resets_and_re_adds_everyone() {
    let mut s = session(None);
    s.experiment(Some(1));
    let c = creates(&s.connect("A", 1, addr(), KA, &at(0)).unwrap());
    s.join_result("A", c[0].1, JoinOutcome::Accepted);
    // Reload: not live, then live again.
    let e = s.experiment(None);
    assert_eq!(states(&e), vec![(1, false)]);
    assert!(creates(&e).is_empty());
    let e = s.experiment(Some(2));
    let c2 = creates(&e);
    assert_eq!(c2.len(), 1);
    // A late acknowledgement of the first epoch is ignored.
    assert!(s.join_result("A", c[0].1, JoinOutcome::Accepted).is_empty());
    assert_eq!(
        states(&s.join_result("A", c2[0].1, JoinOutcome::Accepted)),
        vec![(1, true)]
    );
    // GAMA restarted while live: straight to a new epoch.
    let e = s.experiment(Some(3));
    assert_eq!(states(&e), vec![(1, false)]);
    assert_eq!(creates(&e).len(), 1);
}

#[test]
fn auto_launch_fires_once_when_max_players_are_connected() {
    let mut s = session(Some(2));
    assert!(
        !s.connect("A", 1, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch)
    );
    assert!(
        s.connect("B", 2, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch)
    );
    assert!(
        !s.connect("C", 3, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch)
    );
    s.disarm_auto_launch();
    s.leave("C", "x");
    assert!(
        !s.connect("C", 4, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch),
        "still at max"
    );
    s.disconnect("A", &1, &at(0));
    assert!(
        !s.connect("A", 5, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch),
        "never fell below max"
    );
    s.disconnect("A", &5, &at(0));
    s.disconnect("C", &4, &at(0));
    assert!(
        s.connect("A", 6, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch),
        "re-armed"
    );
    let mut unlimited = session(None);
    assert!(
        !unlimited
            .connect("A", 1, addr(), KA, &at(0))
            .unwrap()
            .contains(&Effect::AutoLaunch)
    );
}

#[test]
fn the_number_of_players_is_bounded() {
    let mut s = S::new(Policy {
        grace: Duration::from_secs(60),
        aggressive_disconnect: false,
        max_players: 2,
    });
    s.connect("A", 1, addr(), KA, &at(0)).unwrap();
    s.connect("B", 2, addr(), KA, &at(0)).unwrap();
    assert_eq!(
        s.connect("C", 3, addr(), KA, &at(0)),
        Err(RegisterError::Full(2))
    );
    // A known player can always come back, even when the relay is full.
    s.disconnect("A", &1, &at(0));
    assert!(s.connect("A", 4, addr(), KA, &at(0)).is_ok());
}

#[test]
fn the_times_shown_are_the_ones_the_caller_gives() {
    let mut s = session(None);
    let e = s.connect("A", 1, addr(), KA, &at(0)).unwrap();
    assert_eq!(dates(&e), ["15:00"], "the headset's local time");
    let view = s.view().0.remove(0);
    assert_eq!(view.connected_since, "2026-12-07T14:00:00Z");
    assert_eq!((view.disconnected_since, view.grace_until), (None, None));
    // Dropped 90 s later: the grace time (60 s) runs from then.
    s.disconnect("A", &1, &at(90));
    let view = s.view().0.remove(0);
    assert_eq!(
        view.disconnected_since.as_deref(),
        Some("2026-12-07T14:01:30Z")
    );
    assert_eq!(view.grace_until.as_deref(), Some("2026-12-07T14:02:30Z"));
    // Back: the headset is told its new connection's time, the first one is kept.
    let e = s.connect("A", 2, addr(), KA, &at(600)).unwrap();
    assert_eq!(dates(&e), ["15:10"]);
    let view = s.view().0.remove(0);
    assert_eq!(view.connected_since, "2026-12-07T14:00:00Z");
    assert_eq!((view.disconnected_since, view.grace_until), (None, None));
}

#[test]
fn ids_are_validated() {
    assert_eq!(validate_id("", 10), Err(RegisterError::Empty));
    assert_eq!(
        validate_id("abcdefghijk", 10),
        Err(RegisterError::TooLong(10))
    );
    assert_eq!(
        validate_id("a\nb", 10),
        Err(RegisterError::ControlCharacters)
    );
    assert_eq!(validate_id("Player_101", 128), Ok(()));
}
