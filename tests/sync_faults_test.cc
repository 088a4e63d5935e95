// Crashes, signals and failing filesystems: nothing partial ever appears
// under a real name, failures are recorded, the rest of the run proceeds.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "sync_harness.h"

namespace ha_sync::test {

namespace {
constexpr int64_t kT0 = 1'700'000'000 * kSec;
const std::string kBig(8 << 20, 'N');  // 8 blocks of 1 MiB

// Waits until a temp file shows up under `dir` (the copy is under way).
bool WaitForTemp(const std::string& dir) {
  for (int i = 0; i < 1000; ++i) {
    if (!TempFilesUnder(dir).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}
const std::vector<std::string> kSlow = {"HA_SYNC_TEST_BLOCK_DELAY_MS=150"};
}  // namespace

TEST_CASE("a file that appears on dest while its create is copied is never replaced") {
  // The create was planned against an absent dest; the user's file written
  // under the name meanwhile stays, the copy fails and is discarded, and
  // the next run compares the two (here: dest is newer, so it is kept).
  TempDir t;
  WriteFile(t / "src/big", kBig, kT0);
  MakeDirs(t / "dest");
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "1"}), kSlow);
  REQUIRE(WaitForTemp(t / "dest"));
  WriteFile(t / "dest/big", "USERDATA", kT0 + 100 * kSec);
  RunOutput r = Wait(run);
  INFO(r.err);
  CHECK(r.exit_code == 2);  // that operation failed, the run went on
  CHECK(r.err.find("'big' appeared on dest while it was copied") != std::string::npos);
  CHECK(ReadFile(t / "dest/big") == "USERDATA");
  CHECK(TempFilesUnder(t / "dest").empty());
  RunOutput again = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(again.exit_code == 0);
  CHECK(ReadFile(t / "dest/big") == "USERDATA");
}

TEST_CASE("a dest file replaced while its update is copied is never overwritten") {
  // An editor saves by writing a new file and renaming it over the old one.
  TempDir t;
  WriteFile(t / "src/big", kBig, kT0 + 100 * kSec);
  WriteFile(t / "dest/big", "old version", kT0);
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "1"}), kSlow);
  REQUIRE(WaitForTemp(t / "dest"));
  WriteFile(t / "dest/saved-by-editor", "USER EDIT", kT0 + 200 * kSec);
  REQUIRE(::rename((t / "dest/saved-by-editor").c_str(), (t / "dest/big").c_str()) == 0);
  RunOutput r = Wait(run);
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("'big' changed on dest while it was copied") != std::string::npos);
  CHECK(ReadFile(t / "dest/big") == "USER EDIT");
  CHECK(TempFilesUnder(t / "dest").empty());
}

TEST_CASE("a dest file edited while it is compared by MD5 never gets the source's mtime") {
  // Same bytes, src newer: only the mtime is carried over, after both are
  // hashed. An in-place edit of dest meanwhile must not be stamped with
  // src's time (the sides would then look equal while they differ).
  TempDir t;
  WriteFile(t / "src/big", kBig, kT0 + 100 * kSec);
  WriteFile(t / "dest/big", kBig, kT0);
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "1"}),
                            {"HA_SYNC_TEST_BLOCK_DELAY_MS=300"});
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));  // src hashed, dest's first block read
  {
    const int fd = ::open((t / "dest/big").c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "USER EDIT", 9, 0) == 9);  // same size, new bytes, new mtime
    ::close(fd);
  }
  RunOutput r = Wait(run);
  INFO(r.err);
  CHECK((r.exit_code == 0 || r.exit_code == 2));
  const std::string now = ReadFile(t / "dest/big");
  CHECK(now.compare(0, 9, "USER EDIT") == 0);  // the edit stays
  struct stat s_st, d_st;
  REQUIRE(::stat((t / "src/big").c_str(), &s_st) == 0);
  REQUIRE(::stat((t / "dest/big").c_str(), &d_st) == 0);
  // Never src's mtime on bytes that are not src's.
  CHECK_FALSE((s_st.st_mtim.tv_sec == d_st.st_mtim.tv_sec && s_st.st_mtim.tv_nsec == d_st.st_mtim.tv_nsec));
}

