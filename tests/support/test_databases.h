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

namespace ha_sync::audit::testing {

// A temporary directory removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

// Runs `argv` (argv[0] a path) with `env_extra` added to the environment;
// captures stdout and stderr; returns the exit status (128+signal if killed).
struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra = {});

std::string ReadFileOrEmpty(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& content);

}  // namespace ha_sync::audit::testing
