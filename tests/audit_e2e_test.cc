// End to end: the built `ha-sync` binary (HA_SYNC_EXE, set by meson) on real
// directories, against every TestDatabase: rows of a real run, dry-runs,
// database outages, SIGKILL at the fault points, concurrent pairs, DSN errors.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "audit/audit_run.h"
#include "audit/sql_connection.h"
#include "support/test_databases.h"

namespace ha_sync::audit {
namespace {

using testing::ProcessResult;
using testing::ReadFileOrEmpty;
using testing::RunProcess;
using testing::TempDir;
using testing::TestDatabase;
using testing::TestDatabases;
using testing::WriteFileOrDie;

std::string Exe() {
  const char* exe = std::getenv("HA_SYNC_EXE");
  REQUIRE_MESSAGE(exe != nullptr, "HA_SYNC_EXE must name the built ha-sync binary");
  return exe;
}

void MakeFile(const std::string& path, const std::string& content, int64_t mtime_s) {
  WriteFileOrDie(path, content);
  const struct timespec times[2] = {{mtime_s, 0}, {mtime_s, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

std::string Md5Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

struct Dirs {
  std::string src, dest, log;
  explicit Dirs(const std::string& base) : src(base + "/src"), dest(base + "/dest"), log(base + "/log") {
    REQUIRE(::mkdir(base.c_str(), 0755) == 0);
    REQUIRE(::mkdir(src.c_str(), 0755) == 0);
    REQUIRE(::mkdir(dest.c_str(), 0755) == 0);
    REQUIRE(::mkdir(log.c_str(), 0755) == 0);
  }
};

ProcessResult Sync(const Dirs& d, const std::string& pair, const std::string& dsn,
                   std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
  std::vector<std::string> argv = {Exe(), "--src", d.src, "--dest", d.dest, "--pair", pair,
                                   "--log-dir", d.log, "--db-dsn", dsn, "--no-progress"};
  if (std::find(extra.begin(), extra.end(), "--direction") == extra.end()) {
    extra.insert(extra.end(), {"--direction", "dell-to-hp"});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunProcess(argv, env);
}

int64_t QueryInt(SqlConnection* conn, const std::string& sql, const std::vector<SqlValue>& params = {}) {
  auto rows = conn->QueryAll(sql, params);
  REQUIRE_MESSAGE(rows.ok(), rows.status().message());
  REQUIRE(rows->size() == 1);
  int64_t n = -1;
  if (IsNull(rows->at(0).at(0))) return 0;
  REQUIRE(GetInt(rows->at(0).at(0), &n));
  return n;
}

int64_t PairOps(SqlConnection* conn, const std::string& pair, const std::string& extra_where = "") {
  return QueryInt(conn,
                  "SELECT COUNT(*) FROM sync_operations o JOIN sync_iterations i ON "
                  "o.iteration_id = i.id WHERE i.sync_pair = ?" + extra_where,
                  {pair});
}

std::vector<std::string> Opslogs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("opslog-", 0) == 0) out.push_back(dir + "/" + name);
  }
  ::closedir(d);
  return out;
}

// A DSN for the same backend that cannot be reached, carrying the password.
std::string DownDsn(const TestDatabase& db, const std::string& dir) {
  if (db.dsn.kind == Dsn::Kind::kMySql) {
    return db.dsn.user + ":" + db.dsn.password + "@tcp(127.0.0.1:1)/" + db.dsn.database + "?timeout=2s";
  }
  return "sqlite://" + dir + "/no/such/dir/audit.db";
}

std::string AllLogDirText(const std::string& dir) {
  std::string all;
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != ".." && name.find("ha-sync.db") == std::string::npos) {
      all += ReadFileOrEmpty(dir + "/" + name);
    }
  }
  ::closedir(d);
  return all;
}

}  // namespace

