//! A small `GymAgent` model, so that the real PyPI gama-gymnasium can train against the fake.
//!
//! gama-gymnasium drives a GAMA model through one `GymAgent` agent: it reads
//! `GymAgent[0].observation_space` and `.action_space` (maps GAMA sends as JSON), sets
//! `GymAgent[0].next_action <- a;`, sends a synchronous `step`, then reads `GymAgent[0].data`
//! (`State`, `Reward`, `Terminated`, `Truncated`, `Info`). A model whose file name starts with
//! `gym` (e.g. `/models/gym_walk.gaml`) has such an agent here: a walker on a line from 0 to
//! [`GOAL`], starting at [`START`]; action 1 moves it right, 0 left; reaching the goal ends the
//! episode with reward 1, falling to 0 with reward -1, any other step costs 0.1; an episode is
//! cut after [`MAX_STEPS`] steps. Everything is deterministic, so two runs compare exactly.

use serde::Serialize;
use serde_json::value::RawValue;

use super::wire::to_raw;

/// Where the walker starts after a load or a reload.
const START: i64 = 3;
/// The walker's goal (the line's end).
const GOAL: i64 = 6;
/// Steps after which an episode is truncated.
const MAX_STEPS: u32 = 12;

/// Whether a model has a `GymAgent` in the fake.
pub(super) fn is_gym_model(path: &str) -> bool {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().starts_with("gym"))
}

/// `GymAgent[0]`.
#[derive(Debug, Clone)]
pub(super) struct GymAgent {
    position: i64,
    next_action: i64,
    steps: u32,
    reward: f64,
    seed: String,
}

/// `GymAgent[0].data` (key order as the model's map writes it).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Data<'a> {
    state: [f64; 1],
    reward: f64,
    terminated: bool,
    truncated: bool,
    info: Info<'a>,
}

/// `GymAgent[0].info`.
#[derive(Serialize)]
struct Info<'a> {
    steps: u32,
    seed: &'a str,
}

/// What an expression did to, or read from, the agent.
pub(super) enum Outcome {
    /// A value, as the JSON GAMA sends for it.
    Value(Box<RawValue>),
    /// A statement (`<-`): GAMA answers `null`.
    Done,
}

impl GymAgent {
    pub(super) fn new() -> Self {
        GymAgent {
            position: START,
            next_action: 0,
            steps: 0,
            reward: 0.0,
            seed: "0.0".to_owned(),
        }
    }

    fn terminated(&self) -> bool {
        self.position >= GOAL || self.position <= 0
    }

    fn truncated(&self) -> bool {
        !self.terminated() && self.steps >= MAX_STEPS
    }

    /// One simulation cycle: the agent applies its next action.
    pub(super) fn step(&mut self) {
        if self.terminated() {
            return;
        }
        self.position += if self.next_action == 1 { 1 } else { -1 };
        self.steps += 1;
        self.reward = if self.position >= GOAL {
            1.0
        } else if self.position <= 0 {
            -1.0
        } else {
            -0.1
        };
    }

    /// Evaluates the expressions gama-gymnasium sends; `None` for any other expression, `Err` for
    /// a value GAMA would refuse.
    pub(super) fn evaluate(&mut self, expr: &str) -> Option<Result<Outcome, String>> {
        let expr = expr.trim();
        let value = |v: Box<RawValue>| Some(Ok(Outcome::Value(v)));
        match expr {
            "GymAgent[0].observation_space" => value(to_raw(&serde_json::json!({
                "type": "Box", "low": [0.0], "high": [GOAL as f64], "shape": [1], "dtype": "float"
            }))),
            "GymAgent[0].action_space" => {
                value(to_raw(&serde_json::json!({"type": "Discrete", "n": 2})))
            }
            "GymAgent[0].state" => value(to_raw(&[self.position as f64])),
            "GymAgent[0].info" => value(to_raw(&self.info())),
            "GymAgent[0].data" => value(to_raw(&Data {
                state: [self.position as f64],
                reward: self.reward,
                terminated: self.terminated(),
                truncated: self.truncated(),
                info: self.info(),
            })),
            _ => {
                let (target, rhs) = expr.strip_suffix(';').unwrap_or(expr).split_once("<-")?;
                let rhs = rhs.trim();
                match target.trim() {
                    "GymAgent[0].next_action" => Some(match rhs.parse::<i64>() {
                        Ok(a @ (0 | 1)) => {
                            self.next_action = a;
                            Ok(Outcome::Done)
                        }
                        _ => Err(format!("> Error: {rhs} is not an action of Discrete(2)")),
                    }),
                    "seed" => Some(match rhs.parse::<f64>() {
                        Ok(_) => {
                            self.seed = rhs.to_owned();
                            Ok(Outcome::Done)
                        }
                        Err(_) => Err(format!("> Error: {rhs} is not a float")),
                    }),
                    _ => None,
                }
            }
        }
    }

    fn info(&self) -> Info<'_> {
        Info {
            steps: self.steps,
            seed: &self.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(agent: &mut GymAgent, expr: &str) -> String {
        match agent.evaluate(expr) {
            Some(Ok(Outcome::Value(v))) => v.get().to_owned(),
            _ => panic!("{expr} has no value"),
        }
    }

    #[test]
    fn an_episode_reaches_the_goal() {
        assert!(is_gym_model("/m/gym_walk.gaml"));
        assert!(!is_gym_model("/m/demo.gaml"));
        let mut agent = GymAgent::new();
        assert_eq!(read(&mut agent, "GymAgent[0].state"), "[3.0]");
        assert!(matches!(
            agent.evaluate("GymAgent[0].next_action <- 1;"),
            Some(Ok(Outcome::Done))
        ));
        for _ in 0..3 {
            agent.step();
        }
        assert_eq!(
            read(&mut agent, "GymAgent[0].data"),
            r#"{"State":[6.0],"Reward":1.0,"Terminated":true,"Truncated":false,"Info":{"steps":3,"seed":"0.0"}}"#
        );
        assert!(matches!(
            agent.evaluate("GymAgent[0].next_action <- 7;"),
            Some(Err(_))
        ));
        assert!(agent.evaluate("cycle").is_none());
    }
}
