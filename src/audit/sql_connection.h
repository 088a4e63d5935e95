// A small SQL connection interface with two implementations: MariaDB
// Connector/C (speaks to MariaDB and MySQL 8) and SQLite 3. The audit store
// writes through it; the dashboard reads through it.
//
// Contract
//  - Open with OpenSqlConnection(dsn, options). The connection's session is
//    UTC and utf8mb4 (MySQL: time_zone '+00:00', strict sql_mode; SQLite:
//    WAL journal, foreign keys on, synchronous FULL, a busy timeout so
//    several processes can share one file).
//  - SQL text uses '?' placeholders only; values are always bound, never
//    pasted into SQL. Write SQL both dialects accept, or branch on
//    dialect(): e.g. SELECT ... FOR UPDATE is MySQL only.
//  - Values (SqlValue): nullptr (NULL), int64_t, double, std::string (text or
//    bytes). Rows come back with the same types: integer columns as int64_t,
//    floating columns as double, NULL as nullptr, everything else (VARCHAR,
//    TEXT, ENUM, DECIMAL) as std::string. DATETIME values travel as text
//    "YYYY-MM-DD HH:MM:SS.mmm" (UTC) in both directions and in both
//    dialects (see FormatSqlTime/ParseSqlTime), so callers never see the
//    dialect's time type.
//  - Statements: Prepare() once, Execute() any number of times with exactly
//    as many values as placeholders, then for a statement that returns rows
//    call Next() until it yields false. Rows stream from the server: until
//    Next() has yielded false (or the statement is re-executed, Reset() or
//    destroyed) the connection must not run another statement.
//  - Transactions: Begin() / Commit() / Rollback(). Outside a transaction
//    every statement commits on its own. SQLite's Begin() is BEGIN IMMEDIATE
//    (takes the write lock up front, so two writers queue on the busy timeout
//    instead of failing half way). A failed statement inside a transaction
//    leaves it open: the caller rolls back.
//  - LastInsertId(): the AUTO_INCREMENT / rowid of the last successful INSERT
//    on this connection.
//  - Errors are Status values whose message names the operation and the
//    server's text, and never contains the DSN's password.
//  - Read-only use (options.read_only): MySQL sessions are READ ONLY, SQLite
//    files are opened read-only (and must already exist).
//
// Thread-safety: a connection and its statements belong to one thread at a
// time. Statements must be destroyed before their connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "audit/dsn.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

enum class SqlDialect { kMySql, kSqlite };

using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;
using SqlRow = std::vector<SqlValue>;

class SqlStatement {
 public:
  virtual ~SqlStatement() = default;
  // Binds `params` and runs the statement; any previous result is dropped.
  virtual Status Execute(const std::vector<SqlValue>& params) = 0;
  // Reads the next row of the last Execute into *row: true when a row was
  // read, false at the end (or when the statement returns no rows).
  virtual Result<bool> Next(SqlRow* row) = 0;
  // Drops the rest of the current result so the connection is free again.
  virtual void Reset() = 0;
  // Rows changed by the last Execute of an INSERT/UPDATE/DELETE.
  virtual int64_t affected_rows() const = 0;
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual SqlDialect dialect() const = 0;
  virtual Result<std::unique_ptr<SqlStatement>> Prepare(const std::string& sql) = 0;
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;
  virtual int64_t LastInsertId() = 0;
  // "mysql user@tcp(host:3306)/db" or "sqlite:///path": for messages.
  virtual std::string Describe() const = 0;

  // Prepare + Execute (+ read to the end): for one-off statements.
  Status Exec(const std::string& sql, const std::vector<SqlValue>& params = {});
  // Prepare + Execute + every row.
  Result<std::vector<SqlRow>> QueryAll(const std::string& sql,
                                       const std::vector<SqlValue>& params = {});
};

struct SqlOpenOptions {
  bool read_only = false;
  // SQLite: how long a writer waits for another process's transaction.
  int busy_timeout_ms = 120000;
};

// Connects to the database the DSN names. SQLite creates the file (not its
// directory) unless read_only.
Result<std::unique_ptr<SqlConnection>> OpenSqlConnection(const Dsn& dsn,
                                                         const SqlOpenOptions& options = {});

// ms since the epoch <-> "YYYY-MM-DD HH:MM:SS.mmm" (UTC).
std::string FormatSqlTime(int64_t ms);
bool ParseSqlTime(const std::string& text, int64_t* ms);

// Helpers to read a column of a row: false when the type does not match.
bool GetInt(const SqlValue& v, int64_t* out);
bool GetText(const SqlValue& v, std::string* out);
inline bool IsNull(const SqlValue& v) { return std::holds_alternative<std::nullptr_t>(v); }

}  // namespace ha_sync::audit