TEST_CASE("e2e: a real run's rows carry its counts, bytes and MD5s; failures stay visible") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    Dirs d(tmp.path() + "/" + db.name);
    const int64_t t = 1700000000;
    MakeFile(d.src + "/new.txt", "alpha", t);               // create
    MakeFile(d.src + "/upd.txt", "new content!", t + 100);  // update (src newer, size differs)
    MakeFile(d.dest + "/upd.txt", "old", t);
    MakeFile(d.src + "/same.txt", "same", t);  // skip
    MakeFile(d.dest + "/same.txt", "same", t);
    MakeFile(d.src + "/conf.txt", "longer", t);  // conflict: equal mtime, size differs
    MakeFile(d.dest + "/conf.txt", "short", t);
    MakeFile(d.dest + "/gone.txt", "bye!", t);  // delete

    ProcessResult r = Sync(d, "photos", db.dsn_text, {"--delete-missing"});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 2);  // partial failure: the conflict
    CHECK(Opslogs(d.log).empty());

    auto conn = db.Connect();
    auto it = conn->QueryAll(
        "SELECT status, files_created, files_updated, files_deleted, files_skipped, files_failed, "
        "total_bytes_transferred, dry_run, src, dest, ended_at FROM sync_iterations WHERE "
        "sync_pair = 'photos'");
    REQUIRE(it.ok());
    REQUIRE(it->size() == 1);
    const SqlRow& row = it->at(0);
    CHECK(std::get<std::string>(row[0]) == "partial_failure");
    CHECK(std::get<int64_t>(row[1]) == 1);
    CHECK(std::get<int64_t>(row[2]) == 1);
    CHECK(std::get<int64_t>(row[3]) == 1);
    CHECK(std::get<int64_t>(row[4]) >= 1);
    CHECK(std::get<int64_t>(row[5]) == 1);
    CHECK(std::get<int64_t>(row[6]) == 5 + 12);
    CHECK(std::get<int64_t>(row[7]) == 0);
    CHECK(std::get<std::string>(row[8]) == d.src);
    CHECK(std::get<std::string>(row[9]) == d.dest);
    CHECK_FALSE(IsNull(row[10]));
    // The clock probe's readings are stored with the iteration: both roots
    // are on this machine's filesystem, so the skew is small and the
    // precision a power of ten from 1 ns to 1 s.
    auto clock = conn->QueryAll("SELECT clock_skew_ns, mtime_precision_ns FROM sync_iterations WHERE "
                                "sync_pair = 'photos'");
    REQUIRE(clock.ok());
    REQUIRE(clock->size() == 1);
    REQUIRE_FALSE(IsNull(clock->at(0)[0]));
    REQUIRE_FALSE(IsNull(clock->at(0)[1]));
    CHECK(std::get<int64_t>(clock->at(0)[0]) >= 0);
    CHECK(std::get<int64_t>(clock->at(0)[0]) < 2'000'000'000);
    const int64_t precision = std::get<int64_t>(clock->at(0)[1]);
    CHECK(precision >= 1);
    CHECK(precision <= 1'000'000'000);

    auto ops = conn->QueryAll(
        "SELECT operation, status, size_before, size_after, md5_after, error_message, dry_run "
        "FROM sync_operations WHERE filepath = ?",
        {std::string("new.txt")});
    REQUIRE(ops.ok());
    REQUIRE(ops->size() == 1);
    CHECK(std::get<std::string>(ops->at(0)[0]) == "create");
    CHECK(std::get<std::string>(ops->at(0)[1]) == "success");
    CHECK(std::get<int64_t>(ops->at(0)[3]) == 5);
    CHECK(std::get<std::string>(ops->at(0)[4]) == Md5Hex("alpha"));
    CHECK(std::get<int64_t>(ops->at(0)[6]) == 0);

    ops = conn->QueryAll(
        "SELECT operation, size_before, size_after, md5_after FROM sync_operations WHERE filepath = ?",
        {std::string("upd.txt")});
    REQUIRE(ops.ok());
    REQUIRE(ops->size() == 1);
    CHECK(std::get<std::string>(ops->at(0)[0]) == "update");
    CHECK(std::get<int64_t>(ops->at(0)[1]) == 3);
    CHECK(std::get<int64_t>(ops->at(0)[2]) == 12);
    CHECK(std::get<std::string>(ops->at(0)[3]) == Md5Hex("new content!"));

    ops = conn->QueryAll("SELECT operation, size_before FROM sync_operations WHERE filepath = ?",
                         {std::string("gone.txt")});
    REQUIRE(ops.ok());
    REQUIRE(ops->size() == 1);
    CHECK(std::get<std::string>(ops->at(0)[0]) == "delete");
    CHECK(std::get<int64_t>(ops->at(0)[1]) == 4);

    ops = conn->QueryAll("SELECT status, error_message FROM sync_operations WHERE filepath = ?",
                         {std::string("conf.txt")});
    REQUIRE(ops.ok());
    REQUIRE(ops->size() == 1);
    CHECK(std::get<std::string>(ops->at(0)[0]) == "fail");
    CHECK(std::get<std::string>(ops->at(0)[1]).find("conflict") != std::string::npos);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_operations WHERE filepath = 'same.txt'") == 0);
  }
}

