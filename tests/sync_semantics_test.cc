// End-to-end: every row of the sync rules (docs/cli.md, "What a run does")
// on real temp trees, through the built binary.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "io/md5.h"
#include "sync_harness.h"

namespace ha_sync::test {

namespace {
constexpr int64_t kT0 = 1'700'000'000 * kSec + 123'456'789;  // a time with nanoseconds

int CountOps(const std::vector<OpRecord>& ops, OpKind kind, OpStatus status = OpStatus::kSuccess) {
  int n = 0;
  for (const auto& op : ops) n += (op.operation == kind && op.status == status) ? 1 : 0;
  return n;
}
const OpRecord* FindOp(const std::vector<OpRecord>& ops, const std::string& path) {
  for (const auto& op : ops) {
    if (op.filepath == path) return &op;
  }
  return nullptr;
}
}  // namespace

TEST_CASE("create copies data, nanosecond mtime and mode; a second run does nothing") {
  TempDir t;
  WriteFile(t / "src/a.txt", "alpha", kT0);
  WriteFile(t / "src/dir/b.bin", std::string(3 << 20, 'b'), kT0 + 5);
  WriteFile(t / "src/empty", "", kT0 + 7);
  ::chmod((t / "src/dir/b.bin").c_str(), 0640);
  SetMtime(t / "src/dir/b.bin", kT0 + 5);
  SetMtime(t / "src/dir", kT0 - 10 * kSec);
  MakeDirs(t / "dest");

  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Describe(t / "src") == Describe(t / "dest"));
  CHECK(MtimeNs(t / "dest/dir/b.bin") == kT0 + 5);
  CHECK(MtimeNs(t / "dest/dir") == kT0 - 10 * kSec);  // directory mtime set after its contents
  struct stat st;
  REQUIRE(::stat((t / "dest/dir/b.bin").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);

  auto ops = ReadOps(t / "log");
  CHECK(CountOps(ops, OpKind::kCreate) == 4);  // 3 files + 1 directory
  const OpRecord* b = FindOp(ops, "dir/b.bin");
  REQUIRE(b != nullptr);
  CHECK(b->size_after == (3 << 20));
  CHECK(b->md5_after == io::Md5::OfString(std::string(3 << 20, 'b')));
  CHECK_FALSE(b->md5_before.has_value());
  CHECK(LastFooter(t / "log").counts.bytes_transferred == 5 + (3 << 20));

  RemoveTree(t / "log");
  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  REQUIRE(r.exit_code == 0);
  CHECK(ReadOps(t / "log").empty());
  CHECK(LastFooter(t / "log").counts.skipped == 3);
}

TEST_CASE("newest mtime wins; equal within the threshold is in sync") {
  TempDir t;
  WriteFile(t / "src/newer-size", "new content", kT0 + 100 * kSec);
  WriteFile(t / "dest/newer-size", "old", kT0);
  WriteFile(t / "src/dest-newer", "src", kT0);
  WriteFile(t / "dest/dest-newer", "dest wins", kT0 + 100 * kSec);
  WriteFile(t / "src/within", "same", kT0 + 1 * kSec);
  WriteFile(t / "dest/within", "SAME", kT0);  // same size, 1 s apart: equal under default 2 s

  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  REQUIRE(r.exit_code == 0);
  CHECK(ReadFile(t / "dest/newer-size") == "new content");
  CHECK(MtimeNs(t / "dest/newer-size") == kT0 + 100 * kSec);
  CHECK(ReadFile(t / "dest/dest-newer") == "dest wins");
  CHECK(ReadFile(t / "dest/within") == "SAME");
  auto ops = ReadOps(t / "log");
  REQUIRE(ops.size() == 1);
  CHECK(ops[0].operation == OpKind::kUpdate);
  CHECK(ops[0].size_before == 3);
  CHECK(ops[0].size_after == 11);
  CHECK_FALSE(ops[0].md5_before.has_value());  // not hashed: the size differed

  SUBCASE("--mtime-threshold 0 makes 1 s count") {
    RemoveTree(t / "log");
    r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--mtime-threshold", "0"}));
    REQUIRE(r.exit_code == 0);
    CHECK(ReadFile(t / "dest/within") == "same");
  }
}

TEST_CASE("same size, src newer: MD5 decides between a copy and an mtime-only update") {
  TempDir t;
  WriteFile(t / "src/same-bytes", "identical", kT0 + 50 * kSec);
  WriteFile(t / "dest/same-bytes", "identical", kT0);
  WriteFile(t / "src/other-bytes", "version-2", kT0 + 50 * kSec);
  WriteFile(t / "dest/other-bytes", "version-1", kT0);

  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  REQUIRE(r.exit_code == 0);
  CHECK(MtimeNs(t / "dest/same-bytes") == kT0 + 50 * kSec);
  CHECK(ReadFile(t / "dest/other-bytes") == "version-2");
  auto ops = ReadOps(t / "log");
  const OpRecord* same = FindOp(ops, "same-bytes");
  const OpRecord* other = FindOp(ops, "other-bytes");
  REQUIRE(same != nullptr);
  REQUIRE(other != nullptr);
  CHECK(same->operation == OpKind::kUpdate);
  CHECK(same->md5_before == io::Md5::OfString("identical"));
  CHECK(same->md5_after == same->md5_before);
  CHECK(other->md5_before == io::Md5::OfString("version-1"));
  CHECK(other->md5_after == io::Md5::OfString("version-2"));
  CHECK(LastFooter(t / "log").counts.bytes_transferred == 9);  // only the real copy moved bytes
}

TEST_CASE("equal mtime, different size is a conflict: nothing changes, exit 2") {
  TempDir t;
  WriteFile(t / "src/c", "four", kT0);
  WriteFile(t / "dest/c", "three", kT0);
  WriteFile(t / "src/fine", "x", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(r.exit_code == 2);
  CHECK(ReadFile(t / "dest/c") == "three");
  CHECK(ReadFile(t / "dest/fine") == "x");
  auto ops = ReadOps(t / "log");
  const OpRecord* c = FindOp(ops, "c");
  REQUIRE(c != nullptr);
  CHECK(c->status == OpStatus::kFail);
  CHECK(c->error_message->find("conflict") != std::string::npos);
  CHECK(LastFooter(t / "log").status == RunStatus::kPartialFailure);
  CHECK(r.err.find("conflict") != std::string::npos);
}

TEST_CASE("type differences: conflict without --delete-missing, dest made to match with it") {
  TempDir t;
  WriteFile(t / "src/was-dir", "now a file", kT0);
  WriteFile(t / "dest/was-dir/inner", "old", kT0);
  WriteFile(t / "src/was-file/inner", "now a dir", kT0);
  WriteFile(t / "dest/was-file", "old", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(r.exit_code == 2);
  CHECK(ReadFile(t / "dest/was-dir/inner") == "old");
  CHECK(ReadFile(t / "dest/was-file") == "old");

  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log2", {"--delete-missing"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(Describe(t / "src") == Describe(t / "dest"));
}

TEST_CASE("symlinks are copied as links and never followed") {
  TempDir t;
  WriteFile(t / "outside/secret", "do not touch", kT0);
  MakeDirs(t / "src");
  ::symlink("target/elsewhere", (t / "src/rel-link").c_str());
  SetMtime(t / "src/rel-link", kT0);
  WriteFile(t / "src/secret", "from src", kT0 + 10 * kSec);
  WriteFile(t / "src/d/file", "inside", kT0);
  MakeDirs(t / "dest");
  // dest entries that are symlinks pointing outside the dest root
  ::symlink((t / "outside/secret").c_str(), (t / "dest/secret").c_str());
  ::symlink((t / "outside").c_str(), (t / "dest/d").c_str());

  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(r.exit_code == 2);  // two type conflicts (file vs link, dir vs link)
  CHECK(ReadFile(t / "outside/secret") == "do not touch");
  CHECK_FALSE(Exists(t / "outside/file"));

  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log2", {"--delete-missing"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(ReadFile(t / "outside/secret") == "do not touch");
  CHECK_FALSE(Exists(t / "outside/file"));
  CHECK(Describe(t / "src") == Describe(t / "dest"));
  char buf[64];
  const ssize_t n = ::readlink((t / "dest/rel-link").c_str(), buf, sizeof buf);
  CHECK(std::string(buf, static_cast<size_t>(n)) == "target/elsewhere");
  CHECK(MtimeNs(t / "dest/rel-link") == kT0);
}

TEST_CASE("special files are skipped with a warning") {
  TempDir t;
  MakeDirs(t / "src");
  MakeDirs(t / "dest");
  REQUIRE(::mkfifo((t / "src/fifo").c_str(), 0644) == 0);
  WriteFile(t / "src/regular", "r", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "dest/fifo"));
  CHECK(Exists(t / "dest/regular"));
  CHECK(r.err.find("fifo") != std::string::npos);
}

TEST_CASE("--delete-missing deletes files and emptied directories, children first") {
  TempDir t;
  WriteFile(t / "src/keep", "k", kT0);
  WriteFile(t / "src/sub/keep2", "k", kT0);
  SetMtime(t / "src/sub", kT0 - 5 * kSec);
  WriteFile(t / "dest/keep", "k", kT0);
  WriteFile(t / "dest/sub/keep2", "k", kT0);
  WriteFile(t / "dest/sub/gone", "g", kT0);
  WriteFile(t / "dest/olddir/a/b/c", "deep", kT0);
  WriteFile(t / "dest/olddir/x", "x", kT0);

  SUBCASE("without the flag nothing is deleted") {
    RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
    CHECK(r.exit_code == 0);
    CHECK(Exists(t / "dest/sub/gone"));
    CHECK(Exists(t / "dest/olddir/a/b/c"));
  }
  SUBCASE("with the flag") {
    RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing"}));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(Describe(t / "src") == Describe(t / "dest"));
    CHECK(MtimeNs(t / "dest/sub") == kT0 - 5 * kSec);  // restored after the delete inside it
    auto ops = ReadOps(t / "log");
    CHECK(CountOps(ops, OpKind::kDelete) == 6);  // files gone, c, x; dirs b, a, olddir
    // Children are deleted before their directory.
    size_t c_at = 0, olddir_at = 0;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].filepath == "olddir/a/b/c") c_at = i;
      if (ops[i].filepath == "olddir/") olddir_at = i;
    }
    CHECK(c_at < olddir_at);
    const OpRecord* gone = FindOp(ops, "sub/gone");
    REQUIRE(gone != nullptr);
    CHECK(gone->size_before == 1);
  }
}

