#include "support/test_databases.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ha_sync::audit::testing {

std::unique_ptr<SqlConnection> TestDatabase::Connect() const {
  auto conn = OpenSqlConnection(dsn);
  REQUIRE_MESSAGE(conn.ok(), conn.status().message());
  return std::move(*conn);
}

TestDatabases::TestDatabases(const std::string& dir) {
  TestDatabase sqlite;
  sqlite.name = "sqlite";
  sqlite.dsn_text = "sqlite://" + dir + "/test.db";
  auto parsed = ParseDsn(sqlite.dsn_text, dir);
  REQUIRE(parsed.ok());
  sqlite.dsn = *parsed;
  dbs_.push_back(std::move(sqlite));

  const char* base = std::getenv("HA_SYNC_TEST_MYSQL_DSN");
  if (base == nullptr || *base == '\0') {
    static bool warned = false;
    if (!warned) MESSAGE("HA_SYNC_TEST_MYSQL_DSN is unset: MariaDB half skipped");
    warned = true;
    return;
  }
  auto base_dsn = ParseDsn(base, dir);
  REQUIRE_MESSAGE(base_dsn.ok(), base_dsn.status().message());
  static int counter = 0;
  const std::string db = "ha_sync_t" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  {
    auto conn = OpenSqlConnection(*base_dsn);
    REQUIRE_MESSAGE(conn.ok(), conn.status().message());
    Status s = (*conn)->Exec("CREATE DATABASE `" + db + "` CHARACTER SET utf8mb4");
    REQUIRE_MESSAGE(s.ok(), s.message());
  }
  TestDatabase mysql;
  mysql.name = "mariadb";
  const std::string text = base;
  const size_t slash = text.rfind('/');
  const size_t q = text.find('?', slash);
  mysql.dsn_text = text.substr(0, slash + 1) + db + (q == std::string::npos ? "" : text.substr(q));
  auto mysql_dsn = ParseDsn(mysql.dsn_text, dir);
  REQUIRE(mysql_dsn.ok());
  mysql.dsn = *mysql_dsn;
  dbs_.push_back(std::move(mysql));
}

TestDatabases::~TestDatabases() {
  for (const TestDatabase& db : dbs_) {
    if (db.dsn.kind != Dsn::Kind::kMySql) continue;
    auto conn = OpenSqlConnection(db.dsn);
    if (conn.ok()) (void)(*conn)->Exec("DROP DATABASE IF EXISTS `" + db.dsn.database + "`");
  }
}

bool HaveMariaDbControl() {
  const char* ctl = std::getenv("HA_SYNC_TEST_MARIADB_CTL");
  const char* dir = std::getenv("HA_SYNC_TEST_MARIADB_DIR");
  return ctl != nullptr && *ctl != '\0' && dir != nullptr && *dir != '\0';
}

bool MariaDbControl(const std::string& action) {
  if (!HaveMariaDbControl()) return false;
  const ProcessResult r = RunProcess({std::getenv("HA_SYNC_TEST_MARIADB_CTL"), action,
                                      std::getenv("HA_SYNC_TEST_MARIADB_DIR")});
  if (r.exit_code != 0) MESSAGE("mariadb_server.sh " << action << " failed: " << r.err);
  return r.exit_code == 0;
}

void WriteFileOrDie(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

}  // namespace ha_sync::audit::testing