TEST_CASE("e2e: dry-runs are stored once per distinct plan; production ignores them") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    Dirs d(tmp.path() + "/" + db.name);
    MakeFile(d.src + "/a.jpg", "aaaa", 1700000000);
    MakeFile(d.src + "/b.jpg", "bb", 1700000000);
    MakeFile(d.dest + "/old.jpg", "o", 1700000000);
    auto conn = db.Connect();
    auto dry_iterations = [&] {
      return QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations WHERE dry_run = 1");
    };

    ProcessResult r = Sync(d, "media", db.dsn_text, {"--dry-run", "--delete-missing"});
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("already current") == std::string::npos);
    CHECK(dry_iterations() == 1);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_operations WHERE dry_run = 1") == 3);
    CHECK(::access((d.dest + "/a.jpg").c_str(), F_OK) != 0);  // plan only

    auto first = conn->QueryAll("SELECT started_at FROM sync_iterations WHERE dry_run = 1");
    REQUIRE(first.ok());
    int64_t first_ms = 0;
    REQUIRE(ParseSqlTime(std::get<std::string>(first->at(0)[0]), &first_ms));

    // Unchanged: the exact message, nothing written, no opslog left.
    r = Sync(d, "media", db.dsn_text, {"--dry-run", "--delete-missing"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("\n" + AuditRun::AlreadyCurrentMessage(first_ms) + "\n") != std::string::npos);
    CHECK(AuditRun::AlreadyCurrentMessage(first_ms) ==
          "Dry-run already current as of " + FormatUtcMs(first_ms) + ". Nothing has changed.");
    CHECK(dry_iterations() == 1);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_operations") == 3);
    CHECK(Opslogs(d.log).empty());

    // The other direction has no dry-run yet.
    r = Sync(d, "media", db.dsn_text, {"--dry-run", "--delete-missing", "--direction", "hp-to-dell"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("already current") == std::string::npos);
    CHECK(dry_iterations() == 2);

    // A size change (same operation, same path) is a different plan.
    MakeFile(d.dest + "/old.jpg", "oo", 1700000000);
    r = Sync(d, "media", db.dsn_text, {"--dry-run", "--delete-missing"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("already current") == std::string::npos);
    CHECK(dry_iterations() == 3);

    // The real run writes dry_run = 0 rows.
    r = Sync(d, "media", db.dsn_text, {"--delete-missing"});
    REQUIRE(r.exit_code == 0);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_operations WHERE dry_run = 0") == 3);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations WHERE dry_run = 0 AND status = 'success'") == 1);

    // Now the plan is empty: that differs from the last dry-run, is stored,
    // and then is current itself. The production run never counted.
    r = Sync(d, "media", db.dsn_text, {"--dry-run", "--delete-missing"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("already current") == std::string::npos);
    CHECK(dry_iterations() == 4);
    r = Sync(d, "media", db.dsn_text, {"--dry-run", "--delete-missing"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("Dry-run already current as of ") != std::string::npos);
    CHECK(dry_iterations() == 4);
  }
}

TEST_CASE("e2e: a dry-run's conflict is part of its plan: stored once, then already current") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    Dirs d(tmp.path() + "/" + db.name);
    MakeFile(d.src + "/new.txt", "alpha", 1700000000);
    MakeFile(d.src + "/both.txt", "abc", 1700000000);  // equal mtime, size differs: conflict
    MakeFile(d.dest + "/both.txt", "ab", 1700000000);
    auto conn = db.Connect();

    ProcessResult first = Sync(d, "conf", db.dsn_text, {"--dry-run"});
    INFO(first.out, first.err);
    CHECK(first.exit_code == 0);
    CHECK(first.out.find("would fail ") != std::string::npos);
    CHECK(first.out.find(" 2  both.txt  (conflict: equal mtime but size differs") != std::string::npos);
    CHECK(first.out.find("(dry-run): success;") != std::string::npos);
    auto it = conn->QueryAll(
        "SELECT status, files_created, files_failed, error_message, started_at FROM sync_iterations "
        "WHERE sync_pair = 'conf' AND dry_run = 1");
    REQUIRE(it.ok());
    REQUIRE(it->size() == 1);
    CHECK(std::get<std::string>(it->at(0)[0]) == "success");
    int64_t n = -1;
    CHECK((GetInt(it->at(0)[1], &n) && n == 1));
    CHECK((GetInt(it->at(0)[2], &n) && n == 1));  // the real run will fail it: counted as planned
    CHECK(IsNull(it->at(0)[3]));
    int64_t first_ms = 0;
    REQUIRE(ParseSqlTime(std::get<std::string>(it->at(0)[4]), &first_ms));
    auto rows = conn->QueryAll(
        "SELECT operation, status, size_before, error_message FROM sync_operations WHERE filepath = 'both.txt'");
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    CHECK(std::get<std::string>(rows->at(0)[0]) == "update");
    CHECK(std::get<std::string>(rows->at(0)[1]) == "fail");
    CHECK((GetInt(rows->at(0)[2], &n) && n == 2));
    CHECK(std::get<std::string>(rows->at(0)[3]).rfind("conflict: equal mtime but size differs", 0) == 0);

    // Identical: the exact message, the same exit code, nothing written.
    ProcessResult again = Sync(d, "conf", db.dsn_text, {"--dry-run"});
    CHECK(again.exit_code == first.exit_code);
    CHECK(again.out.find("\n" + AuditRun::AlreadyCurrentMessage(first_ms) + "\n") != std::string::npos);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations WHERE sync_pair = 'conf'") == 1);
    CHECK(PairOps(conn.get(), "conf") == 2);

    // The real run still fails the conflict (exit 2) and names the file.
    ProcessResult real = Sync(d, "conf", db.dsn_text);
    CHECK(real.exit_code == 2);
    CHECK(real.err.find("ha-sync: update 'both.txt' failed: conflict: ") != std::string::npos);
  }
}