TEST_CASE("many deletes over many directories, on several workers: all done, times put back") {
  // Files are deleted many at once, then directories, then directory times
  // (src/pipeline/delete_runner.h): every file goes, kept trees stay, and a
  // directory's mtime is src's again after the deletes inside it.
  TempDir t;
  for (int d = 0; d < 12; ++d) {
    const std::string dir = "d" + std::to_string(d);
    WriteFile(t / ("src/" + dir + "/keep"), "k", kT0);
    WriteFile(t / ("dest/" + dir + "/keep"), "k", kT0);
    for (int f = 0; f < 90; ++f) {
      WriteFile(t / ("dest/" + dir + "/gone" + std::to_string(f)), "g", kT0);
    }
    WriteFile(t / ("dest/" + dir + "/old/deeper/x"), "x", kT0);
    SetMtime(t / ("src/" + dir), kT0 - (d + 1) * kSec);
  }
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log",
                                   {"--delete-missing", "--workers", "8", "--max-delete", "2000"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(Describe(t / "src") == Describe(t / "dest"));
  for (int d = 0; d < 12; ++d) {
    CHECK(MtimeNs(t / ("dest/d" + std::to_string(d))) == kT0 - (d + 1) * kSec);
  }
  auto ops = ReadOps(t / "log");
  CHECK(CountOps(ops, OpKind::kDelete) == 12 * (90 + 3));  // files, x, deeper/, old/
  CHECK(CountOps(ops, OpKind::kDelete, OpStatus::kFail) == 0);
  // Every deleted file is in this run's trash, under its own path.
  int in_trash = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(t / "dest/.ha-sync-trash")) {
    in_trash += e.is_regular_file() ? 1 : 0;
  }
  CHECK(in_trash == 12 * 91);
}

