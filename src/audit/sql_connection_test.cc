// The connection layer and the schema, run against every TestDatabase
// (SQLite always, MariaDB when the harness provides one).
#include "audit/sql_connection.h"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include "audit/opslog_format.h"
#include "audit/schema.h"
#include "support/test_databases.h"

namespace ha_sync::audit {
namespace {

using testing::TempDir;
using testing::TestDatabases;

int64_t CountRows(SqlConnection* conn, const std::string& table) {
  auto rows = conn->QueryAll("SELECT COUNT(*) FROM " + table);
  REQUIRE_MESSAGE(rows.ok(), rows.status().message());
  int64_t n = -1;
  REQUIRE(GetInt(rows->at(0).at(0), &n));
  return n;
}

int64_t InsertIteration(SqlConnection* conn, const std::string& run_id, const std::string& status) {
  Status s = conn->Exec(
      "INSERT INTO sync_iterations (sync_pair, direction, src, dest, started_at, status, dry_run, "
      "run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {std::string("media"), std::string("dell-to-hp"), std::string("/a"), std::string("/b"),
       FormatSqlTime(1764000000123), status, int64_t{0}, run_id});
  REQUIRE_MESSAGE(s.ok(), s.message());
  return conn->LastInsertId();
}

}  // namespace

TEST_CASE("SQL times are UTC text with milliseconds") {
  CHECK(FormatSqlTime(1764000000123) == "2025-11-24 16:00:00.123");
  CHECK(FormatSqlTime(0) == "1970-01-01 00:00:00.000");
  int64_t ms = 0;
  REQUIRE(ParseSqlTime("2025-11-24 16:00:00.123", &ms));
  CHECK(ms == 1764000000123);
  REQUIRE(ParseSqlTime("2025-11-24 16:00:00", &ms));
  CHECK(ms == 1764000000000);
  REQUIRE(ParseSqlTime("2025-11-24 16:00:00.5", &ms));
  CHECK(ms == 1764000000500);
  CHECK_FALSE(ParseSqlTime("2025-11-24T16:00:00.123Z", &ms));
  CHECK_FALSE(ParseSqlTime("yesterday", &ms));
}

