//! Opening SQLite the way the saga log wants it: the embedded default,
//! with no server.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// Opens (creating if missing) a SQLite database file for the saga log:
/// WAL journal (readers do not block the writer), `synchronous = FULL` (a
/// log entry survives a power loss, not only a crash), a 5 s busy timeout
/// so writers queue instead of failing.
pub async fn connect(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
}