TEST_CASE("a wide, deep tree on both sides: listings prefetched ahead of the walk change nothing") {
  // The walk's listing tasks list subdirectories present on both sides
  // ahead of the depth-first walk (src/pipeline/walker.h). Excluded paths,
  // a directory that is a file on dest, and changes deep down all come out
  // as a walk without prefetch would make them.
  TempDir t;
  for (int a = 0; a < 6; ++a) {
    for (int b = 0; b < 6; ++b) {
      for (int c = 0; c < 3; ++c) {
        const std::string rel = "a" + std::to_string(a) + "/b" + std::to_string(b) + "/c" + std::to_string(c);
        WriteFile(t / ("src/" + rel + "/f"), "new" + rel, kT0 + 10 * kSec);
        WriteFile(t / ("dest/" + rel + "/f"), "old" + rel, kT0);
      }
    }
  }
  WriteFile(t / "dest/a1/b1/c1/only-dest", "x", kT0);
  WriteFile(t / "src/a2/b2/typed/f", "dir in src", kT0);
  WriteFile(t / "dest/a2/b2/typed", "file in dest", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log",
                                   {"--delete-missing", "--workers", "8", "--exclude", "a3/b3"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  for (int a = 0; a < 6; ++a) {
    for (int b = 0; b < 6; ++b) {
      const std::string rel = "a" + std::to_string(a) + "/b" + std::to_string(b) + "/c0/f";
      CHECK(ReadFile(t / ("dest/" + rel)) == ((a == 3 && b == 3) ? "old" : "new") + rel.substr(0, rel.size() - 2));
    }
  }
  CHECK_FALSE(Exists(t / "dest/a1/b1/c1/only-dest"));
  CHECK(ReadFile(t / "dest/a2/b2/typed/f") == "dir in src");
}

TEST_CASE("a low soft limit on open files is raised to the hard one: 32 workers over many directories") {
  // A sync holds many directory fds at once (include/ha_sync/open_file_limit.h);
  // with the soft limit at 100, files failed with EMFILE before it was raised.
  struct rlimit before;
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  if (before.rlim_max != RLIM_INFINITY && before.rlim_max < 4096) {
    MESSAGE("hard RLIMIT_NOFILE below 4096 here, test skipped");
    return;
  }
  TempDir t;
  for (int d = 0; d < 40; ++d) {
    for (int f = 0; f < 25; ++f) {
      WriteFile(t / ("src/d" + std::to_string(d) + "/e/f" + std::to_string(f)), "x", kT0);
    }
  }
  MakeDirs(t / "dest");
  struct rlimit low = before;
  low.rlim_cur = 100;  // the child inherits it
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "32"}));
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(Describe(t / "src") == Describe(t / "dest"));
}

