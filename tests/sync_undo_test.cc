// `ha-sync undo` on real trees, end to end: a run that changed a path's
// type is undone whole; a damaged or hostile manifest, a missing trash
// copy or a path changed since are refused before any plan line is printed
// and before anything is touched, with messages that say what is wrong.
#include <doctest/doctest.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "sync_harness.h"

namespace ha_sync::test {

namespace {

constexpr int64_t kT0 = 1'700'000'000 * kSec;

std::vector<std::string> UndoArgs(const TempDir& t, const std::string& run_id, bool apply) {
  std::vector<std::string> args = {"undo", "--dest", t / "dest", "--pair", "test", "--run-id", run_id,
                                   "--log-dir", t / "log"};
  if (apply) args.push_back("--apply");
  return args;
}

// The one file in <log>/undo-test whose name holds `run_id`.
std::string ManifestOf(const TempDir& t, const std::string& run_id) {
  std::string found;
  if (DIR* dir = ::opendir((t / "log/undo-test").c_str())) {
    while (struct dirent* de = ::readdir(dir)) {
      const std::string n = de->d_name;
      if (n.find(run_id) != std::string::npos) found = t / ("log/undo-test/" + n);
    }
    ::closedir(dir);
  }
  REQUIRE(!found.empty());
  return found;
}

size_t LineCount(const std::string& path) {
  const std::string text = ReadFile(path);
  size_t n = 0;
  for (char c : text) n += c == '\n' ? 1 : 0;
  return n;
}

// Runs src -> dest with --delete-missing; returns the run id.
std::string Sync(const TempDir& t) {
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return RunIdFrom(r.out);
}

}  // namespace

TEST_CASE("undo of a directory replaced by a file puts the directory and its files back") {
  TempDir t;
  WriteFile(t / "src/x/a", "old a", kT0);
  WriteFile(t / "src/x/sub/b", "old b", kT0);
  WriteFile(t / "src/other", "o", kT0);
  MakeDirs(t / "dest");
  Sync(t);
  const auto before = Describe(t / "dest");

  RemoveTree(t / "src/x");
  WriteFile(t / "src/x", "now a file", kT0 + 5 * kSec);
  const std::string run_id = Sync(t);
  REQUIRE(ReadFile(t / "dest/x") == "now a file");

  RunOutput plan = RunHaSync(UndoArgs(t, run_id, false));
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  // Phases: the file aside first, the directory back, the aside copy last.
  const size_t aside = plan.out.find("would set aside            x\n");
  const size_t recreate = plan.out.find("would recreate dir         x/\n");
  const size_t release = plan.out.find("would trash set-aside      x\n");
  CHECK(aside < recreate);
  CHECK(recreate < release);
  CHECK(release != std::string::npos);

  RunOutput done = RunHaSync(UndoArgs(t, run_id, true));
  INFO(done.err);
  CHECK(done.exit_code == 0);
  CHECK(Describe(t / "dest") == before);
  // The file the run left is kept in the undo's own trash.
  bool kept = false;
  if (DIR* dir = ::opendir((t / "dest/.ha-sync-trash").c_str())) {
    while (struct dirent* de = ::readdir(dir)) {
      const std::string n = de->d_name;
      CHECK(n.find(".aside") == std::string::npos);  // released and removed
      kept = kept || testing::ReadFileOrEmpty(t / ("dest/.ha-sync-trash/" + n + "/x")) == "now a file";
    }
    ::closedir(dir);
  }
  CHECK(kept);
}

TEST_CASE("undo of a file replaced by a directory puts the file back") {
  TempDir t;
  WriteFile(t / "src/x", "old file", kT0);
  MakeDirs(t / "dest");
  Sync(t);
  const auto before = Describe(t / "dest");

  ::unlink((t / "src/x").c_str());
  WriteFile(t / "src/x/inside", "new", kT0 + 5 * kSec);
  const std::string run_id = Sync(t);
  REQUIRE(ReadFile(t / "dest/x/inside") == "new");

  RunOutput done = RunHaSync(UndoArgs(t, run_id, true));
  INFO(done.err);
  CHECK(done.exit_code == 0);
  CHECK(Describe(t / "dest") == before);
  CHECK(ReadFile(t / "dest/x") == "old file");
}

TEST_CASE("undo given the other side of the pair as --dest is refused: the run's originals stay") {
  // Both directions of a pair share its manifests; the run created dest/new
  // from src/new, and an undo pointed at src would take the original away.
  TempDir t;
  WriteFile(t / "src/new", "precious", kT0);
  MakeDirs(t / "dest");
  const std::string run_id = Sync(t);
  REQUIRE(ReadFile(t / "dest/new") == "precious");
  for (bool apply : {false, true}) {
    std::vector<std::string> args = UndoArgs(t, run_id, apply);
    args[2] = t / "src";
    RunOutput r = RunHaSync(args);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("synced into '" + (t / "dest") + "', not into --dest '" + (t / "src") + "'") !=
          std::string::npos);
    CHECK(r.err.find("nothing was undone") != std::string::npos);
  }
  CHECK(ReadFile(t / "src/new") == "precious");
  // The same path spelled another way is the same destination.
  std::vector<std::string> args = UndoArgs(t, run_id, true);
  args[2] = t / "dest/./";
  RunOutput r = RunHaSync(args);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "dest/new"));
  CHECK(ReadFile(t / "src/new") == "precious");
}

