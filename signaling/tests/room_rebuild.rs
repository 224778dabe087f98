//! A room is rebuilt from the verified trace on a blocking thread, outside
//! the global rooms lock; joins of the same act arriving together still
//! share one room.

mod common;

use common::server::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rebuilds_of_one_act_give_one_room() {
    let server = TestServer::start().await;
    let acts: Vec<_> = (0..3).map(|_| server.create_act()).collect();
    let mut tasks = Vec::new();
    for round in 0..8 {
        for act in &acts {
            let state = server.state.clone();
            let id = act.id();
            tasks.push(tokio::spawn(
                async move { (round, id, state.room(id).await) },
            ));
        }
    }
    let mut first: std::collections::HashMap<session::ActId, signaling::hub::RoomHandle> =
        Default::default();
    for t in tasks {
        let (_, id, room) = t.await.expect("task");
        let room = room.expect("room");
        match first.get(&id) {
            Some(h) => assert!(h.tx.same_channel(&room.tx), "two rooms for one act"),
            None => {
                first.insert(id, room);
            }
        }
    }
    assert_eq!(first.len(), 3);
}
