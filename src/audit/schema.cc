#include "audit/schema.h"

#include <openssl/evp.h>

#include "ha_sync/text.h"

namespace ha_sync::audit {

namespace {

// The seed's DDL, verbatim in columns, types, enums, indexes and the foreign
// key; additions: run_id + uq_run_id, clock_skew_ns and mtime_precision_ns
// (the clock probe's readings, docs/safety.md), plan_id and files_stale
// (`ha-sync apply`), run_group, shard_index and shard_count (the shards of
// one sharded run, docs/cli.md), InnoDB and utf8mb4 (4-byte
// UTF-8 names).
const char* const kMySqlSchema[] = {
    R"sql(CREATE TABLE IF NOT EXISTS sync_iterations (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  sync_pair VARCHAR(255) NOT NULL,
  direction VARCHAR(64) NOT NULL,
  src VARCHAR(512) NOT NULL,
  dest VARCHAR(512) NOT NULL,
  started_at DATETIME(3) NOT NULL,
  ended_at DATETIME(3),
  status ENUM('running','success','partial_failure','failed') NOT NULL DEFAULT 'running',
  dry_run TINYINT(1) NOT NULL DEFAULT 0,
  files_created INT DEFAULT 0,
  files_updated INT DEFAULT 0,
  files_deleted INT DEFAULT 0,
  files_skipped INT DEFAULT 0,
  files_failed INT DEFAULT 0,
  total_bytes_transferred BIGINT DEFAULT 0,
  error_message TEXT,
  run_id CHAR(32) NULL,
  clock_skew_ns BIGINT NULL,
  mtime_precision_ns BIGINT NULL,
  plan_id BIGINT NULL,
  files_stale INT NULL,
  run_group VARCHAR(64) NULL,
  shard_index INT NULL,
  shard_count INT NULL,
  INDEX idx_pair (sync_pair),
  INDEX idx_started (started_at),
  INDEX idx_dry_run (dry_run),
  UNIQUE KEY uq_run_id (run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)sql",
    R"sql(CREATE TABLE IF NOT EXISTS sync_operations (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  iteration_id BIGINT NOT NULL,
  dry_run TINYINT(1) NOT NULL DEFAULT 0,
  operation ENUM('create','update','delete') NOT NULL,
  filepath VARCHAR(4096) NOT NULL,
  size_before BIGINT,
  size_after BIGINT,
  md5_before VARCHAR(32),
  md5_after VARCHAR(32),
  started_at DATETIME(3) NOT NULL,
  ended_at DATETIME(3),
  status ENUM('success','fail') NOT NULL,
  error_message VARCHAR(4096),
  INDEX idx_iteration (iteration_id),
  CONSTRAINT fk_iteration FOREIGN KEY (iteration_id) REFERENCES sync_iterations(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)sql",
};

// SQLite: the same columns; ENUMs, TINYINT(1) and VARCHAR limits become
// CHECK constraints; DATETIME(3) is TEXT 'YYYY-MM-DD HH:MM:SS.mmm' (UTC),
// which sorts and compares like the MySQL value.
const char* const kSqliteSchema[] = {
    R"sql(CREATE TABLE IF NOT EXISTS sync_iterations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sync_pair TEXT NOT NULL CHECK (length(sync_pair) <= 255),
  direction TEXT NOT NULL CHECK (length(direction) <= 64),
  src TEXT NOT NULL CHECK (length(src) <= 512),
  dest TEXT NOT NULL CHECK (length(dest) <= 512),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL DEFAULT 'running'
    CHECK (status IN ('running','success','partial_failure','failed')),
  dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
  files_created INTEGER DEFAULT 0,
  files_updated INTEGER DEFAULT 0,
  files_deleted INTEGER DEFAULT 0,
  files_skipped INTEGER DEFAULT 0,
  files_failed INTEGER DEFAULT 0,
  total_bytes_transferred INTEGER DEFAULT 0,
  error_message TEXT,
  run_id TEXT CHECK (run_id IS NULL OR length(run_id) <= 32),
  clock_skew_ns INTEGER,
  mtime_precision_ns INTEGER,
  plan_id INTEGER,
  files_stale INTEGER,
  run_group TEXT CHECK (run_group IS NULL OR length(run_group) <= 64),
  shard_index INTEGER,
  shard_count INTEGER
))sql",
    "CREATE INDEX IF NOT EXISTS idx_pair ON sync_iterations (sync_pair)",
    "CREATE INDEX IF NOT EXISTS idx_started ON sync_iterations (started_at)",
    "CREATE INDEX IF NOT EXISTS idx_dry_run ON sync_iterations (dry_run)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_run_id ON sync_iterations (run_id)",
    R"sql(CREATE TABLE IF NOT EXISTS sync_operations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  iteration_id INTEGER NOT NULL,
  dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
  operation TEXT NOT NULL CHECK (operation IN ('create','update','delete')),
  filepath TEXT NOT NULL CHECK (length(filepath) <= 4096),
  size_before INTEGER,
  size_after INTEGER,
  md5_before TEXT CHECK (md5_before IS NULL OR length(md5_before) <= 32),
  md5_after TEXT CHECK (md5_after IS NULL OR length(md5_after) <= 32),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('success','fail')),
  error_message TEXT CHECK (error_message IS NULL OR length(error_message) <= 4096),
  CONSTRAINT fk_iteration FOREIGN KEY (iteration_id) REFERENCES sync_iterations (id)
))sql",
    "CREATE INDEX IF NOT EXISTS idx_iteration ON sync_operations (iteration_id)",
};