TEST_CASE("--max-delete aborts before the first delete") {
  TempDir t;
  WriteFile(t / "src/keep", "k", kT0);
  for (int i = 0; i < 10; ++i) WriteFile(t / ("dest/extra" + std::to_string(i)), "e", kT0);
  WriteFile(t / "dest/keep", "k", kT0);

  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing", "--max-delete", "5"}));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--max-delete") != std::string::npos);
  for (int i = 0; i < 10; ++i) CHECK(Exists(t / ("dest/extra" + std::to_string(i))));
  CHECK(LastFooter(t / "log").status == RunStatus::kFailed);

  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log2", {"--delete-missing", "--max-delete", "50%"}));
  CHECK(r.exit_code == 1);
  CHECK(Exists(t / "dest/extra0"));

  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log3", {"--delete-missing", "--max-delete", "10"}));
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "dest/extra0"));
}

TEST_CASE("--max-delete counts directories too: 0 deletes nothing, not even an empty directory") {
  TempDir t;
  WriteFile(t / "src/keep", "k", kT0);
  WriteFile(t / "dest/keep", "k", kT0);
  MakeDirs(t / "dest/e1");
  MakeDirs(t / "dest/e2/e3");  // perhaps mount points, not mounted
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing", "--max-delete", "0"}));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("refusing to delete 3 entries") != std::string::npos);
  CHECK(Exists(t / "dest/e1"));
  CHECK(Exists(t / "dest/e2/e3"));
  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing", "--max-delete", "3"}));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("deleted 3") != std::string::npos);
  CHECK_FALSE(Exists(t / "dest/e2"));
}