TEST_CASE("the printed undo command is one paste away, a space in the destination too") {
  TempDir t;
  WriteFile(t / "src/new", "n", kT0);
  MakeDirs(t / "my dest");
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "my dest", t / "log"));
  REQUIRE(r.exit_code == 0);
  const std::string marker = "to revert it: ha-sync ";
  const size_t at = r.out.find(marker);
  REQUIRE(at != std::string::npos);
  const std::string rest = r.out.substr(at + marker.size(), r.out.find('\n', at) - at - marker.size());
  CHECK(rest.find("--dest '" + (t / "my dest") + "'") != std::string::npos);
  // Pasted into a shell (the binary's path in place of "ha-sync"): it undoes the run.
  const std::string bin = std::getenv("HA_SYNC_BIN");
  const int status = std::system(("'" + bin + "' " + rest + " --apply >/dev/null").c_str());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(Exists(t / "my dest/new"));
}

TEST_CASE("undo refuses a manifest path that leaves the root: nothing printed, nothing made outside") {
  TempDir t;
  WriteFile(t / "src/a", "a", kT0);
  MakeDirs(t / "dest");
  const std::string run_id = Sync(t);
  const auto after = Describe(t / "dest");
  const std::string manifest = ManifestOf(t, run_id);
  const size_t line = LineCount(manifest) + 1;
  {
    std::ofstream out(manifest, std::ios::app);
    out << R"({"op":"delete","path":"../escaped","type":"dir","size":0,"mtime_ns":0,"previous":null})" << "\n";
  }
  for (bool apply : {false, true}) {
    RunOutput r = RunHaSync(UndoArgs(t, run_id, apply));
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());  // no plan line, no action line
    CHECK(r.err.find("line " + std::to_string(line) + ": path '../escaped' is not a plain relative path") !=
          std::string::npos);
    CHECK(r.err.find("nothing was undone") != std::string::npos);
  }
  CHECK_FALSE(Exists(t / "escaped"));
  CHECK(Describe(t / "dest") == after);
}

TEST_CASE("undo with a trash copy gone exits 1 naming it, with a hint, before any plan line") {
  TempDir t;
  WriteFile(t / "src/changed", "v1", kT0);
  MakeDirs(t / "dest");
  Sync(t);
  WriteFile(t / "src/changed", "v2 is longer", kT0 + 10 * kSec);
  WriteFile(t / "src/created", "new", kT0);
  const std::string run_id = Sync(t);
  const auto after = Describe(t / "dest");
  // The run's trash folder purged (by hand, or expired).
  RemoveTree(t / "dest/.ha-sync-trash");

  for (bool apply : {false, true}) {
    RunOutput r = RunHaSync(UndoArgs(t, run_id, apply));
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("would") == std::string::npos);  // the step for 'created' is not printed
    CHECK(r.out.find("remove created") == std::string::npos);
    CHECK(r.err.find("changed: trash copy '.ha-sync-trash/") != std::string::npos);
    CHECK(r.err.find("-" + run_id + "/changed': No such file or directory") != std::string::npos);
    CHECK(r.err.find("is --dest the destination that run wrote to?") != std::string::npos);
    CHECK(r.err.find("--trash-retain-days") != std::string::npos);
    CHECK(r.err.find("differ") == std::string::npos);  // dest did not change: it must not say so
  }
  CHECK(Describe(t / "dest") == after);
  CHECK(ReadFile(t / "dest/changed") == "v2 is longer");
}

TEST_CASE("undo refused for a path changed since prints the refusal only, no plan") {
  TempDir t;
  WriteFile(t / "src/a", "a", kT0);
  MakeDirs(t / "dest");
  Sync(t);
  WriteFile(t / "src/created", "new", kT0);
  WriteFile(t / "src/created-too", "new", kT0);
  const std::string run_id = Sync(t);
  WriteFile(t / "dest/created", "edited by hand", kT0 + 99 * kSec);
  RunOutput r = RunHaSync(UndoArgs(t, run_id, false));
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());  // not even the step for the unchanged 'created-too'
  CHECK(r.err.find("created: changed since that run") != std::string::npos);
  CHECK(Exists(t / "dest/created-too"));
}

}  // namespace ha_sync::test