// A sync_iterations created from the seed's DDL (e.g. by an earlier tool),
// or by an earlier ha-sync, lacks the additions: add each missing column.
// Two processes may race here; the loser's ALTER fails with "duplicate
// column" and the re-check then finds the column.
struct AddedColumn {
  const char* name;
  const char* mysql_add;   // ALTER TABLE sync_iterations ...
  const char* sqlite_add;
};
constexpr AddedColumn kAddedColumns[] = {
    {"run_id", "ADD COLUMN run_id CHAR(32) NULL, ADD UNIQUE KEY uq_run_id (run_id)",
     "ADD COLUMN run_id TEXT CHECK (run_id IS NULL OR length(run_id) <= 32)"},
    {"clock_skew_ns", "ADD COLUMN clock_skew_ns BIGINT NULL", "ADD COLUMN clock_skew_ns INTEGER"},
    {"mtime_precision_ns", "ADD COLUMN mtime_precision_ns BIGINT NULL",
     "ADD COLUMN mtime_precision_ns INTEGER"},
    // `ha-sync apply` (docs/cli.md): the dry-run an iteration executed, and
    // the planned operations it skipped as stale.
    {"plan_id", "ADD COLUMN plan_id BIGINT NULL", "ADD COLUMN plan_id INTEGER"},
    {"files_stale", "ADD COLUMN files_stale INT NULL", "ADD COLUMN files_stale INTEGER"},
    {"run_group", "ADD COLUMN run_group VARCHAR(64) NULL",
     "ADD COLUMN run_group TEXT CHECK (run_group IS NULL OR length(run_group) <= 64)"},
    {"shard_index", "ADD COLUMN shard_index INT NULL", "ADD COLUMN shard_index INTEGER"},
    {"shard_count", "ADD COLUMN shard_count INT NULL", "ADD COLUMN shard_count INTEGER"},
};

Status AddColumnIfMissing(SqlConnection* conn, const AddedColumn& column) {
  const bool mysql = conn->dialect() == SqlDialect::kMySql;
  auto has_column = [&]() -> Result<bool> {
    auto rows = mysql ? conn->QueryAll(
                            "SELECT COUNT(*) FROM information_schema.columns WHERE "
                            "table_schema = DATABASE() AND table_name = 'sync_iterations' AND "
                            "column_name = ?",
                            {std::string(column.name)})
                      : conn->QueryAll(
                            "SELECT COUNT(*) FROM pragma_table_info('sync_iterations') "
                            "WHERE name = ?",
                            {std::string(column.name)});
    if (!rows.ok()) return rows.status();
    int64_t n = 0;
    return !rows->empty() && GetInt(rows->front().at(0), &n) && n > 0;
  };
  auto present = has_column();
  if (!present.ok()) return present.status();
  if (*present) return Status::Ok();
  Status s = conn->Exec(std::string("ALTER TABLE sync_iterations ") +
                        (mysql ? column.mysql_add : column.sqlite_add));
  if (!s.ok()) {
    present = has_column();
    if (!present.ok() || !*present) return s;
  }
  return Status::Ok();
}

Status AddMissingColumns(SqlConnection* conn) {
  for (const AddedColumn& column : kAddedColumns) {
    if (Status s = AddColumnIfMissing(conn, column); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace

const char* const* SchemaStatements(SqlDialect dialect, size_t* count) {
  if (dialect == SqlDialect::kMySql) {
    *count = std::size(kMySqlSchema);
    return kMySqlSchema;
  }
  *count = std::size(kSqliteSchema);
  return kSqliteSchema;
}

Status EnsureSchema(SqlConnection* conn) {
  size_t count = 0;
  const char* const* statements = SchemaStatements(conn->dialect(), &count);
  for (size_t i = 0; i < count; ++i) {
    const std::string sql = statements[i];
    // The unique run_id index of SQLite needs the column, which an older
    // table may lack: add the columns first.
    if (sql.rfind("CREATE UNIQUE INDEX IF NOT EXISTS uq_run_id", 0) == 0) {
      if (Status s = AddMissingColumns(conn); !s.ok()) return s;
    }
    if (Status s = conn->Exec(sql); !s.ok()) return s;
  }
  if (conn->dialect() == SqlDialect::kMySql) return AddMissingColumns(conn);
  return Status::Ok();
}

std::string FitColumn(const std::string& text, size_t max_chars) {
  const std::string valid = IsValidUtf8(text) ? text : EscapeForDisplay(text);
  size_t chars = 0;
  for (size_t i = 0; i < valid.size(); ++i) {
    const auto c = static_cast<unsigned char>(valid[i]);
    if ((c & 0xC0) != 0x80) {
      if (chars == max_chars) return valid.substr(0, i);
      ++chars;
    }
  }
  return valid;
}

std::string StoredFilepath(const std::string& path) {
  std::string text = EncodePathForText(path);
  if (text.size() <= kMaxFilepathChars) return text;
  // Too long for the column: a cut form that stays unique, the path's own
  // digest at its end (the opslog line keeps the whole path).
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(path.data(), path.size(), digest, &len, EVP_md5(), nullptr);
  std::string suffix = kCutPathMark;
  for (unsigned int i = 0; i < len; ++i) {
    static const char kHex[] = "0123456789abcdef";
    suffix += kHex[digest[i] >> 4];
    suffix += kHex[digest[i] & 15];
  }
  const size_t room = kMaxFilepathChars - suffix.size();
  if (text.rfind("b64:", 0) == 0) {
    text.resize(4 + (room - 4) / 4 * 4);  // a whole number of base64 quanta
    return text + suffix;
  }
  return FitColumn(text, room) + suffix;
}

}  // namespace ha_sync::audit
