// The dashboard's way to the audit database: a small pool of read-only
// connections (src/audit/sql_connection.h) that reconnects by itself.
//
// Contract
//  - Connections are opened with read_only (MySQL: the session is READ
//    ONLY; SQLite: the file is opened read-only and must exist), so the
//    dashboard can only ever run SELECTs; it never creates the schema.
//  - MySQL timeouts are capped for a page that refreshes every 10 s:
//    connect 5 s, read/write 30 s (lower values in the DSN win).
//  - With(fn) runs fn on an idle connection or a new one. When fn fails on
//    a connection that had been used before (the server may have dropped it
//    meanwhile), it is retried once on a fresh connection. A failed
//    connection is discarded, never reused.
//  - After a failed connect, further requests fail at once with the same
//    error for retry_interval (the database is not hammered and requests do
//    not queue up behind connect timeouts); then the next request tries
//    again. So the server recovers by itself when the database returns.
//  - Errors never contain the DSN's password (the audit layer redacts).
//
// Thread-safety: With() and up() may be called from any thread; each
// connection is used by one thread at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audit/dsn.h"
#include "audit/sql_connection.h"
#include "ha_sync/status.h"

namespace ha_sync::http {

class ReadOnlyDb {
 public:
  struct Options {
    std::chrono::milliseconds retry_interval{1000};
    size_t max_idle = 8;
  };
  ReadOnlyDb(audit::Dsn dsn, Options options);
  ~ReadOnlyDb();

  // Any failure of fn, or of getting a connection, is returned as is.
  Status With(const std::function<Status(audit::SqlConnection*)>& fn);

  // The DSN for messages (password masked).
  std::string Describe() const { return dsn_.Masked(); }
  // False after the last attempt to reach the database failed.
  bool up() const;

 private:
  Result<std::unique_ptr<audit::SqlConnection>> Take(bool* reused);
  void Give(std::unique_ptr<audit::SqlConnection> conn);
  void NoteFailure(const Status& s);
  void NoteSuccess();

  audit::Dsn dsn_;
  const Options options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<audit::SqlConnection>> idle_;
  bool up_ = true;
  Status last_error_;
  std::chrono::steady_clock::time_point retry_at_{};
};

}  // namespace ha_sync::http