TEST_CASE("a root that is inside the other through a bind mount is refused") {
  if (::geteuid() != 0) return;  // bind mounts need root (CI runs as root)
  TempDir t;
  WriteFile(t / "a/keep", "k", kT0);
  WriteFile(t / "a/mirror/x", "x", kT0);
  WriteFile(t / "b/photos/p", "precious", kT0);
  WriteFile(t / "b/other", "o", kT0);
  MakeDirs(t / "bm");
  MakeDirs(t / "am");
  MakeDirs(t / "same");
  REQUIRE(::mount((t / "a/mirror").c_str(), (t / "bm").c_str(), nullptr, MS_BIND, nullptr) == 0);
  REQUIRE(::mount((t / "b/photos").c_str(), (t / "am").c_str(), nullptr, MS_BIND, nullptr) == 0);
  REQUIRE(::mount((t / "b").c_str(), (t / "same").c_str(), nullptr, MS_BIND, nullptr) == 0);
  // dest is a/mirror: it would be copied into itself, deeper each level.
  RunOutput in_src = RunHaSync(SyncArgs(t / "a", t / "bm", t / "log1"));
  // src is b/photos: --delete-missing would delete it from dest, i.e. the source.
  RunOutput in_dest = RunHaSync(SyncArgs(t / "am", t / "b", t / "log2", {"--delete-missing", "--max-delete-percent", "100"}));
  // The same directory under two names.
  RunOutput same = RunHaSync(SyncArgs(t / "b", t / "same", t / "log3", {"--delete-missing"}));
  ::umount2((t / "bm").c_str(), MNT_DETACH);
  ::umount2((t / "am").c_str(), MNT_DETACH);
  ::umount2((t / "same").c_str(), MNT_DETACH);
  INFO(in_src.err, in_dest.err, same.err);
  CHECK(in_src.exit_code == 1);
  CHECK(in_src.err.find("'mirror' in --src is --dest itself") != std::string::npos);
  CHECK_FALSE(Exists(t / "a/mirror/mirror/mirror"));
  CHECK(in_dest.exit_code == 1);
  CHECK(in_dest.err.find("'photos' in --dest is --src itself") != std::string::npos);
  CHECK(ReadFile(t / "b/photos/p") == "precious");
  CHECK(same.exit_code == 1);
  CHECK(same.err.find("--src and --dest are the same directory") != std::string::npos);
  CHECK(ReadFile(t / "b/other") == "o");
}

TEST_CASE("a dest file edited after the walk listed it is not deleted") {
  // Deletes run after the walk (and its copies): an edit made on dest in
  // between is the user's, not a file the state saw synced.
  TempDir t;
  WriteFile(t / "src/doomed", "d", kT0);
  WriteFile(t / "src/keep", "k", kT0);  // the share is there: not every known entry is gone
  MakeDirs(t / "dest");
  REQUIRE(RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing"})).exit_code == 0);
  ::unlink((t / "src/doomed").c_str());
  for (const std::string trash_days : {"14", "0"}) {
    CAPTURE(trash_days);
    WriteFile(t / ("src/big-" + trash_days), kBig, kT0);  // a new file: a slow copy before the deletes
    WriteFile(t / "dest/doomed", "d", kT0);  // as synced
    Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log",
                                       {"--delete-missing", "--workers", "1", "--trash-retain-days", trash_days}),
                              kSlow);
    REQUIRE(WaitForTemp(t / "dest"));
    WriteFile(t / "dest/doomed", "USER EDIT", kT0 + 100 * kSec);
    RunOutput r = Wait(run);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("'doomed' changed on dest since it was listed: kept, not deleted") != std::string::npos);
    CHECK(ReadFile(t / "dest/doomed") == "USER EDIT");
  }
}

TEST_CASE("SIGKILL mid-copy leaves the old file; the next run completes and removes the temp") {
  TempDir t;
  WriteFile(t / "src/big", kBig, kT0 + 100 * kSec);
  WriteFile(t / "dest/big", "old version", kT0);
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log"), kSlow);
  REQUIRE(WaitForTemp(t / "dest"));
  ::kill(run.pid, SIGKILL);
  RunOutput killed = Wait(run);
  CHECK(killed.exit_code == 128 + SIGKILL);
  CHECK(ReadFile(t / "dest/big") == "old version");
  CHECK(TempFilesUnder(t / "dest").size() == 1);

  // A run with another log directory cannot prove the temp file is this
  // pair's (pipeline/temp_tags.h): it leaves it and says so.
  RunOutput other = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log2"));
  CHECK(other.exit_code == 0);
  CHECK(TempFilesUnder(t / "dest").size() == 1);
  CHECK(other.err.find("no run of this pair made it") != std::string::npos);

  RunOutput again = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(ReadFile(t / "dest/big") == kBig);
  CHECK(TempFilesUnder(t / "dest").empty());
}

