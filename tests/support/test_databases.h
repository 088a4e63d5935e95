// Test support (linked into the audit test program only): the databases the
// same store tests run against. Always a fresh SQLite file; and, when
// HA_SYNC_TEST_MYSQL_DSN names a MySQL/MariaDB server (tests/mariadb_server.sh
// sets it), a fresh database on that server, dropped again by the fixture.
// HA_SYNC_TEST_MARIADB_CTL / HA_SYNC_TEST_MARIADB_DIR let tests stop, kill
// and restart that server.
//
// Thread-safety: test code, one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "audit/dsn.h"
#include "audit/sql_connection.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace ha_sync::audit::testing {

using ha_sync::testing::TempDir;  // support/temp_dir.h

struct TestDatabase {
  std::string name;      // "sqlite" | "mariadb"
  std::string dsn_text;  // the DSN as a user would pass it
  Dsn dsn;
  std::unique_ptr<SqlConnection> Connect() const;
};

// One fresh database per backend. `dir` holds the SQLite file.
class TestDatabases {
 public:
  explicit TestDatabases(const std::string& dir);
  ~TestDatabases();
  const std::vector<TestDatabase>& all() const { return dbs_; }

 private:
  std::vector<TestDatabase> dbs_;
};

// The server control of tests/mariadb_server.sh, when the harness started
// the server: false when unavailable.
bool HaveMariaDbControl();
// "stop" | "kill" | "start": runs the script; true on success.
bool MariaDbControl(const std::string& action);

using ha_sync::testing::ProcessResult;  // support/process.h
using ha_sync::testing::RunProcess;

using ha_sync::testing::ReadFileOrEmpty;  // support/temp_dir.h
void WriteFileOrDie(const std::string& path, const std::string& content);

}  // namespace ha_sync::audit::testing
