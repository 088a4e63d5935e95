#include "audit/sqlite_connection.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <thread>

#include "ha_sync/file_system_kind.h"

namespace ha_sync::audit {

namespace {

class SqliteConnection;

class SqliteStatement : public SqlStatement {
 public:
  SqliteStatement(SqliteConnection* conn, sqlite3_stmt* stmt, std::string sql)
      : conn_(conn), stmt_(stmt), sql_(std::move(sql)) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }

  Status Execute(const std::vector<SqlValue>& params) override;
  Result<bool> Next(SqlRow* row) override;
  void Reset() override {
    sqlite3_reset(stmt_);
    state_ = State::kDone;
  }
  int64_t affected_rows() const override { return affected_; }

 private:
  enum class State { kDone, kRowReady, kNeedStep };
  Status Error(const char* what) const;
  void ReadRow(SqlRow* row) const;

  SqliteConnection* conn_;
  sqlite3_stmt* stmt_;
  const std::string sql_;
  State state_ = State::kDone;
  int64_t affected_ = 0;
};

class SqliteConnection : public SqlConnection {
 public:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  Result<std::unique_ptr<SqlStatement>> Prepare(const std::string& sql) override {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size() + 1), &stmt, &tail) !=
        SQLITE_OK) {
      Status s = Error("prepare '" + sql.substr(0, 60) + "'");
      sqlite3_finalize(stmt);
      return s;
    }
    if (stmt == nullptr) return Status::Error("prepare: empty SQL statement");
    return std::unique_ptr<SqlStatement>(std::make_unique<SqliteStatement>(this, stmt, sql));
  }
  Status Begin() override { return Run("BEGIN IMMEDIATE", "begin transaction"); }
  Status Commit() override { return Run("COMMIT", "commit"); }
  Status Rollback() override { return Run("ROLLBACK", "rollback"); }
  int64_t LastInsertId() override { return sqlite3_last_insert_rowid(db_); }
  std::string Describe() const override { return "sqlite://" + path_; }

  Status Run(const char* sql, const std::string& what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return Error(what);
    return Status::Ok();
  }
  // As Run, retrying while the database is locked, for up to `timeout_ms`.
  // A journal-mode change needs the database to itself and answers BUSY at
  // once, without the busy handler: the shards of a first sharded run, all
  // opening a new database together, would otherwise fail here.
  Status RunWhileBusy(const char* sql, const std::string& what, int timeout_ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::minstd_rand jitter(static_cast<unsigned>(::getpid()));
    for (;;) {
      Status s = Run(sql, what);
      if (s.ok() || (sqlite3_errcode(db_) & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= end) {
        return s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + jitter() % 20));
    }
  }
  Status Error(const std::string& what) const {
    return Status::Error(what + " (" + Describe() + "): " + sqlite3_errmsg(db_));
  }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
  const std::string path_;
};

Status SqliteStatement::Error(const char* what) const {
  std::string sql = sql_.substr(0, 60);
  if (sql.size() < sql_.size()) sql += "...";
  return conn_->Error(std::string(what) + " '" + sql + "'");
}

Status SqliteStatement::Execute(const std::vector<SqlValue>& params) {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  state_ = State::kDone;
  affected_ = 0;
  if (sqlite3_bind_parameter_count(stmt_) != static_cast<int>(params.size())) {
    return Status::Error("execute '" + sql_.substr(0, 60) + "': " + std::to_string(params.size()) +
                         " values for " + std::to_string(sqlite3_bind_parameter_count(stmt_)) +
                         " placeholders");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int idx = static_cast<int>(i) + 1;
    const SqlValue& v = params[i];
    int rc;
    if (std::holds_alternative<std::nullptr_t>(v)) {
      rc = sqlite3_bind_null(stmt_, idx);
    } else if (const auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt_, idx, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt_, idx, *d);
    } else {
      const std::string& s = std::get<std::string>(v);
      rc = sqlite3_bind_text64(stmt_, idx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    if (rc != SQLITE_OK) return Error("bind");
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    state_ = State::kRowReady;
  } else if (rc == SQLITE_DONE) {
    affected_ = sqlite3_changes64(conn_->db());
    sqlite3_reset(stmt_);
  } else {
    Status s = Error("execute");
    sqlite3_reset(stmt_);
    return s;
  }
  return Status::Ok();
}

void SqliteStatement::ReadRow(SqlRow* row) const {
  const int n = sqlite3_column_count(stmt_);
  row->assign(static_cast<size_t>(n), SqlValue(nullptr));
  for (int i = 0; i < n; ++i) {
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_INTEGER:
        (*row)[i] = static_cast<int64_t>(sqlite3_column_int64(stmt_, i));
        break;
      case SQLITE_FLOAT:
        (*row)[i] = sqlite3_column_double(stmt_, i);
        break;
      case SQLITE_NULL:
        break;
      default: {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
        (*row)[i] = std::string(p == nullptr ? "" : p, static_cast<size_t>(sqlite3_column_bytes(stmt_, i)));
        break;
      }
    }
  }
}

Result<bool> SqliteStatement::Next(SqlRow* row) {
  if (state_ == State::kDone) return false;
  if (state_ == State::kNeedStep) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE) {
      Reset();
      return false;
    }
    if (rc != SQLITE_ROW) {
      Status s = Error("fetch");
      Reset();
      return s;
    }
  }
  ReadRow(row);
  state_ = State::kNeedStep;
  return true;
}

// WAL keeps its index in shared memory, which only works for processes on
// one host: on a network file system (the log PV is NFS) fall back to the
// rollback journal, which relies on file locks only.
bool DatabaseOnNetworkFileSystem(const std::string& db_path) {
  const size_t slash = db_path.rfind('/');
  return OnNetworkFileSystem(slash == 0 ? "/" : db_path.substr(0, slash));
}

}  // namespace

Result<std::unique_ptr<SqlConnection>> OpenSqliteConnection(const Dsn& dsn,
                                                            const SqlOpenOptions& options) {
  sqlite3* db = nullptr;
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(dsn.sqlite_path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status s = Status::Error("open sqlite://" + dsn.sqlite_path + ": " +
                             (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close_v2(db);
    return s;
  }
  auto conn = std::make_unique<SqliteConnection>(db, dsn.sqlite_path);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  sqlite3_extended_result_codes(db, 1);
  // WAL lets the dashboard read while a run writes; FULL makes a commit
  // durable before the opslog behind it is deleted.
  for (const char* pragma : {"PRAGMA foreign_keys = ON", "PRAGMA synchronous = FULL"}) {
    if (Status s = conn->Run(pragma, pragma); !s.ok()) return s;
  }
  if (!options.read_only) {
    const char* mode = DatabaseOnNetworkFileSystem(dsn.sqlite_path) ? "PRAGMA journal_mode = DELETE"
                                                            : "PRAGMA journal_mode = WAL";
    if (Status s = conn->RunWhileBusy(mode, mode, options.busy_timeout_ms); !s.ok()) return s;
  }
  return std::unique_ptr<SqlConnection>(std::move(conn));
}

}  // namespace ha_sync::audit
