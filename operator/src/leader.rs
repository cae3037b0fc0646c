//! Leader election over a Lease (kube-lease-manager): only the replica holding the
//! Lease runs the controller. The holder renews it every few seconds; if it stops (it
//! crashed, or lost the API server), another replica takes the Lease once it expires,
//! within [`LEASE_SECONDS`].

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::LeaseSettings;
use crate::{Error, Result};

/// How long a Lease stays valid after its last renewal.
pub const LEASE_SECONDS: u64 = 15;
/// How long before expiry the holder renews it.
pub const RENEW_BEFORE_SECONDS: u64 = 5;

/// A running election: `is_leader` flips as the Lease is won and lost.
pub struct Election {
    pub is_leader: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Joins the election for `lease` (creating the Lease when it does not exist).
pub async fn join(client: Client, lease: &LeaseSettings) -> Result<Election> {
    let manager = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(RENEW_BEFORE_SECONDS)
        .build()
        .await
        .map_err(Error::LeaderElection)?;
    let (is_leader, task) = manager.watch().await;
    Ok(Election { is_leader, task })
}

impl Election {
    /// Waits until this replica holds the Lease.
    pub async fn leading(&mut self) -> Result<()> {
        self.is_leader
            .wait_for(|leader| *leader)
            .await
            .map(|_| ())
            .map_err(|_| Error::Config("leader election stopped before the Lease was won".into()))
    }

    /// Completes when this replica no longer holds the Lease (or the election stopped).
    pub fn lost(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut is_leader = self.is_leader.clone();
        async move {
            // An error means the election task ended: leadership is gone as well.
            let _ = is_leader.wait_for(|leader| !*leader).await;
        }
    }

    /// Gives the Lease up so that another replica can take over at once.
    pub async fn resign(self) {
        drop(self.is_leader);
        match self.task.await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not release the Lease"),
            Err(error) => tracing::warn!(%error, "leader election task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// An election whose Lease state the test drives through `sender`.
    fn election() -> (watch::Sender<bool>, Election) {
        let (sender, is_leader) = watch::channel(false);
        let task = tokio::spawn(std::future::pending::<
            Result<kube_lease_manager::LeaseManager, LeaseManagerError>,
        >());
        (sender, Election { is_leader, task })
    }

    #[tokio::test]
    async fn leading_waits_for_the_lease() {
        let (sender, mut election) = election();
        let waiting = tokio::time::timeout(Duration::from_millis(50), election.leading()).await;
        assert!(waiting.is_err(), "must not lead before the Lease is won");
        sender.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), election.leading())
            .await
            .expect("leads once the Lease is won")
            .unwrap();
    }

    #[tokio::test]
    async fn lost_completes_when_the_lease_goes_to_someone_else() {
        let (sender, election) = election();
        sender.send(true).unwrap();
        let lost = tokio::spawn(election.lost());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!lost.is_finished(), "still leading");
        sender.send(false).unwrap();
        tokio::time::timeout(Duration::from_secs(1), lost)
            .await
            .expect("noticed the lost Lease")
            .unwrap();
    }

    #[tokio::test]
    async fn a_stopped_election_counts_as_lost() {
        let (sender, election) = election();
        sender.send(true).unwrap();
        let lost = tokio::spawn(election.lost());
        drop(sender);
        tokio::time::timeout(Duration::from_secs(1), lost)
            .await
            .expect("a stopped election means no leadership")
            .unwrap();
    }
}