TEST_CASE("e2e: database down at start: warned once, opslog kept, stored once when it is back") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    Dirs d(tmp.path() + "/" + db.name);
    for (int i = 0; i < 3; ++i) MakeFile(d.src + "/f" + std::to_string(i), "x", 1700000000);
    const std::string down = DownDsn(db, tmp.path());
    // --log-retain-days 0: the run still keeps the opslog it says it keeps.
    ProcessResult r = Sync(d, "owncloud", down, {"--log-retain-days", "0"});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);  // the sync succeeded; the database does not decide
    const std::string warning = "warning: audit database unavailable";
    const size_t at = r.err.find(warning);
    CHECK(at != std::string::npos);
    CHECK(r.err.find(warning, at + 1) == std::string::npos);  // once
    if (db.dsn.kind == Dsn::Kind::kMySql) {
      CHECK(r.err.find(db.dsn.password) == std::string::npos);
      CHECK(r.out.find(db.dsn.password) == std::string::npos);
      CHECK(AllLogDirText(d.log).find(db.dsn.password) == std::string::npos);
      CHECK(r.err.find(":***@tcp(127.0.0.1:1)") != std::string::npos);
    }
    REQUIRE(Opslogs(d.log).size() == 1);

    MakeFile(d.src + "/late", "y", 1700000000);
    r = Sync(d, "owncloud", db.dsn_text);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("stored 1 leftover opslog(s) of pair 'owncloud' (3 operation(s))") != std::string::npos);
    CHECK(r.err.find("warning") == std::string::npos);
    CHECK(Opslogs(d.log).empty());
    auto conn = db.Connect();
    CHECK(PairOps(conn.get(), "owncloud") == 4);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations WHERE status = 'success'") == 2);

    r = Sync(d, "owncloud", db.dsn_text);
    CHECK(r.exit_code == 0);
    CHECK(PairOps(conn.get(), "owncloud") == 4);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations") == 3);
  }
}

