//! The worlds the emulated linker sends: the minimal one the tests check, and the town of
//! `gama-vr-relay demo`.
//!
//! Pure functions of the scene and the cycle, apart from the state, so that what a headset is
//! shown can be read (and changed) without the server around it.

use super::PRECISION;
use super::Scene;
use super::wire::{
    Coords, EmptyObject, GeometryProperty, PrefabProperty, PropertiesPayload, WorldPayload,
};

/// The per-cycle (non-init) world: one moving prefab agent whose position derives from the cycle
/// ([`Scene::Minimal`]), or the town's cars ([`Scene::Town`]).
pub(super) fn update_world(scene: Scene, cycle: u64) -> WorldPayload {
    if scene == Scene::Town {
        let cars = town_cars(cycle);
        return WorldPayload {
            names: (0..cars.len()).map(|i| format!("car{i}")).collect(),
            property_id: vec!["car"; cars.len()],
            attributes: cars.iter().map(|_| EmptyObject {}).collect(),
            points_loc: cars,
            is_init: false,
            offset_y_geom: Vec::new(),
            keep_names: Vec::new(),
            points_geom: Vec::new(),
            position: None,
        };
    }
    let step = i64::try_from(cycle % 1000).unwrap_or(0);
    WorldPayload {
        points_loc: vec![Coords {
            c: vec![
                100_000 + step * 1_000,
                200_000 + step * 500,
                0,
                (step * 100_000) % 3_600_000,
            ],
        }],
        is_init: false,
        offset_y_geom: Vec::new(),
        names: vec!["agent0".to_owned()],
        keep_names: Vec::new(),
        property_id: vec!["car"],
        points_geom: Vec::new(),
        attributes: vec![EmptyObject {}],
        position: None,
    }
}

/// The init world sent by `send_init_data`: the prefab agent and a static block, or the town.
pub(super) fn init_world(scene: Scene) -> WorldPayload {
    if scene == Scene::Town {
        let cars = town_cars(0);
        let blocks = town_blocks();
        let mut names: Vec<String> = (0..cars.len()).map(|i| format!("car{i}")).collect();
        names.extend((0..blocks.len()).map(|i| format!("block{i}")));
        let mut property_id = vec!["car"; cars.len()];
        property_id.extend(vec!["block"; blocks.len()]);
        return WorldPayload {
            attributes: names.iter().map(|_| EmptyObject {}).collect(),
            points_loc: cars,
            is_init: true,
            offset_y_geom: vec![0; blocks.len()],
            names,
            keep_names: Vec::new(),
            property_id,
            points_geom: blocks,
            position: Some([500_000, 100_000, 0]),
        };
    }
    WorldPayload {
        points_loc: vec![Coords {
            c: vec![100_000, 200_000, 0, 900_000],
        }],
        is_init: true,
        offset_y_geom: vec![0],
        names: vec!["agent0".to_owned(), "block0".to_owned()],
        keep_names: Vec::new(),
        property_id: vec!["car", "block"],
        points_geom: vec![Coords {
            c: vec![
                100_000, 100_000, 200_000, 100_000, 200_000, 200_000, 100_000, 100_000,
            ],
        }],
        attributes: vec![EmptyObject {}, EmptyObject {}],
        position: Some([500_000, 500_000, 0]),
    }
}

/// The town's cars at `cycle`: each drives round its own ring road at its own speed, heading
/// along the road.
fn town_cars(cycle: u64) -> Vec<Coords> {
    (0..10u64)
        .map(|i| {
            let radius = 120_000.0 + 22_000.0 * i as f64;
            let speed = 0.02 + 0.004 * (i % 4) as f64;
            let angle = cycle as f64 * speed * if i % 2 == 0 { 1.0 } else { -1.0 } + i as f64;
            let x = 500_000.0 + radius * angle.cos();
            let y = 400_000.0 + radius * 0.75 * angle.sin();
            let heading =
                (angle.to_degrees() + if i % 2 == 0 { 90.0 } else { -90.0 }).rem_euclid(360.0);
            Coords {
                c: vec![x as i64, y as i64, 0, (heading * PRECISION as f64) as i64],
            }
        })
        .collect()
}

/// The town's blocks: closed rectangles.
fn town_blocks() -> Vec<Coords> {
    [
        (440_000, 350_000, 60_000, 50_000),
        (200_000, 120_000, 80_000, 60_000),
        (750_000, 130_000, 90_000, 70_000),
        (180_000, 600_000, 70_000, 90_000),
        (760_000, 620_000, 100_000, 60_000),
        (480_000, 700_000, 60_000, 40_000),
    ]
    .into_iter()
    .map(|(x, y, w, h)| Coords {
        c: vec![x, y, x + w, y, x + w, y + h, x, y + h, x, y],
    })
    .collect()
}

pub(super) fn properties(scene: Scene) -> PropertiesPayload {
    PropertiesPayload {
        properties: (
            PrefabProperty {
                id: "car",
                tag: "car",
                has_prefab: true,
                prefab: "Prefabs/Visual Prefabs/City/Vehicles/Car",
                // The town is 100 m wide: its cars are cars.
                size: if scene == Scene::Town {
                    3 * PRECISION
                } else {
                    3 * PRECISION * 10
                },
                rotation_coeff: PRECISION,
                rotation_offset: -90 * PRECISION,
                y_offset: 0,
                constraints: None,
                is_interactable: false,
                is_grabable: false,
                has_collider: false,
                to_follow: false,
            },
            GeometryProperty {
                id: "block",
                tag: "block",
                has_prefab: false,
                height: 10 * PRECISION,
                is_3d: true,
                red: -1,
                green: -1,
                blue: -1,
                alpha: 0.0,
                material: None,
                constraints: None,
                is_interactable: false,
                is_grabable: false,
                has_collider: true,
                to_follow: false,
            },
        ),
    }
}
