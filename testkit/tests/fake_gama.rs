//! Tests of the fake gama-server itself, driven by a plain tokio-tungstenite client, against the
//! behaviour described in `shared/protocol.md` §3 (server), §4.4 (linker output) and §6 (linker).

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use relay_testkit::{ContentShape, FakeGama, FakeGamaOptions};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound for anything that should happen at once.
const T: Duration = Duration::from_secs(5);

/// A bare WebSocket client, like the relay's GAMA link.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    socket_id: String,
}

/// How a connection ended.
#[derive(Debug, PartialEq)]
enum End {
    Close(u16, String),
    Dropped,
}

impl Client {
    /// Connects and checks the first frame is `ConnectionSuccessful` with a decimal socket id.
    async fn connect(gama: &FakeGama) -> anyhow::Result<Client> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", gama.addr()))
            .await
            .context("connect to fake-gama")?;
        let mut c = Client {
            ws,
            socket_id: String::new(),
        };
        let first = c.recv_raw().await?;
        let v: Value = serde_json::from_str(&first)?;
        let id = v["content"]
            .as_str()
            .context("content is a string")?
            .to_owned();
        assert_eq!(
            first,
            format!(r#"{{"type":"ConnectionSuccessful","content":"{id}"}}"#)
        );
        assert!(id.parse::<u32>().is_ok(), "socket id {id} is decimal");
        c.socket_id = id;
        Ok(c)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(text.to_owned())).await?;
        Ok(())
    }

    /// Next text frame (control frames skipped).
    async fn recv_raw(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + T;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .context("no frame from fake-gama within 5 s")?;
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => bail!("expected a text frame, got {other:?}"),
            }
        }
    }

    async fn recv(&mut self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.recv_raw().await?)?)
    }

    /// Sends a command and returns the next frame, which must be its reply.
    async fn request(&mut self, text: &str) -> anyhow::Result<Value> {
        self.send(text).await?;
        let reply = self.recv().await?;
        assert!(
            reply.get("command").is_some(),
            "expected the reply to {text}, got {reply}"
        );
        Ok(reply)
    }

    /// Proves that nothing is queued before the reply of a fresh command (a barrier, instead of
    /// waiting for silence).
    async fn barrier(&mut self) -> anyhow::Result<()> {
        let reply = self
            .request(r#"{"type":"validate","expr":"barrier"}"#)
            .await?;
        assert_eq!(
            reply["content"], "barrier",
            "unexpected frame before the barrier reply"
        );
        Ok(())
    }

    /// Waits for the end of the connection, skipping frames still in flight.
    /// A close frame is answered (by reading on) like any WebSocket client does.
    async fn end(&mut self) -> anyhow::Result<End> {
        let deadline = Instant::now() + T;
        let mut end = End::Dropped;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .context("connection still open after 5 s")?;
            match msg {
                Some(Ok(Message::Close(Some(f)))) => {
                    end = End::Close(u16::from(f.code), f.reason.as_str().to_owned());
                }
                Some(Ok(Message::Close(None))) => end = End::Close(1005, String::new()),
                Some(Ok(_)) => {} // frames still in flight are irrelevant here
                Some(Err(_)) | None => return Ok(end),
            }
        }
    }
}

fn is_type(v: &Value, ty: &str) -> bool {
    v["type"] == ty
}

const LOAD: &str = r#"{"type":"load","model":"/models/vr.gaml","experiment":"vr_xp"}"#;

/// Desktop fake with the experiment loaded and PAUSED, and a client that saw it happen.
async fn desktop_loaded(opts: FakeGamaOptions) -> anyhow::Result<(FakeGama, Client)> {
    let gama = FakeGama::start(opts).await?;
    let mut c = Client::connect(&gama).await?;
    let reply = c.request(LOAD).await?;
    assert_eq!(reply["content"], "vr_xp");
    assert_eq!(
        c.recv_raw().await?,
        r#"{"type":"SimulationStatus","content":"NOTREADY","exp_id":"0"}"#
    );
    let next = c.recv_raw().await?;
    let expected = if gama.options().autorun {
        "RUNNING"
    } else {
        "PAUSED"
    };
    assert_eq!(
        next,
        format!(r#"{{"type":"SimulationStatus","content":"{expected}","exp_id":"0"}}"#)
    );
    Ok((gama, c))
}

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn connection_successful_first_with_distinct_ids() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let a = Client::connect(&gama).await?;
    let b = Client::connect(&gama).await?;
    assert_ne!(a.socket_id, b.socket_id);
    gama.wait_open_connections(2, T).await?;
    assert_eq!(gama.accepted_connections(), 2);
    Ok(())
}