TEST_CASE("missing-mount guard: an empty src beside a full dest is refused with deletes on") {
  TempDir t;
  MakeDirs(t / "src");
  WriteFile(t / "dest/precious", "p", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing"}));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("mounted") != std::string::npos);
  CHECK(Exists(t / "dest/precious"));
  // Without deletes an empty src is harmless.
  r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(r.exit_code == 0);
}

TEST_CASE("missing or non-directory roots fail with exit 1 naming the path") {
  TempDir t;
  MakeDirs(t / "dest");
  RunOutput r = RunHaSync(SyncArgs(t / "nope", t / "dest", t / "log"));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(t / "nope") != std::string::npos);
  WriteFile(t / "file", "f");
  r = RunHaSync(SyncArgs(t / "dest", t / "file", t / "log"));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not a directory") != std::string::npos);
  CHECK_FALSE(Exists(t / "log"));  // nothing created before the roots are checked
}

TEST_CASE("temp files are never copied; in dest only this pair's own leftovers are removed") {
  TempDir t;
  WriteFile(t / "src/.ha-sync.movie.mkv.00112233aabbccdd.tmp", "partial of another run", kT0);
  WriteFile(t / "src/movie.mkv", "complete", kT0);
  // A user's file that only looks like a temp file (its tag was never
  // registered by a run of this pair), with deletes on: kept, and said so.
  WriteFile(t / "dest/.ha-sync.notes.0011223344556677.tmp", "a user's file", kT0);
  WriteFile(t / "dest/sub/.ha-sync.x.0011223344556677.tmp", "another", kT0);
  WriteFile(t / "src/sub/y", "y", kT0);
  // A leftover of an earlier run of this pair: its tag is in the ledger.
  MakeDirs(t / "log");
  WriteFile(t / "log/temp-tags-test", "a1b2c3d4\n");
  WriteFile(t / "dest/.ha-sync.old.a1b2c3d4deadbeef.tmp", "our leftover", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "dest/.ha-sync.movie.mkv.00112233aabbccdd.tmp"));
  CHECK_FALSE(Exists(t / "dest/.ha-sync.old.a1b2c3d4deadbeef.tmp"));
  CHECK(ReadFile(t / "dest/.ha-sync.notes.0011223344556677.tmp") == "a user's file");
  CHECK(ReadFile(t / "dest/sub/.ha-sync.x.0011223344556677.tmp") == "another");
  CHECK(r.err.find("left '.ha-sync.notes.0011223344556677.tmp' alone") != std::string::npos);
  CHECK(ReadFile(t / "dest/movie.mkv") == "complete");
  // The run registered its own tag for the next run.
  CHECK(ReadFile(t / "log/temp-tags-test").size() == 18);
}