TEST_CASE("hand-rolled calendar code agrees with the C library") {
  // Leap days, century years, the epoch, and a walk over 130 years.
  std::vector<int64_t> samples = {0, 951782400000, 951868799999, 4107542400000, 1709164800123,
                                  -1, 253402300799999};
  for (int64_t t = -86400000; t < 4102444800000; t += 86400000LL * 37 + 3600000 * 5 + 61001) {
    samples.push_back(t);
  }
  for (int64_t t : samples) {
    CAPTURE(t);
    const time_t secs = static_cast<time_t>(t >= 0 ? t / 1000 : (t - 999) / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ref[40];
    std::snprintf(ref, sizeof ref, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(t - static_cast<int64_t>(secs) * 1000));
    CHECK(FormatSqlTime(t) == ref);
    int64_t back = 0;
    REQUIRE(ParseSqlTime(FormatSqlTime(t), &back));
    CHECK(back == t);
    if (t >= 0) {
      REQUIRE(ParseUtcMs(FormatUtcMs(t), &back));
      CHECK(back == t);
    }
  }
  int64_t ms = 0;
  CHECK_FALSE(ParseUtcMs("2026-13-01T00:00:00.000Z", &ms));
  CHECK_FALSE(ParseUtcMs("2026-01-01T00:00:00.00xZ", &ms));
  CHECK_FALSE(ParseUtcMs("2026-01-01 00:00:00.000Z", &ms));
}

TEST_CASE("schema is created, re-created idempotently, and values round-trip") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto conn = db.Connect();
    Status s = EnsureSchema(conn.get());
    REQUIRE_MESSAGE(s.ok(), s.message());
    s = EnsureSchema(conn.get());  // re-run on an existing schema
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(CountRows(conn.get(), "sync_iterations") == 0);
    CHECK(CountRows(conn.get(), "sync_operations") == 0);

    const int64_t id = InsertIteration(conn.get(), "0123456789abcdef0123456789abcdef", "running");
    CHECK(id > 0);
    const std::string long_path(5000 / 2, 'p');  // longer than the 256-byte first buffer
    const std::string utf8 = "fotos/\xC3\xA9t\xC3\xA9/\xF0\x9F\x98\x80.jpg";
    auto insert = conn->Prepare(
        "INSERT INTO sync_operations (iteration_id, dry_run, operation, filepath, size_before, "
        "size_after, md5_before, md5_after, started_at, ended_at, status, error_message) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    REQUIRE_MESSAGE(insert.ok(), insert.status().message());
    s = (*insert)->Execute({id, int64_t{0}, std::string("create"), utf8, nullptr,
                            int64_t{1} << 40, nullptr, std::string("d41d8cd98f00b204e9800998ecf8427e"),
                            FormatSqlTime(1764000000123), FormatSqlTime(1764000001999),
                            std::string("success"), nullptr,
                            // second row
                            id, int64_t{0}, std::string("delete"), long_path, int64_t{7}, nullptr,
                            nullptr, nullptr, FormatSqlTime(1764000002000), nullptr,
                            std::string("fail"), std::string("unlink 'x': Permission denied")});
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK((*insert)->affected_rows() == 2);

    auto select = conn->Prepare(
        "SELECT filepath, size_before, size_after, md5_after, started_at, ended_at, status, "
        "error_message, id FROM sync_operations WHERE iteration_id = ? ORDER BY id");
    REQUIRE(select.ok());
    REQUIRE((*select)->Execute({id}).ok());
    SqlRow row;
    auto more = (*select)->Next(&row);
    REQUIRE(more.ok());
    REQUIRE(*more);
    CHECK(std::get<std::string>(row[0]) == utf8);
    CHECK(IsNull(row[1]));
    CHECK(std::get<int64_t>(row[2]) == (int64_t{1} << 40));
    CHECK(std::get<std::string>(row[3]) == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(std::get<std::string>(row[4]) == "2025-11-24 16:00:00.123");
    CHECK(std::get<std::string>(row[5]) == "2025-11-24 16:00:01.999");
    CHECK(std::get<std::string>(row[6]) == "success");
    CHECK(IsNull(row[7]));
    more = (*select)->Next(&row);
    REQUIRE(more.ok());
    REQUIRE(*more);
    CHECK(std::get<std::string>(row[0]) == long_path);
    CHECK(std::get<int64_t>(row[1]) == 7);
    CHECK(IsNull(row[5]));
    CHECK(std::get<std::string>(row[7]) == "unlink 'x': Permission denied");
    more = (*select)->Next(&row);
    REQUIRE(more.ok());
    CHECK_FALSE(*more);

    // The statement can run again, and a half-read result can be dropped.
    REQUIRE((*select)->Execute({id}).ok());
    REQUIRE((*select)->Next(&row).ok());
    (*select)->Reset();
    CHECK(CountRows(conn.get(), "sync_operations") == 2);
  }
}

TEST_CASE("constraints of the seed schema hold in both dialects") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto conn = db.Connect();
    REQUIRE(EnsureSchema(conn.get()).ok());
    const int64_t id = InsertIteration(conn.get(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "running");
    // run_id is unique
    CHECK_FALSE(conn->Exec("INSERT INTO sync_iterations (sync_pair, direction, src, dest, "
                           "started_at, run_id) VALUES ('p', 'd', '/a', '/b', ?, ?)",
                           {FormatSqlTime(0), std::string(32, 'a')})
                    .ok());
    // enums
    CHECK_FALSE(conn->Exec("UPDATE sync_iterations SET status = 'exploded' WHERE id = ?", {id}).ok());
    const std::string op_sql =
        "INSERT INTO sync_operations (iteration_id, operation, filepath, started_at, status) "
        "VALUES (?, ?, ?, ?, ?)";
    CHECK_FALSE(conn->Exec(op_sql, {id, std::string("copy"), std::string("f"), FormatSqlTime(0),
                                    std::string("success")})
                    .ok());
    // the foreign key
    CHECK_FALSE(conn->Exec(op_sql, {id + 1000, std::string("create"), std::string("f"),
                                    FormatSqlTime(0), std::string("success")})
                    .ok());
    // VARCHAR(4096)
    CHECK_FALSE(conn->Exec(op_sql, {id, std::string("create"), std::string(4097, 'x'),
                                    FormatSqlTime(0), std::string("success")})
                    .ok());
    CHECK(conn->Exec(op_sql, {id, std::string("create"), std::string(4096, 'x'), FormatSqlTime(0),
                              std::string("success")})
              .ok());
    // defaults
    auto rows = conn->QueryAll(
        "SELECT files_created, total_bytes_transferred, dry_run, status FROM sync_iterations "
        "WHERE id = ?",
        {id});
    REQUIRE(rows.ok());
    CHECK(std::get<int64_t>(rows->at(0)[0]) == 0);
    CHECK(std::get<int64_t>(rows->at(0)[1]) == 0);
    CHECK(std::get<int64_t>(rows->at(0)[2]) == 0);
    CHECK(std::get<std::string>(rows->at(0)[3]) == "running");
  }
}