TEST_CASE("e2e: SIGKILL at every fault point, then a rerun: each operation stored exactly once") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  struct Point {
    const char* spec;
    const char* killed_status;  // final status of the killed run's iteration
  };
  const Point points[] = {
      {"opslog.op_appended:30", "failed"},   // mid-sync
      {"run.iteration_started", "failed"},   // right after the 'running' row
      {"flush.locked", "success"},
      {"flush.iteration_written", "success"},
      {"flush.batch:1", "success"},          // mid-flush, after 40 of 60 rows
      {"flush.before_commit", "success"},
      {"flush.committed", "success"},        // between COMMIT and unlink
      {"flush.unlinked", "success"},
  };
  constexpr int kFiles = 60;
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto conn = db.Connect();
    int n = 0;
    for (const Point& p : points) {
      CAPTURE(p.spec);
      const std::string pair = "kill" + std::to_string(n);
      Dirs d(tmp.path() + "/" + db.name + "-" + std::to_string(n++));
      for (int i = 0; i < kFiles; ++i) MakeFile(d.src + "/f" + std::to_string(i), "data", 1700000000);

      ProcessResult r = Sync(d, pair, db.dsn_text, {"--workers", "1"},
                             {std::string("HA_SYNC_FAULT_POINT=") + p.spec,
                              "HA_SYNC_FLUSH_BATCH_ROWS=40"});
      INFO(r.out, r.err);
      REQUIRE(r.exit_code == 128 + 9);
      r = Sync(d, pair, db.dsn_text);
      REQUIRE(r.exit_code == 0);
      CHECK(Opslogs(d.log).empty());

      CHECK(PairOps(conn.get(), pair) == kFiles);
      CHECK(PairOps(conn.get(), pair, " AND o.status = 'success' AND o.operation = 'create'") == kFiles);
      CHECK(QueryInt(conn.get(),
                     "SELECT COUNT(DISTINCT o.filepath) FROM sync_operations o JOIN sync_iterations i "
                     "ON o.iteration_id = i.id WHERE i.sync_pair = ?",
                     {pair}) == kFiles);
      auto its = conn->QueryAll(
          "SELECT status FROM sync_iterations WHERE sync_pair = ? ORDER BY started_at", {pair});
      REQUIRE(its.ok());
      REQUIRE(its->size() == 2);
      CHECK(std::get<std::string>(its->at(0)[0]) == p.killed_status);
      CHECK(std::get<std::string>(its->at(1)[0]) == "success");
      if (std::string(p.killed_status) == "failed") {
        // The crashed run's error states how many of its rows were stored.
        auto killed = conn->QueryAll(
            "SELECT id, error_message FROM sync_iterations WHERE sync_pair = ? ORDER BY started_at "
            "LIMIT 1", {pair});
        REQUIRE(killed.ok());
        int64_t id = 0;
        REQUIRE(GetInt(killed->at(0)[0], &id));
        const int64_t rows = QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_operations WHERE iteration_id = ?", {id});
        const std::string error = std::get<std::string>(killed->at(0)[1]);
        INFO(error);
        CHECK(error.find("; " + std::to_string(rows) + " operation(s) recorded before it stopped") !=
              std::string::npos);
        if (std::string(p.spec).rfind("opslog.op_appended", 0) == 0) CHECK(rows >= 30);
      }
      struct stat st;
      for (int i = 0; i < kFiles; i += 7) {
        CHECK(::stat((d.dest + "/f" + std::to_string(i)).c_str(), &st) == 0);
      }
    }
  }
}

TEST_CASE("e2e: two pairs flush leftovers into one log directory at once") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    const std::string base = tmp.path() + "/" + db.name;
    REQUIRE(::mkdir(base.c_str(), 0755) == 0);
    Dirs a(base + "/a"), b(base + "/b");
    // Both pairs log into a's log directory.
    const std::string down = DownDsn(db, tmp.path());
    int64_t expected_a = 0, expected_b = 0;
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 40; ++i) {
        const std::string name = "r" + std::to_string(round) + "_" + std::to_string(i);
        MakeFile(a.src + "/" + name, "a", 1700000000);
        MakeFile(b.src + "/" + name, "b", 1700000000);
      }
      REQUIRE(RunProcess({Exe(), "--src", a.src, "--dest", a.dest, "--pair", "pa", "--log-dir", a.log,
                          "--db-dsn", down, "--no-progress"}).exit_code == 0);
      REQUIRE(RunProcess({Exe(), "--src", b.src, "--dest", b.dest, "--pair", "pb", "--log-dir", a.log,
                          "--db-dsn", down, "--no-progress"}).exit_code == 0);
      expected_a += 40;
      expected_b += 40;
    }
    REQUIRE(Opslogs(a.log).size() == 6);
    ProcessResult ra, rb;
    std::thread ta([&] {
      ra = RunProcess({Exe(), "--src", a.src, "--dest", a.dest, "--pair", "pa", "--log-dir", a.log,
                       "--db-dsn", db.dsn_text, "--no-progress"});
    });
    std::thread tb([&] {
      rb = RunProcess({Exe(), "--src", b.src, "--dest", b.dest, "--pair", "pb", "--log-dir", a.log,
                       "--db-dsn", db.dsn_text, "--no-progress"});
    });
    ta.join();
    tb.join();
    INFO(ra.err, rb.err);
    CHECK(ra.exit_code == 0);
    CHECK(rb.exit_code == 0);
    CHECK(Opslogs(a.log).empty());
    auto conn = db.Connect();
    CHECK(PairOps(conn.get(), "pa") == expected_a);
    CHECK(PairOps(conn.get(), "pb") == expected_b);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations") == 8);
  }
}