TEST_CASE("dry-run prints the plan and changes nothing") {
  TempDir t;
  WriteFile(t / "src/new", "n", kT0);
  WriteFile(t / "src/upd", "newer", kT0 + 9 * kSec);
  WriteFile(t / "dest/upd", "old", kT0);
  WriteFile(t / "dest/del", "d", kT0);
  WriteFile(t / "src/sub/deep", "d", kT0);
  const auto before = Describe(t / "dest");
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--dry-run", "--delete-missing"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(Describe(t / "dest") == before);
  CHECK(r.out.find("would create") != std::string::npos);
  CHECK(r.out.find("would update") != std::string::npos);
  CHECK(r.out.find("would delete") != std::string::npos);
  CHECK(r.out.find("sub/deep") != std::string::npos);
  auto ops = ReadOps(t / "log");
  CHECK(ops.size() == 5);  // new, upd, sub/, sub/deep, del
  for (const auto& op : ops) CHECK(op.dry_run);
}

TEST_CASE("a->b then b->a leaves both trees equal") {
  TempDir t;
  WriteFile(t / "a/only-a", "a", kT0);
  WriteFile(t / "b/only-b/x", "b", kT0);
  WriteFile(t / "a/both", "a is newer", kT0 + 20 * kSec);
  WriteFile(t / "b/both", "b", kT0);
  WriteFile(t / "a/both2", "a", kT0);
  WriteFile(t / "b/both2", "b is newer", kT0 + 20 * kSec);
  REQUIRE(RunHaSync(SyncArgs(t / "a", t / "b", t / "log")).exit_code == 0);
  REQUIRE(RunHaSync(SyncArgs(t / "b", t / "a", t / "log")).exit_code == 0);
  CHECK(Describe(t / "a") == Describe(t / "b"));
  CHECK(ReadFile(t / "a/both2") == "b is newer");
  CHECK(ReadFile(t / "b/both") == "a is newer");
  // And now both directions are no-ops.
  RemoveTree(t / "log");
  REQUIRE(RunHaSync(SyncArgs(t / "a", t / "b", t / "log")).exit_code == 0);
  REQUIRE(RunHaSync(SyncArgs(t / "b", t / "a", t / "log")).exit_code == 0);
  CHECK(ReadOps(t / "log").empty());
}

TEST_CASE("owner and group are preserved when running as root") {
  if (::geteuid() != 0) return;  // covered where the suite runs as root (CI)
  TempDir t;
  WriteFile(t / "src/owned", "o", kT0);
  REQUIRE(::chown((t / "src/owned").c_str(), 1234, 4321) == 0);
  MakeDirs(t / "dest");
  REQUIRE(RunHaSync(SyncArgs(t / "src", t / "dest", t / "log")).exit_code == 0);
  struct stat st;
  REQUIRE(::lstat((t / "dest/owned").c_str(), &st) == 0);
  CHECK(st.st_uid == 1234u);
  CHECK(st.st_gid == 4321u);
}

// A temp file's owner is checked right after its create (no chown when it
// already matches); a set-group-ID dest directory gives new files its group,
// which must still be put back to the source's.
TEST_CASE("the source's group wins over a set-group-ID dest directory") {
  if (::geteuid() != 0) return;  // covered where the suite runs as root (CI)
  TempDir t;
  WriteFile(t / "src/sub/mine", "m", kT0);
  WriteFile(t / "src/sub/theirs", "t", kT0);
  REQUIRE(::chown((t / "src/sub/mine").c_str(), 0, 0) == 0);
  REQUIRE(::chown((t / "src/sub/theirs").c_str(), 0, 4321) == 0);
  MakeDirs(t / "dest/sub");
  REQUIRE(::chown((t / "dest/sub").c_str(), 0, 4321) == 0);
  REQUIRE(::chmod((t / "dest/sub").c_str(), 02755) == 0);
  REQUIRE(RunHaSync(SyncArgs(t / "src", t / "dest", t / "log")).exit_code == 0);
  struct stat st;
  REQUIRE(::lstat((t / "dest/sub/mine").c_str(), &st) == 0);
  CHECK(st.st_uid == 0u);
  CHECK(st.st_gid == 0u);
  REQUIRE(::lstat((t / "dest/sub/theirs").c_str(), &st) == 0);
  CHECK(st.st_gid == 4321u);
}

}  // namespace ha_sync::test