TEST_CASE("transactions: rollback discards, commit keeps, last insert id") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto conn = db.Connect();
    REQUIRE(EnsureSchema(conn.get()).ok());
    REQUIRE(conn->Begin().ok());
    const int64_t first = InsertIteration(conn.get(), std::string(32, 'b'), "running");
    REQUIRE(conn->Rollback().ok());
    CHECK(CountRows(conn.get(), "sync_iterations") == 0);
    REQUIRE(conn->Begin().ok());
    const int64_t second = InsertIteration(conn.get(), std::string(32, 'b'), "running");
    REQUIRE(conn->Commit().ok());
    CHECK(second != 0);
    CHECK(second >= first);
    auto rows = conn->QueryAll("SELECT id FROM sync_iterations WHERE run_id = ?",
                               {std::string(32, 'b')});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    CHECK(std::get<int64_t>(rows->at(0)[0]) == second);
    // Wrong number of values is an error, not a crash.
    CHECK_FALSE(conn->Exec("SELECT ? + ?", {int64_t{1}}).ok());
  }
}

TEST_CASE("a seed-created sync_iterations without run_id, clock and plan columns gets them") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto conn = db.Connect();
    size_t count = 0;
    const char* const* ddl = SchemaStatements(conn->dialect(), &count);
    std::string seed = ddl[0];
    // Strip the additions to get the seed's table.
    if (conn->dialect() == SqlDialect::kMySql) {
      for (const std::string added : {"  run_id CHAR(32) NULL,\n", "  clock_skew_ns BIGINT NULL,\n",
                                       "  mtime_precision_ns BIGINT NULL,\n", "  plan_id BIGINT NULL,\n",
                                       "  files_stale INT NULL,\n"}) {
        REQUIRE(seed.find(added) != std::string::npos);
        seed.erase(seed.find(added), added.size());
      }
      seed.erase(seed.find(",\n  UNIQUE KEY uq_run_id (run_id)"),
                 std::string(",\n  UNIQUE KEY uq_run_id (run_id)").size());
    } else {
      const size_t at = seed.find(",\n  run_id TEXT");
      seed = seed.substr(0, at) + "\n)";
    }
    REQUIRE(seed.find("run_id") == std::string::npos);
    REQUIRE(seed.find("clock_skew_ns") == std::string::npos);
    REQUIRE(seed.find("plan_id") == std::string::npos);
    Status s = conn->Exec(seed);
    REQUIRE_MESSAGE(s.ok(), s.message());
    s = EnsureSchema(conn.get());
    REQUIRE_MESSAGE(s.ok(), s.message());
    InsertIteration(conn.get(), std::string(32, 'c'), "running");
    CHECK_FALSE(conn->Exec("INSERT INTO sync_iterations (sync_pair, direction, src, dest, "
                           "started_at, run_id) VALUES ('p', 'd', '/a', '/b', ?, ?)",
                           {FormatSqlTime(0), std::string(32, 'c')})
                    .ok());
    CHECK(conn->Exec("UPDATE sync_iterations SET clock_skew_ns = 1500000, mtime_precision_ns = 1000 "
                     "WHERE run_id = ?",
                     {std::string(32, 'c')})
              .ok());
    CHECK(conn->Exec("UPDATE sync_iterations SET plan_id = 7, files_stale = 2 WHERE run_id = ?",
                     {std::string(32, 'c')})
              .ok());
    // A second EnsureSchema (every run calls it) finds everything in place.
    s = EnsureSchema(conn.get());
    CHECK_MESSAGE(s.ok(), s.message());
  }
}