TEST_CASE("SIGKILL mid-copy of a new file leaves it absent") {
  TempDir t;
  WriteFile(t / "src/new-big", kBig, kT0);
  MakeDirs(t / "dest");
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log"), kSlow);
  REQUIRE(WaitForTemp(t / "dest"));
  ::kill(run.pid, SIGKILL);
  Wait(run);
  CHECK_FALSE(Exists(t / "dest/new-big"));
}

TEST_CASE("SIGTERM stops promptly: no temp file, footer written, exit 1") {
  TempDir t;
  WriteFile(t / "src/big", kBig, kT0 + 100 * kSec);
  WriteFile(t / "dest/big", "old version", kT0);
  for (int i = 0; i < 20; ++i) WriteFile(t / ("src/later/f" + std::to_string(i)), std::string(3 << 20, 'x'), kT0);
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "1"}), kSlow);
  REQUIRE(WaitForTemp(t / "dest"));
  ::kill(run.pid, SIGTERM);
  RunOutput r = Wait(run);
  CHECK(r.exit_code == 1);
  CHECK(TempFilesUnder(t / "dest").empty());
  CHECK(ReadFile(t / "dest/big") == "old version");
  CHECK_FALSE(Exists(t / "dest/later/f19"));  // stopped, did not run to the end
  RunFooter footer = LastFooter(t / "log");
  CHECK(footer.status == RunStatus::kFailed);
  CHECK(footer.error_message->find("interrupted") != std::string::npos);
}

TEST_CASE("SIGTERM in a tree the walk lists ahead: a clean stop, no directory counted as unreadable") {
  // Listings of subdirectories are made ahead of the walk (walker.h), and a
  // stop ends those not started yet: they must not show as unreadable
  // directories, and ending the listing pool must not crash. (Where the
  // stop lands in the walk varies from run to run: three rounds.)
  TempDir t;
  for (int a = 0; a < 8; ++a) {
    for (int b = 0; b < 8; ++b) {
      const std::string rel = "a" + std::to_string(a) + "/b" + std::to_string(b);
      WriteFile(t / ("src/" + rel + "/f"), "same", kT0);
      WriteFile(t / ("dest/" + rel + "/f"), "same", kT0);
    }
  }
  WriteFile(t / "src/a0/big", kBig, kT0 + 100 * kSec);
  WriteFile(t / "dest/a0/big", "old version", kT0);
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "2"}), kSlow);
    REQUIRE(WaitForTemp(t / "dest"));
    ::kill(run.pid, SIGTERM);
    RunOutput r = Wait(run);
    INFO(r.err);
    CHECK(r.exit_code == 1);  // interrupted, not a crash
    CHECK(r.err.find("stopped before listing") == std::string::npos);
    CHECK(r.err.find("unreadable") == std::string::npos);
    CHECK(TempFilesUnder(t / "dest").empty());
  }
}

TEST_CASE("a full destination filesystem fails that copy; the others proceed; exit 2") {
  if (::geteuid() != 0) return;  // mounting a small tmpfs needs root (CI runs as root)
  TempDir t;
  MakeDirs(t / "dest");
  REQUIRE(::mount("tmpfs", (t / "dest").c_str(), "tmpfs", 0, "size=2m") == 0);
  WriteFile(t / "src/too-big", std::string(4 << 20, 'z'), kT0);
  WriteFile(t / "src/small-1", "s1", kT0);
  WriteFile(t / "src/small-2", "s2", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "1"}));
  const auto temps = TempFilesUnder(t / "dest");
  const bool small1 = Exists(t / "dest/small-1"), small2 = Exists(t / "dest/small-2");
  const bool big = Exists(t / "dest/too-big");
  ::umount2((t / "dest").c_str(), MNT_DETACH);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("No space left on device") != std::string::npos);
  CHECK(temps.empty());
  CHECK(small1);
  CHECK(small2);
  CHECK_FALSE(big);
  int failed = 0;
  for (const auto& op : ReadOps(t / "log")) {
    if (op.status == OpStatus::kFail) {
      ++failed;
      CHECK(op.filepath == "too-big");
    }
  }
  CHECK(failed == 1);
}

