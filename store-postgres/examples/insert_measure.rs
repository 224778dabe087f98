//! Measures the events insert of one commit: multi-row `INSERT ... SELECT
//! FROM unnest(...)` against binary `COPY`, for batches of 1 to 256 rows,
//! each in its own committed transaction (`synchronous_commit = on`), on a
//! scratch table shaped like `events`. What `writer.rs` chose from it is
//! said there.
//!
//! `cargo run -p store-postgres --example insert_measure -- URL [ROUNDS]`
//! (a database the role may create tables in; the table is dropped after).

use std::str::FromStr;
use std::time::Instant;

use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).ok_or("usage: insert_measure URL [ROUNDS]")?;
    let rounds: usize = args.get(2).map_or(Ok(200), |r| r.parse())?;
    let mut config = tokio_postgres::Config::from_str(url)?;
    config.options("-c synchronous_commit=on");
    let (mut client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS insert_measure;
             CREATE TABLE insert_measure (id bigint PRIMARY KEY, act bytea NOT NULL, seq bigint NOT NULL,
               at bigint NOT NULL, kind text NOT NULL, public bytea NOT NULL, sealed bytea NOT NULL,
               prev_hash bytea NOT NULL, hash bytea NOT NULL, UNIQUE (act, seq))",
        )
        .await?;
    let public = vec![b'x'; 200];
    let sealed = vec![7u8; 120];
    let hash = vec![1u8; 32];
    let mut next: i64 = 1;
    println!("rows  unnest µs/commit  copy µs/commit");
    for rows in [1usize, 16, 64, 256] {
        let mut took = [0u128; 2];
        for round in 0..rounds {
            for (way, slot) in took.iter_mut().enumerate() {
                let ids: Vec<i64> = (next..next + rows as i64).collect();
                next += rows as i64;
                let acts: Vec<Vec<u8>> = ids.iter().map(|i| i.to_be_bytes().repeat(2)).collect();
                let start = Instant::now();
                let tx = client.transaction().await?;
                if way == 0 {
                    let n = vec![1i64; rows];
                    let kinds = vec!["phase_entered".to_string(); rows];
                    let (p, s, h) = (
                        vec![public.clone(); rows],
                        vec![sealed.clone(); rows],
                        vec![hash.clone(); rows],
                    );
                    tx.query(
                        "INSERT INTO insert_measure SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int8[], $4::int8[], $5::text[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[])
                         ON CONFLICT (act, seq) DO NOTHING RETURNING id",
                        &[&ids, &acts, &n, &n, &kinds, &p, &s, &h, &h],
                    )
                    .await?;
                } else {
                    let sink = tx
                        .copy_in("COPY insert_measure FROM STDIN (FORMAT binary)")
                        .await?;
                    let types = [
                        Type::INT8,
                        Type::BYTEA,
                        Type::INT8,
                        Type::INT8,
                        Type::TEXT,
                        Type::BYTEA,
                        Type::BYTEA,
                        Type::BYTEA,
                        Type::BYTEA,
                    ];
                    let writer = BinaryCopyInWriter::new(sink, &types);
                    pin_mut!(writer);
                    for (id, act) in ids.iter().zip(&acts) {
                        writer
                            .as_mut()
                            .write(&[
                                id,
                                act,
                                &1i64,
                                &1i64,
                                &"phase_entered",
                                &public,
                                &sealed,
                                &hash,
                                &hash,
                            ])
                            .await?;
                    }
                    writer.finish().await?;
                }
                tx.commit().await?;
                if round > 0 {
                    *slot += start.elapsed().as_micros();
                }
            }
        }
        let per = |t: u128| t / (rounds as u128 - 1);
        println!("{rows:>4}  {:>17}  {:>14}", per(took[0]), per(took[1]));
    }
    client.batch_execute("DROP TABLE insert_measure").await?;
    Ok(())
}