TEST_CASE("SQLite: processes opening a new database together all get it (journal mode set while busy)") {
  // The shards of a first sharded run open the new database at once; the
  // journal-mode change answers "database is locked" without waiting.
  TempDir tmp;
  for (int round = 0; round < 25; ++round) {
    auto dsn = ParseDsn("sqlite://" + tmp.path() + "/new-" + std::to_string(round) + ".db", tmp.path());
    REQUIRE(dsn.ok());
    int start[2];
    REQUIRE(::pipe(start) == 0);
    std::vector<pid_t> children;
    for (int i = 0; i < 7; ++i) {
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        ::close(start[1]);
        char c;
        (void)::read(start[0], &c, 1);  // all start together, when the parent closes its end
        auto conn = OpenSqlConnection(*dsn);
        if (!conn.ok()) std::fprintf(stderr, "%s\n", conn.status().message().c_str());
        _exit(conn.ok() && EnsureSchema(conn->get()).ok() ? 0 : 1);
      }
      children.push_back(pid);
    }
    ::close(start[0]);
    ::close(start[1]);
    int failed = 0;
    for (pid_t pid : children) {
      int status = 0;
      REQUIRE(::waitpid(pid, &status, 0) == pid);
      failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(failed == 0);
  }
}

TEST_CASE("connection failures never show the password") {
  TempDir tmp;
  const std::string secret = "Xyzzy-s3cret-pw";
  // Nothing listens on port 1.
  auto dsn = ParseDsn("hasync:" + secret + "@tcp(127.0.0.1:1)/general_db?timeout=2s", tmp.path());
  REQUIRE(dsn.ok());
  auto conn = OpenSqlConnection(*dsn);
  REQUIRE_FALSE(conn.ok());
  CHECK(conn.status().message().find(secret) == std::string::npos);
  CHECK(conn.status().message().find("hasync:***@tcp(127.0.0.1:1)/general_db") != std::string::npos);

  // A wrong password against the real server.
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    if (db.dsn.kind != Dsn::Kind::kMySql) continue;
    Dsn wrong = db.dsn;
    wrong.password = secret;
    wrong.password_raw = secret;
    auto c = OpenSqlConnection(wrong);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find(secret) == std::string::npos);
    CHECK(c.status().message().find("Access denied") != std::string::npos);
  }

  // SQLite: a file in a missing directory.
  auto lite = ParseDsn("sqlite://" + tmp.path() + "/missing/dir/x.db", tmp.path());
  REQUIRE(lite.ok());
  auto l = OpenSqlConnection(*lite);
  CHECK_FALSE(l.ok());
  CHECK(l.status().message().find("missing/dir/x.db") != std::string::npos);
}

}  // namespace ha_sync::audit