TEST_CASE("e2e: a malformed DSN is a usage error that does not print the password") {
  TempDir tmp;
  Dirs d(tmp.path() + "/x");
  for (const char* dsn : {"hasync:Sekr1t-pw@tcp(db:99999)/general_db", "hasync:Sekr1t-pw@tcp(db)",
                          "sqlite://relative.db", "mysql://hasync:Sekr1t-pw@db/general_db?bogus=1"}) {
    CAPTURE(dsn);
    ProcessResult r = Sync(d, "media", dsn);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("malformed database DSN") != std::string::npos);
    CHECK(r.err.find("Sekr1t-pw") == std::string::npos);
    CHECK(r.out.find("Sekr1t-pw") == std::string::npos);
    // The same through the environment.
    r = RunProcess({Exe(), "--src", d.src, "--dest", d.dest, "--pair", "media", "--log-dir", d.log},
                   {std::string("HA_SYNC_DB_DSN=") + dsn});
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("Sekr1t-pw") == std::string::npos);
  }
  CHECK(Opslogs(d.log).empty());
}

TEST_CASE("e2e: prune-db removes old rows, keeps recent ones") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    Dirs d(tmp.path() + "/" + db.name);
    MakeFile(d.src + "/f", "x", 1700000000);
    REQUIRE(Sync(d, "ai", db.dsn_text).exit_code == 0);
    auto conn = db.Connect();
    // Age the run by 40 days.
    const int64_t old_ms = NowMs() - int64_t{40} * 86400 * 1000;
    REQUIRE(conn->Exec("UPDATE sync_iterations SET started_at = ?", {FormatSqlTime(old_ms)}).ok());
    REQUIRE(conn->Exec("UPDATE sync_operations SET started_at = ?", {FormatSqlTime(old_ms)}).ok());
    MakeFile(d.src + "/g", "y", 1700000000);
    REQUIRE(Sync(d, "ai", db.dsn_text).exit_code == 0);

    ProcessResult r = RunProcess({Exe(), "prune-db", "--older-than-days", "30", "--db-dsn", db.dsn_text});
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("deleted 1 operation row(s) and 1 iteration(s)") != std::string::npos);
    if (db.dsn.kind == Dsn::Kind::kMySql) CHECK(r.out.find(db.dsn.password) == std::string::npos);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_operations") == 1);
    CHECK(QueryInt(conn.get(), "SELECT COUNT(*) FROM sync_iterations") == 1);

    CHECK(RunProcess({Exe(), "prune-db"}).exit_code == 64);
    CHECK(RunProcess({Exe(), "prune-db", "--older-than-days", "soon"}).exit_code == 64);
    // HA_SYNC_DB_DSN set but empty (a missing Secret key) is refused as a
    // sync refuses it, and no SQLite file appears in the log directory.
    const std::string empty_env_log = tmp.path() + "/empty-env-log-" + db.name;
    r = RunProcess({Exe(), "prune-db", "--older-than-days", "30", "--log-dir", empty_env_log}, {"HA_SYNC_DB_DSN="});
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("HA_SYNC_DB_DSN") != std::string::npos);
    CHECK(::access((empty_env_log + "/ha-sync.db").c_str(), F_OK) != 0);
    r = RunProcess({Exe(), "prune-db", "--older-than-days", "30", "--db-dsn", DownDsn(db, tmp.path())});
    CHECK(r.exit_code == 1);
    if (db.dsn.kind == Dsn::Kind::kMySql) CHECK(r.err.find(db.dsn.password) == std::string::npos);
  }
}

}  // namespace ha_sync::audit