TEST_CASE("an unreadable source file is a failed operation; the others proceed") {
  if (::geteuid() != 0) return;  // needs to drop to another user (CI runs as root)
  TempDir t;
  WriteFile(t / "src/secret", "root only", kT0);
  ::chmod((t / "src/secret").c_str(), 0600);
  WriteFile(t / "src/public", "everyone", kT0);
  MakeDirs(t / "dest");
  MakeDirs(t / "log");
  for (const char* d : {"src", "dest", "log"}) ::chown((t / d).c_str(), 65534, 65534);
  ::chown((t / "src/public").c_str(), 65534, 65534);
  RunOutput r = RunHaSyncAs(65534, SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(r.exit_code == 2);
  CHECK(Exists(t / "dest/public"));
  CHECK_FALSE(Exists(t / "dest/secret"));
  bool recorded = false;
  for (const auto& op : ReadOps(t / "log")) {
    if (op.filepath == "secret") {
      recorded = op.status == OpStatus::kFail &&
                 op.error_message->find("Permission denied") != std::string::npos;
    }
  }
  CHECK(recorded);
}

TEST_CASE("a source file growing during its copy is discarded with a clear error") {
  TempDir t;
  // 24 blocks at 150 ms each: the append below lands while the copy runs
  // even when this process is descheduled for a second on a loaded machine.
  const std::string long_file(24 << 20, 'G');
  WriteFile(t / "src/growing", long_file, kT0);
  WriteFile(t / "src/steady", "steady", kT0);
  MakeDirs(t / "dest");
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log"), kSlow);
  REQUIRE(WaitForTempData(t / "dest", "growing"));
  {
    FILE* f = std::fopen((t / "src/growing").c_str(), "a");
    REQUIRE(f != nullptr);
    std::fputs("appended while copying", f);
    std::fclose(f);
  }
  RunOutput r = Wait(run);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("changed during copy") != std::string::npos);
  CHECK_FALSE(Exists(t / "dest/growing"));
  CHECK(Exists(t / "dest/steady"));
  CHECK(TempFilesUnder(t / "dest").empty());
  // The next run copies the settled file.
  CHECK(RunHaSync(SyncArgs(t / "src", t / "dest", t / "log2")).exit_code == 0);
  CHECK(ReadFile(t / "dest/growing") == long_file + "appended while copying");
}

TEST_CASE("a second run of the same pair exits 0, says who holds the lock, touches nothing") {
  TempDir t;
  WriteFile(t / "src/big", kBig, kT0);
  WriteFile(t / "src/other", "o", kT0);
  MakeDirs(t / "dest");
  Running first = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "1"}), kSlow);
  REQUIRE(WaitForTemp(t / "dest"));
  MakeDirs(t / "dest2");
  RunOutput second = RunHaSync(SyncArgs(t / "src", t / "dest2", t / "log"));
  CHECK(second.exit_code == 0);
  CHECK(second.out.find("locked") != std::string::npos);
  CHECK(second.out.find("pid=" + std::to_string(first.pid)) != std::string::npos);
  CHECK(Describe(t / "dest2").empty());
  ::kill(first.pid, SIGTERM);
  Wait(first);
}

TEST_CASE("a run that fails right after taking the lock releases it: the next run syncs at once") {
  TempDir t;
  WriteFile(t / "src/a", "a", kT0);
  MakeDirs(t / "dest");
  // The run registers its temp tag once the lock is held (src/cli/run.cc,
  // PrepareUnderLock); a directory where the tags file goes fails that step.
  MakeDirs(t / "log/temp-tags-test");
  RunOutput failed = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(failed.exit_code == 1);
  CHECK(failed.err.find("temp tags") != std::string::npos);
  CHECK(Describe(t / "dest").empty());
  // Released by the run, not only dropped when the process ended: a
  // released flock file holds no holder line (src/io/file_lock.h).
  CHECK(Exists(t / "log/ha-sync-test.lock"));
  CHECK(ReadFile(t / "log/ha-sync-test.lock").empty());

  RemoveTree(t / "log/temp-tags-test");
  RunOutput next = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(next.exit_code == 0);
  CHECK(next.out.find("locked") == std::string::npos);
  CHECK(ReadFile(t / "dest/a") == "a");
}

}  // namespace ha_sync::test