#[tokio::test]
async fn reply_echoes_the_command_exactly() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;
    // Odd spacing, key order and number spelling must all survive the echo.
    let cmd = r#"{"type":"validate", "expr":"1 + 1","api_id":"7","zeta":{"b":1.50,"a":[3,  2]},"alpha":null}"#;
    c.send(cmd).await?;
    let raw = c.recv_raw().await?;
    assert_eq!(
        raw,
        format!(r#"{{"type":"CommandExecutedSuccessfully","content":"1 + 1","command":{cmd}}}"#)
    );
    assert_eq!(gama.commands().len(), 1);
    assert_eq!(gama.commands_of_type("validate")[0]["api_id"], "7");
    Ok(())
}

#[tokio::test]
async fn bad_frames_get_gama_errors_and_never_kill_the_server() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;

    c.send("{not json").await?;
    let r = c.recv().await?;
    assert_eq!(r["type"], "MalformedRequest");
    assert!(r["content"].is_string());
    assert!(
        r.get("command").is_none(),
        "no command on unparsable input: {r}"
    );

    let r = c.request(r#"{"type":"foo","api_id":"1"}"#).await?;
    assert_eq!(r["type"], "GamaServerError");
    assert_eq!(r["content"], "Invalid command type: foo");
    assert_eq!(r["command"]["api_id"], "1");

    let r = c.request(r#"{"expr":"cycle"}"#).await?;
    assert_eq!(r["type"], "GamaServerError");

    // Binary frames are ignored.
    c.ws.send(Message::binary(vec![0u8, 159, 146, 150])).await?;
    c.barrier().await?;

    // Wrongly typed fields.
    let r = c
        .request(r#"{"type":"load","model":5,"experiment":["x"]}"#)
        .await?;
    assert_eq!(r["type"], "UnableToExecuteRequest");
    let r = c.request(r#"{"type":"step","nb_step":"x"}"#).await?;
    assert_eq!(
        r["type"], "UnableToExecuteRequest",
        "no experiment yet: {r}"
    );

    assert_eq!(gama.open_connections(), 1);
    Client::connect(&gama).await?;
    Ok(())
}

#[tokio::test]
async fn load_validates_its_parameters() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;
    let r = c.request(r#"{"type":"load","model":"/m.gaml"}"#).await?;
    assert_eq!(r["type"], "MalformedRequest");
    assert_eq!(
        r["content"],
        "For 'load', mandatory parameters are: 'model' and 'experiment'"
    );
    let r = c
        .request(r#"{"type":"load","model":"m.gaml","experiment":"e"}"#)
        .await?;
    assert_eq!(
        (r["type"].as_str(), r["content"].as_str()),
        (
            Some("UnableToExecuteRequest"),
            Some("'m.gaml' does not exist")
        )
    );
    let r = c
        .request(r#"{"type":"load","model":"/m.txt","experiment":"e"}"#)
        .await?;
    assert_eq!(r["content"], "'/m.txt' is not a gaml file");
    let r = c
        .request(
            r#"{"type":"load","model":"/m.gaml","experiment":"e","parameters":[{"name":"x"}]}"#,
        )
        .await?;
    assert_eq!(r["type"], "MalformedRequest");
    gama.set_load_error(Some("compilation failed"));
    let r = c.request(LOAD).await?;
    assert_eq!(
        (r["type"].as_str(), r["content"].as_str()),
        (Some("UnableToExecuteRequest"), Some("compilation failed"))
    );
    assert_eq!(gama.experiment_state(), "NONE");
    gama.clear_failures();
    let r = c.request(LOAD).await?;
    assert_eq!(r["type"], "CommandExecutedSuccessfully");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Desktop mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn desktop_load_answers_the_name_then_statuses() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    assert_eq!(gama.experiment_state(), "PAUSED");
    assert_eq!(gama.experiment_name().as_deref(), Some("vr_xp"));
    assert_eq!(gama.experiment_id().as_deref(), Some("0"));

    // Loading again replaces the experiment: NOTREADY then PAUSED again, players cleared.
    c.request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    assert_eq!(gama.players(), ["p1"]);
    let r = c
        .request(r#"{"type":"load","model":"/models/other.gaml","experiment":"other"}"#)
        .await?;
    assert_eq!(r["content"], "other");
    assert_eq!(c.recv().await?["content"], "NOTREADY");
    assert_eq!(c.recv().await?["content"], "PAUSED");
    assert!(gama.players().is_empty());
    assert_eq!(
        gama.experiment_model().as_deref(),
        Some("/models/other.gaml")
    );
    Ok(())
}

#[tokio::test]
async fn desktop_status_only_on_change() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    let r = c.request(r#"{"type":"play","exp_id":"0"}"#).await?;
    assert_eq!(r["type"], "CommandExecutedSuccessfully");
    assert_eq!(
        c.recv_raw().await?,
        r#"{"type":"SimulationStatus","content":"RUNNING","exp_id":"0"}"#
    );
    // Already running: success, no status.
    c.request(r#"{"type":"play","exp_id":"0"}"#).await?;
    c.barrier().await?;
    c.request(r#"{"type":"pause","exp_id":"0"}"#).await?;
    assert_eq!(c.recv().await?["content"], "PAUSED");
    c.request(r#"{"type":"pause","exp_id":"0"}"#).await?;
    c.barrier().await?;
    c.request(r#"{"type":"reload","exp_id":"0"}"#).await?;
    assert_eq!(c.recv().await?["content"], "NOTREADY");
    assert_eq!(c.recv().await?["content"], "PAUSED");
    c.request(r#"{"type":"stop","exp_id":"0"}"#).await?;
    assert_eq!(
        c.recv_raw().await?,
        r#"{"type":"SimulationStatus","content":"NONE","exp_id":"0"}"#
    );
    assert_eq!(gama.experiment_state(), "NONE");
    // stop without experiment still succeeds, without status.
    let r = c.request(r#"{"type":"stop"}"#).await?;
    assert_eq!(r["type"], "CommandExecutedSuccessfully");
    c.barrier().await?;
    Ok(())
}

#[tokio::test]
async fn desktop_status_and_output_go_to_the_latest_socket_only() -> anyhow::Result<()> {
    let (gama, mut a) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    let mut b = Client::connect(&gama).await?;
    // A commands, B (the newest socket) hears about it. B got no status on connecting.
    a.request(r#"{"type":"play","exp_id":"0"}"#).await?;
    a.barrier().await?;
    assert_eq!(b.recv().await?["content"], "RUNNING");
    a.request(r#"{"type":"pause","exp_id":"0"}"#).await?;
    assert_eq!(b.recv().await?["content"], "PAUSED");

    a.request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    a.request(r#"{"type":"ask","action":"ping_GAMA","args":"{\"id\":\"p1\"}","agent":"simulation[0].unity_linker[0]"}"#)
        .await?;
    a.barrier().await?;
    assert_eq!(
        b.recv_raw().await?,
        r#"{"type":"SimulationOutput","content":"pong","exp_id":"0"}"#
    );

    // Once B is gone, output is lost (GAMA keeps the dead socket) until a newer client connects.
    drop(b);
    gama.wait_open_connections(1, T).await?;
    gama.send_console("lost");
    let mut c = Client::connect(&gama).await?;
    gama.send_console("hello");
    let v = c.recv().await?;
    assert_eq!(v["content"]["message"], "hello");
    a.barrier().await?;
    Ok(())
}

#[tokio::test]
async fn desktop_ignores_exp_id_and_reports_missing_experiment() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;
    for cmd in [
        r#"{"type":"play","exp_id":"0"}"#,
        r#"{"type":"pause"}"#,
        r#"{"type":"step"}"#,
        r#"{"type":"stepBack"}"#,
        r#"{"type":"reload"}"#,
        r#"{"type":"expression","expr":"cycle"}"#,
        r#"{"type":"ask","action":"send_init_data","args":"{}"}"#,
    ] {
        let r = c.request(cmd).await?;
        assert_eq!(r["type"], "UnableToExecuteRequest", "{cmd}");
        assert_eq!(
            r["content"], "Unable to find the experiment or simulation",
            "{cmd}"
        );
    }
    c.request(LOAD).await?;
    assert_eq!(c.recv().await?["content"], "NOTREADY");
    assert_eq!(c.recv().await?["content"], "PAUSED");
    for exp_id in ["", "0", "whatever"] {
        let r = c
            .request(&format!(
                r#"{{"type":"step","exp_id":"{exp_id}","nb_step":"2"}}"#
            ))
            .await?;
        assert_eq!(r["type"], "CommandExecutedSuccessfully");
    }
    let r = c.request(r#"{"type":"expression","expr":"cycle"}"#).await?;
    assert_eq!(r["content"], "6");
    c.request(r#"{"type":"stepBack","exp_id":"x"}"#).await?;
    assert_eq!(gama.cycle(), 5);
    Ok(())
}

#[tokio::test]
async fn desktop_experiment_survives_client_disconnect_and_refuses_concurrent_load()
-> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        open_delay: Duration::from_millis(500),
        ..FakeGamaOptions::desktop()
    };
    let gama = FakeGama::start(opts).await?;
    let mut a = Client::connect(&gama).await?;
    a.request(LOAD).await?;
    assert_eq!(a.recv().await?["content"], "NOTREADY");
    let r = a.request(LOAD).await?;
    assert_eq!(
        r["content"],
        "Unable to start new experiment, another one is loading"
    );
    assert_eq!(a.recv().await?["content"], "PAUSED");
    a.request(r#"{"type":"play"}"#).await?;
    assert_eq!(a.recv().await?["content"], "RUNNING");
    a.ws.close(None).await?;
    assert_eq!(a.end().await?, End::Close(1005, String::new()));
    gama.wait_open_connections(0, T).await?;
    assert_eq!(gama.experiment_state(), "RUNNING");
    let mut b = Client::connect(&gama).await?;
    let r = b.request(r#"{"type":"pause"}"#).await?;
    assert_eq!(r["type"], "CommandExecutedSuccessfully");
    Ok(())
}

#[tokio::test]
async fn desktop_gui_actions_emit_statuses() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;
    gama.open_experiment("vr_xp");
    assert_eq!(c.recv().await?["content"], "NOTREADY");
    assert_eq!(c.recv().await?["content"], "PAUSED");
    gama.gui_play();
    assert_eq!(c.recv().await?["content"], "RUNNING");
    gama.gui_pause();
    assert_eq!(c.recv().await?["content"], "PAUSED");
    gama.gui_reload();
    assert_eq!(c.recv().await?["content"], "NOTREADY");
    assert_eq!(c.recv().await?["content"], "PAUSED");
    gama.gui_close();
    assert_eq!(c.recv().await?["content"], "NONE");
    assert_eq!(gama.experiment_state(), "NONE");
    c.barrier().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Headless mode
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn headless_load_answers_an_id_and_exp_id_is_mandatory() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::headless()).await?;
    let mut a = Client::connect(&gama).await?;
    let id = a_load_answers_a_numeric_id_then_statuses(&gama, &mut a).await?;
    every_experiment_command_needs_an_existing_exp_id(&mut a).await?;
    let _b = only_the_loading_socket_drives_its_experiment(&gama, &mut a, &id).await?;
    a_second_load_gets_a_new_id_that_stop_disposes(&gama, &mut a, &id).await?;
    Ok(())
}

/// Headless, a load is answered with the experiment's id (a number, not its name), then its
/// statuses carry that id. Returns the id.
async fn a_load_answers_a_numeric_id_then_statuses(
    gama: &FakeGama,
    a: &mut Client,
) -> anyhow::Result<String> {
    let r = a.request(LOAD).await?;
    let id = r["content"].as_str().context("id")?.to_owned();
    assert_ne!(id, "vr_xp");
    assert!(id.parse::<u64>().is_ok());
    assert_eq!(
        a.recv_raw().await?,
        format!(r#"{{"type":"SimulationStatus","content":"NOTREADY","exp_id":"{id}"}}"#)
    );
    assert_eq!(
        a.recv_raw().await?,
        format!(r#"{{"type":"SimulationStatus","content":"PAUSED","exp_id":"{id}"}}"#)
    );
    assert_eq!(gama.experiment_state(), "PAUSED");
    Ok(id)
}

/// Every command on an experiment names it by `exp_id`: without one it is malformed, with an empty
/// one too, with an unknown one GAMA cannot find it.
async fn every_experiment_command_needs_an_existing_exp_id(a: &mut Client) -> anyhow::Result<()> {
    for ty in [
        "play",
        "pause",
        "step",
        "stop",
        "reload",
        "expression",
        "ask",
    ] {
        let r = a
            .request(&format!(
                r#"{{"type":"{ty}","expr":"cycle","action":"x","args":"{{}}"}}"#
            ))
            .await?;
        assert_eq!(r["type"], "MalformedRequest", "{ty}");
        assert_eq!(
            r["content"],
            format!("For {ty}, mandatory parameter is: exp_id")
        );
    }
    let r = a.request(r#"{"type":"play","exp_id":""}"#).await?;
    assert_eq!(r["type"], "MalformedRequest");
    let r = a.request(r#"{"type":"play","exp_id":"999"}"#).await?;
    assert_eq!(
        (r["type"].as_str(), r["content"].as_str()),
        (
            Some("UnableToExecuteRequest"),
            Some("Unable to find the experiment or simulation")
        )
    );
    Ok(())
}

/// Another socket cannot drive A's experiment (`id`) unless it names A's socket. Returns that
/// other socket, still open.
async fn only_the_loading_socket_drives_its_experiment(
    gama: &FakeGama,
    a: &mut Client,
    id: &str,
) -> anyhow::Result<Client> {
    let mut b = Client::connect(gama).await?;
    let r = b
        .request(&format!(r#"{{"type":"play","exp_id":"{id}"}}"#))
        .await?;
    assert_eq!(r["type"], "UnableToExecuteRequest");
    // ...unless it names A's socket.
    let r = b
        .request(&format!(
            r#"{{"type":"play","exp_id":"{id}","socket_id":"{}"}}"#,
            a.socket_id
        ))
        .await?;
    assert_eq!(r["type"], "CommandExecutedSuccessfully");
    b.barrier().await?;
    assert_eq!(a.recv().await?["content"], "RUNNING");
    Ok(b)
}

/// A second load gets a new id (not `id`); stop disposes only that one.
async fn a_second_load_gets_a_new_id_that_stop_disposes(
    gama: &FakeGama,
    a: &mut Client,
    id: &str,
) -> anyhow::Result<()> {
    let r = a.request(LOAD).await?;
    let id2 = r["content"].as_str().context("id")?.to_owned();
    assert_ne!(id, id2);
    a.recv().await?;
    a.recv().await?;
    assert_eq!(gama.experiment_count(), 2);
    a.request(&format!(r#"{{"type":"stop","exp_id":"{id2}"}}"#))
        .await?;
    assert_eq!(
        a.recv_raw().await?,
        format!(r#"{{"type":"SimulationStatus","content":"NONE","exp_id":"{id2}"}}"#)
    );
    assert_eq!(gama.experiment_count(), 1);
    assert_eq!(gama.experiment_state(), "RUNNING");
    Ok(())
}

#[tokio::test]
async fn headless_disposes_experiments_of_a_closed_socket() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::headless()).await?;
    let mut a = Client::connect(&gama).await?;
    let mut b = Client::connect(&gama).await?;
    a.request(LOAD).await?;
    let r = b.request(LOAD).await?;
    let b_id = r["content"].as_str().context("id")?.to_owned();
    assert_eq!(gama.experiment_count(), 2);
    a.ws.close(None).await?;
    a.end().await?;
    gama.wait_for(T, "A's experiment disposed", |g| g.experiment_count() == 1)
        .await?;
    assert_eq!(gama.experiment_id(), Some(b_id));
    // Output of B's experiment goes to B although A connected first.
    b.recv().await?;
    b.recv().await?;
    b.request(&format!(
        r#"{{"type":"expression","exp_id":"{}","expr":"do create_player(\"p1\");"}}"#,
        gama.experiment_id().unwrap_or_default()
    ))
    .await?;
    gama.send_console("to b");
    assert_eq!(b.recv().await?["content"]["message"], "to b");
    Ok(())
}

#[tokio::test]
async fn headless_without_status_sends_none() -> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        headless_status: false,
        ..FakeGamaOptions::headless()
    };
    let gama = FakeGama::start(opts).await?;
    let mut c = Client::connect(&gama).await?;
    let id = c.request(LOAD).await?["content"]
        .as_str()
        .context("id")?
        .to_owned();
    c.request(&format!(r#"{{"type":"play","exp_id":"{id}"}}"#))
        .await?;
    c.barrier().await?;
    assert_eq!(gama.experiment_state(), "RUNNING");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Linker emulation
// ---------------------------------------------------------------------------------------------

/// The exact linker JSON `send_init_data` produces for player `p` (TC-Linker key orders).
fn expected_init_linker(p: &str) -> String {
    let props = concat!(
        r#"{"properties":[{"id":"car","tag":"car","hasPrefab":true,"prefab":"Prefabs/Visual Prefabs/City/Vehicles/Car","#,
        r#""size":300000,"rotationCoeff":10000,"rotationOffset":-900000,"yOffset":0,"constraints":null,"#,
        r#""isInteractable":false,"isGrabable":false,"hasCollider":false,"toFollow":false},"#,
        r#"{"id":"block","tag":"block","hasPrefab":false,"height":100000,"is3D":true,"red":-1,"green":-1,"blue":-1,"#,
        r#""alpha":0.0,"material":null,"constraints":null,"isInteractable":false,"isGrabable":false,"hasCollider":true,"toFollow":false}]}"#
    );
    let world = concat!(
        r#"{"pointsLoc":[{"c":[100000,200000,0,900000]}],"isInit":true,"offsetYGeom":[0],"names":["agent0","block0"],"#,
        r#""keepNames":[],"propertyID":["car","block"],"#,
        r#""pointsGeom":[{"c":[100000,100000,200000,100000,200000,200000,100000,100000]}],"attributes":[{},{}],"#,
        r#""position":[500000,500000,0]}"#
    );
    format!(
        concat!(
            r#"{{"contents":[{{"id":["{p}"],"contents":{{"precision":10000,"world":[1000000,800000],"minPlayerUpdateDuration":100.0}}}},"#,
            r#"{{"id":["{p}"],"contents":{{"enableMove":false}}}},{{"id":["{p}"],"contents":{props}}},"#,
            r#"{{"id":["{p}"],"contents":{world}}}],"type":"output"}}"#
        ),
        p = p,
        props = props,
        world = world
    )
}

fn unity_ask(action: &str, args: &str) -> String {
    relay_testkit::unity_json(&[
        ("type", "ask"),
        ("action", action),
        ("args", args),
        ("agent", "simulation[0].unity_linker[0]"),
    ])
}

#[tokio::test]
async fn linker_init_data_has_the_exact_shape() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    let r = c
        .request(r#"{"type":"expression","exp_id":"0","expr":"do create_player(\"Player_101\");"}"#)
        .await?;
    assert_eq!(r["content"], "null");
    assert_eq!(gama.players(), ["Player_101"]);

    let r = c
        .request(&unity_ask("send_init_data", r#"{"id":"Player_101"}"#))
        .await?;
    assert_eq!(r["content"], "");
    let linker = expected_init_linker("Player_101");
    let frame = c.recv_raw().await?;
    assert_eq!(
        frame,
        format!(
            r#"{{"type":"SimulationOutput","content":{},"exp_id":"0"}}"#,
            serde_json::to_string(&linker)?
        )
    );
    assert_eq!(
        c.recv_raw().await?,
        format!(
            r#"{{"type":"SimulationOutput","content":{},"exp_id":"0"}}"#,
            serde_json::to_string(
                r#"{"contents":[{"id":["Player_101"],"contents":{"enableMove":true}}],"type":"output"}"#
            )?
        )
    );
    // Unknown player: accepted, nothing sent.
    c.request(&unity_ask("send_init_data", r#"{"id":"nobody"}"#))
        .await?;
    c.barrier().await?;
    Ok(())
}

#[tokio::test]
async fn linker_output_can_be_an_embedded_object() -> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        content_shape: ContentShape::Object,
        min_players: 2,
        ..FakeGamaOptions::headless()
    };
    let gama = FakeGama::start(opts).await?;
    let mut c = Client::connect(&gama).await?;
    let id = c.request(LOAD).await?["content"]
        .as_str()
        .context("id")?
        .to_owned();
    c.recv().await?;
    c.recv().await?;
    let ask = format!(
        r#"{{"type":"ask","exp_id":"{id}","action":"create_player","args":{{"id":"p1"}},"agent":"simulation"}}"#
    );
    assert_eq!(
        c.request(&ask).await?["type"],
        "CommandExecutedSuccessfully"
    );
    let ask = format!(
        r#"{{"type":"ask","exp_id":"{id}","action":"send_init_data","args":"{{\"id\":\"p1\"}}","agent":"simulation[0].unity_linker[0]"}}"#
    );
    c.request(&ask).await?;
    assert_eq!(
        c.recv_raw().await?,
        format!(
            r#"{{"type":"SimulationOutput","content":{},"exp_id":"{id}"}}"#,
            expected_init_linker("p1")
        )
    );
    // min_players = 2 not reached: no enableMove true.
    c.barrier().await?;
    gama.send_linker_output(
        r#"{"contents":[{"id":["p1"],"contents":{"b":1,"a":2}}],"type":"output"}"#,
    );
    assert_eq!(
        c.recv_raw().await?,
        format!(
            r#"{{"type":"SimulationOutput","content":{{"contents":[{{"id":["p1"],"contents":{{"b":1,"a":2}}}}],"type":"output"}},"exp_id":"{id}"}}"#
        )
    );
    Ok(())
}

#[tokio::test]
async fn create_and_remove_player_follow_the_linker_rules() -> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        max_players: Some(2),
        ..FakeGamaOptions::desktop()
    };
    let (gama, mut c) = desktop_loaded(opts).await?;
    for id in [r#"a\"b"#, "p2", "p2", "p3"] {
        let r = c
            .request(&format!(
                r#"{{"type":"expression","expr":"do create_player(\"{}\");"}}"#,
                id.replace('\\', "\\\\").replace('"', "\\\"")
            ))
            .await?;
        assert_eq!(r["content"], "null");
    }
    // Duplicate ignored, third player ignored (max 2), GAML escapes decoded.
    assert_eq!(gama.players(), [r#"a"b"#, "p2"]);
    // An unescaped quote is a GAML syntax error.
    let r = c
        .request(r#"{"type":"expression","expr":"do create_player(\"a\"b\");"}"#)
        .await?;
    assert_eq!(r["type"], "UnableToExecuteRequest");
    assert!(
        r["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("> Error: ")
    );
    c.request(r#"{"type":"expression","expr":"do remove_player(\"p2\");"}"#)
        .await?;
    assert_eq!(gama.players(), [r#"a"b"#]);
    c.request(&unity_ask("remove_player", r#"{"id":"a\"b"}"#))
        .await?;
    assert!(gama.players().is_empty());
    // Other statements are fine, other expressions are not.
    assert_eq!(
        c.request(r#"{"type":"expression","expr":"do pause;"}"#)
            .await?["content"],
        "null"
    );
    // The player count is one the demo asks; any other expression is unknown.
    let r = c
        .request(r#"{"type":"expression","expr":"length(unity_player)"}"#)
        .await?;
    assert_eq!(r["content"], "0");
    let r = c
        .request(r#"{"type":"expression","expr":"length(people)"}"#)
        .await?;
    assert_eq!(r["content"], "> Error: unknown expression length(people)");
    let r = c.request(r#"{"type":"expression"}"#).await?;
    assert_eq!(r["type"], "MalformedRequest");
    Ok(())
}

#[tokio::test]
async fn ask_validation_and_player_positions() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    c.request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    let r = c.request(r#"{"type":"ask","args":"{}"}"#).await?;
    assert_eq!(
        (r["type"].as_str(), r["content"].as_str()),
        (
            Some("MalformedRequest"),
            Some("For ask, mandatory parameter is: 'action'")
        )
    );
    let r = c.request(&unity_ask("fly", "{}")).await?;
    assert_eq!(
        r["content"],
        "Action fly does not exist in agent simulation[0].unity_linker[0]"
    );
    let r = c
        .request(&unity_ask("move_player_external", "{not json"))
        .await?;
    assert_eq!(r["type"], "GamaServerError");
    let r = c
        .request(r#"{"type":"ask","action":"player_position_updated"}"#)
        .await?;
    assert_eq!(r["type"], "GamaServerError", "args missing");

    let args = relay_testkit::unity_json(&[
        ("id", "p1"),
        ("x", "251234"),
        ("y", "48810"),
        ("z", "17000"),
        ("angle", "-900000"),
    ]);
    assert_eq!(
        c.request(&unity_ask("move_player_external", &args)).await?["type"],
        "CommandExecutedSuccessfully"
    );
    assert_eq!(
        gama.player_position("p1"),
        Some((251_234, 48_810, 17_000, -900_000))
    );
    assert_eq!(gama.player_position("p2"), None);
    for action in ["player_position_updated", "move_geoms_followed"] {
        assert_eq!(
            c.request(&unity_ask(action, r#"{"id":"p1"}"#)).await?["type"],
            "CommandExecutedSuccessfully"
        );
    }
    c.barrier().await?;
    Ok(())
}

#[tokio::test]
async fn world_updates_flow_while_running() -> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        cycle_ms: 10,
        ..FakeGamaOptions::desktop()
    };
    let (gama, mut c) = desktop_loaded(opts).await?;
    c.request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    c.request(&unity_ask(
        "player_ready_to_receive_geometries",
        r#"{"id":"p1"}"#,
    ))
    .await?;
    assert_eq!(gama.ready_players(), ["p1"]);
    c.request(r#"{"type":"play"}"#).await?;
    assert_eq!(c.recv().await?["content"], "RUNNING");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let v = c.recv().await?;
        assert!(is_type(&v, "SimulationOutput"), "{v}");
        assert!(v.get("command").is_none());
        let linker: Value = serde_json::from_str(v["content"].as_str().context("string content")?)?;
        let world = &linker["contents"][0]["contents"];
        assert_eq!(linker["contents"][0]["id"], json!(["p1"]));
        assert_eq!(world["isInit"], false);
        let raw = v["content"].as_str().unwrap_or_default();
        assert!(raw.contains(r#"{"pointsLoc":[{"c":["#), "{raw}");
        assert!(raw.ends_with(r#"],"isInit":false,"offsetYGeom":[],"names":["agent0"],"keepNames":[],"propertyID":["car"],"pointsGeom":[],"attributes":[{}]}}],"type":"output"}"#), "{raw}");
        seen.push(world["pointsLoc"][0]["c"].clone());
    }
    assert_ne!(seen[0], seen[1]);
    assert_ne!(seen[1], seen[2]);
    c.send(r#"{"type":"pause"}"#).await?;
    // Updates already queued may precede the reply; none may follow the PAUSED status.
    loop {
        let v = c.recv().await?;
        if v.get("command").is_some() {
            break;
        }
    }
    assert_eq!(c.recv().await?["content"], "PAUSED");
    let cycle = gama.cycle();
    assert!(cycle >= 3);
    let r = c.request(r#"{"type":"expression","expr":"cycle"}"#).await?;
    assert_eq!(r["content"], cycle.to_string());
    Ok(())
}

#[tokio::test]
async fn end_of_game_notifies_players_then_reloads() -> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        autorun: true,
        cycle_ms: 1000,
        ..FakeGamaOptions::desktop()
    };
    let (gama, mut c) = desktop_loaded(opts).await?;
    c.request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    c.request(r#"{"type":"expression","expr":"do create_player(\"p2\");"}"#)
        .await?;
    gama.end_of_game("Game over");
    let v = c.recv().await?;
    assert_eq!(
        v["content"],
        r#"{"contents":[{"id":["p1"],"contents":{"endOfGame":"Game over"}},{"id":["p2"],"contents":{"endOfGame":"Game over"}}],"type":"output"}"#
    );
    // end_of_game pauses, then reloads into PAUSED even for an autorun experiment.
    for s in ["PAUSED", "NOTREADY", "PAUSED"] {
        assert_eq!(c.recv().await?["content"], s);
    }
    assert!(gama.players().is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and failure injection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn kill_and_restart_on_the_same_port() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    let addr = gama.addr();
    gama.kill().await;
    assert_eq!(c.end().await?, End::Dropped);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens after kill"
    );
    assert_eq!(gama.open_connections(), 0);
    assert_eq!(gama.experiment_state(), "NONE");

    gama.restart().await?;
    assert_eq!(gama.addr(), addr);
    let mut c = Client::connect(&gama).await?;
    assert_eq!(gama.experiment_state(), "NONE");
    let r = c.request(r#"{"type":"play"}"#).await?;
    assert_eq!(r["type"], "UnableToExecuteRequest");
    assert_eq!(gama.accepted_connections(), 2);
    // Commands are remembered across restarts.
    assert_eq!(gama.commands_of_type("load").len(), 1);
    Ok(())
}

#[tokio::test]
async fn shutdown_clean_sends_close_1000_and_restart_works() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    // A client reads on while GAMA quits, so the closing handshake completes at once.
    let ((), end) = tokio::join!(gama.shutdown_clean(), c.end());
    assert_eq!(end?, End::Close(1000, String::new()));
    assert_eq!(gama.experiment_state(), "NONE");
    gama.restart().await?;
    Client::connect(&gama).await?;
    Ok(())
}

#[tokio::test]
async fn drop_connections_keeps_the_desktop_experiment() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    c.request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    gama.drop_connections().await;
    assert_eq!(c.end().await?, End::Dropped);
    let mut c = Client::connect(&gama).await?;
    assert_eq!(gama.experiment_state(), "PAUSED");
    assert_eq!(gama.players(), ["p1"]);
    c.barrier().await?;

    let gama = FakeGama::start(FakeGamaOptions::headless()).await?;
    let mut c = Client::connect(&gama).await?;
    c.request(LOAD).await?;
    gama.drop_connections().await;
    assert_eq!(c.end().await?, End::Dropped);
    assert_eq!(gama.experiment_state(), "NONE");
    Ok(())
}

#[tokio::test]
async fn exit_closes_the_socket_without_reply() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;
    c.send(r#"{"type":"exit"}"#).await?;
    assert_eq!(c.end().await?, End::Close(1000, String::new()));
    gama.wait_open_connections(0, T).await?;
    // The fake itself keeps serving.
    Client::connect(&gama).await?;
    Ok(())
}

#[tokio::test]
async fn swallowed_commands_get_no_reply() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    gama.swallow_commands_containing("remove_player");
    c.send(r#"{"type":"expression","expr":"do remove_player(\"p1\");"}"#)
        .await?;
    c.barrier().await?;
    let cmd = gama
        .wait_command(T, |c| {
            c["expr"]
                .as_str()
                .is_some_and(|e| e.contains("remove_player"))
        })
        .await?;
    assert_eq!(cmd["type"], "expression");
    gama.clear_failures();
    let r = c
        .request(r#"{"type":"expression","expr":"do remove_player(\"p1\");"}"#)
        .await?;
    assert_eq!(r["content"], "null");
    Ok(())
}

#[tokio::test]
async fn delayed_replies_and_failing_expressions() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    gama.delay_replies(Duration::from_millis(200));
    let start = Instant::now();
    let first = c.send(r#"{"type":"validate","expr":"a"}"#);
    first.await?;
    c.send(r#"{"type":"validate","expr":"b"}"#).await?;
    assert_eq!(c.recv().await?["content"], "a");
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(c.recv().await?["content"], "b", "order kept");
    gama.clear_failures();

    gama.fail_expressions_containing("create_player", "> Error: boom");
    let r = c
        .request(r#"{"type":"expression","expr":"do create_player(\"p1\");"}"#)
        .await?;
    assert_eq!(
        (r["type"].as_str(), r["content"].as_str()),
        (Some("UnableToExecuteRequest"), Some("> Error: boom"))
    );
    assert!(gama.players().is_empty());
    Ok(())
}

#[tokio::test]
async fn wait_command_sees_past_and_future_commands() -> anyhow::Result<()> {
    let gama = FakeGama::start(FakeGamaOptions::desktop()).await?;
    let mut c = Client::connect(&gama).await?;
    c.request(r#"{"type":"validate","expr":"early"}"#).await?;
    gama.wait_command(T, |c| c["expr"] == "early").await?;
    let waiter = {
        let gama = gama.clone();
        tokio::spawn(async move { gama.wait_command(T, |c| c["expr"] == "late").await })
    };
    c.request(r#"{"type":"validate","expr":"late"}"#).await?;
    assert_eq!(waiter.await??["expr"], "late");
    assert!(
        gama.wait_command(Duration::from_millis(50), |c| c["expr"] == "never")
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn websocket_pings_are_sent_periodically() -> anyhow::Result<()> {
    let opts = FakeGamaOptions {
        ping_interval: Some(Duration::from_millis(20)),
        ..FakeGamaOptions::desktop()
    };
    let gama = FakeGama::start(opts).await?;
    let (mut ws, _) = tokio_tungstenite::connect_async(gama.url()).await?;
    let mut pings = 0;
    while pings < 2 {
        match tokio::time::timeout(T, ws.next()).await? {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Text(_))) => {}
            other => bail!("unexpected {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn raw_and_console_injection_reach_the_output_socket() -> anyhow::Result<()> {
    let (gama, mut c) = desktop_loaded(FakeGamaOptions::desktop()).await?;
    gama.send_console("hello");
    assert_eq!(
        c.recv_raw().await?,
        r#"{"type":"SimulationOutput","content":{"message":"hello","color":{"gaml_type":"rgb","red":0,"green":0,"blue":0,"alpha":255}},"exp_id":"0"}"#
    );
    gama.send_raw("not json at all");
    assert_eq!(c.recv_raw().await?, "not json at all");
    gama.send_linker_output(r#"{"contents":[],"type":"output"}"#);
    assert_eq!(
        c.recv_raw().await?,
        r#"{"type":"SimulationOutput","content":"{\"contents\":[],\"type\":\"output\"}","exp_id":"0"}"#
    );
    Ok(())
}
