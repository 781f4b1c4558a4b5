//! `engine-race [N] [ROUNDS]`: DynamoDB Local alone in the hire race's shape.

use super::*;

/// DynamoDB Local alone, in the hire race's shape and without the product's code: `n`
/// clients at once, each reading a job and its application in one BatchGetItem and then
/// sending `rounds` TransactWriteItems of a hire's seven items whose job condition fails (a
/// losing hire's transaction), one after another. The client has no timeouts, so each call
/// takes what the engine makes it wait; the counts say how many would have outlasted the
/// functions' 0.8 s attempt and 2.5 s call.
pub async fn engine_race(n: usize, rounds: usize) -> Result<(), BoxError> {
    let bench = setup(false, false).await?;
    let (job_id, applications) = bench.job_with_applicants(3, n).await?;
    let job_id = JobId::parse(&job_id).ok_or("job id")?;
    let job_pk = keys::job_pk(job_id);
    // The store's own read, over the client without timeouts.
    let store = shared::store::Store::new(bench.patient.clone(), bench.table.as_str());
    let key = |pk: String, sk: &str| {
        HashMap::from([
            (keys::PK.to_owned(), AttributeValue::S(pk)),
            (keys::SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    };
    let started = Instant::now();
    let calls = join_all(applications.iter().map(|application| {
        let (client, store, job_pk, table) = (&bench.patient, &store, &job_pk, &bench.table);
        let application_id =
            shared::domain::ApplicationId::parse(application).expect("an application id");
        let application_sk = keys::application_sk(application_id);
        async move {
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            let t = Instant::now();
            let read = store.job_and_application(job_id, application_id).await;
            reads.push(t.elapsed());
            read?;
            for _ in 0..rounds {
                let put = |pk: String, sk: &str| -> Result<TransactWriteItem, BoxError> {
                    Ok(TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(table.as_str())
                                .set_item(Some(key(pk, sk)))
                                .condition_expression("attribute_not_exists(PK)")
                                .build()?,
                        )
                        .build())
                };
                let check = |sk: &str, condition: &str| -> Result<TransactWriteItem, BoxError> {
                    Ok(TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name(table.as_str())
                                .set_key(Some(key(job_pk.clone(), sk)))
                                .condition_expression(condition)
                                .expression_attribute_values(":v", AttributeValue::N("0".into()))
                                .return_values_on_condition_check_failure(
                                    ReturnValuesOnConditionCheckFailure::AllOld,
                                )
                                .build()?,
                        )
                        .build())
                };
                let contract = ContractId::generate();
                let party = |name: &str| keys::user_pk(&UserId::parse(name).expect("a user"));
                let items = vec![
                    check(keys::JOB_SK, "version = :v")?,
                    check(&application_sk, "attribute_exists(PK) OR version = :v")?,
                    put(keys::contract_pk(contract), keys::CONTRACT_SK)?,
                    put(party("owner"), &keys::contract_link_sk(contract))?,
                    put(party("f0"), &keys::contract_link_sk(contract))?,
                    put(job_pk.clone(), &keys::event_sk(EventId::generate()))?,
                    put(
                        keys::outbox_pk(EventId::generate()),
                        &keys::outbox_sk(Consumer::Notify),
                    )?,
                ];
                let t = Instant::now();
                let sent = client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await;
                writes.push(t.elapsed());
                if sent.is_ok() {
                    return Err::<_, BoxError>("a losing transaction committed".into());
                }
            }
            Ok((reads, writes))
        }
    }))
    .await;
    let wall = started.elapsed();
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for call in calls {
        let (r, w) = call?;
        reads.extend(r);
        writes.extend(w);
    }
    for (name, latencies) in [
        ("BatchGetItem", &mut reads),
        ("TransactWriteItems", &mut writes),
    ] {
        latencies.sort();
        let over = |limit: u64| {
            latencies
                .iter()
                .filter(|d| **d > Duration::from_millis(limit))
                .count()
        };
        println!(
            "engine-race n={n} rounds={rounds} {name}: calls={} p50={:.0}ms p99={:.0}ms max={:.0}ms over_0.8s={} over_2.5s={}",
            latencies.len(),
            percentile(latencies, 0.5),
            percentile(latencies, 0.99),
            percentile(latencies, 1.0),
            over(800),
            over(2_500),
        );
    }
    println!(
        "engine-race n={n} rounds={rounds}: wall={:.2}s, {:.0} calls/s",
        wall.as_secs_f64(),
        (reads.len() + writes.len()) as f64 / wall.as_secs_f64()
    );
    Ok(())
}
