#include "audit/test_databases.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace ha_sync::audit::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                     "/ha-sync-test.XXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() { RunProcess({"/bin/rm", "-rf", path_}); }

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

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra) {
  ProcessResult result;
  char out_path[] = "/tmp/ha-sync-proc-out.XXXXXX";
  char err_path[] = "/tmp/ha-sync-proc-err.XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  REQUIRE(out_fd >= 0);
  REQUIRE(err_fd >= 0);

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const std::string& extra : env_extra) {
      const size_t eq = extra.find('=');
      if (entry.compare(0, eq + 1, extra, 0, eq + 1) == 0) overridden = true;
    }
    if (!overridden) env.push_back(entry);
  }
  for (const std::string& extra : env_extra) {
    if (extra.find('=') != std::string::npos) env.push_back(extra);
  }
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_fd);
  ::close(err_fd);
  if (rc == 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  } else {
    result.err = std::string("spawn ") + argv[0] + ": " + std::strerror(rc);
  }
  result.out = ReadFileOrEmpty(out_path);
  result.err += ReadFileOrEmpty(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  return result;
}

}  // namespace ha_sync::audit::testing
