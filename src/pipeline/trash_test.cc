// The trash folder is ha-sync's own: it appears only when something is
// moved or linked into it, creating it never changes the dest root's times,
// and many threads creating it at once make one folder. The undo manifest
// lives outside the share.
#include "pipeline/trash.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "io/uring_test_util.h"
#include "pipeline/undo_manifest.h"

namespace ha_sync::pipeline {

namespace {

using io::testing::TempDir;

constexpr struct timespec kRootTimes[2] = {{1500000000, 111}, {1600000000, 222}};

void SetRootTimes(int fd) { REQUIRE(::futimens(fd, kRootTimes) == 0); }

void CheckRootTimes(int fd) {
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_mtim.tv_sec == kRootTimes[1].tv_sec);
  CHECK(st.st_mtim.tv_nsec == kRootTimes[1].tv_nsec);
}

}  // namespace

TEST_CASE("the undo manifest goes to its own folder, created with the first record") {
  TempDir logs;
  const std::string dir = UndoManifest::Dir(logs.path(), "photos");
  UndoManifest manifest(dir, "20261126T000000Z-run");
  struct stat st;
  CHECK(::stat(dir.c_str(), &st) != 0);  // nothing before the first record
  UndoRecord r;
  r.path = "a/b";
  REQUIRE(manifest.Append(r).ok());
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::vector<UndoRecord> back;
  REQUIRE(UndoManifest::Read(fd, dir, UndoManifest::FileName("20261126T000000Z-run"), &back).ok());
  ::close(fd);
  REQUIRE(back.size() == 1);
  CHECK(back[0].path == "a/b");
}

TEST_CASE("a second version of one path in one run keeps the first in the trash: the one dest had") {
  TempDir root;
  io::testing::WriteFile(root.fd(), "f", "before the run");
  Trash trash(root.fd(), "20261126T000000Z-run");
  REQUIRE(trash.LinkIn(root.fd(), "f").ok());
  REQUIRE(::unlinkat(root.fd(), "f", 0) == 0);
  io::testing::WriteFile(root.fd(), "f", "the run's first copy");
  REQUIRE(trash.LinkIn(root.fd(), "f").ok());
  const int fd = ::openat(root.fd(), ".ha-sync-trash/20261126T000000Z-run/f", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char buf[64] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  CHECK(std::string(buf, static_cast<size_t>(n > 0 ? n : 0)) == "before the run");
}

TEST_CASE("moving a file into a new trash folder leaves the root's times") {
  TempDir root;
  REQUIRE(::mkdirat(root.fd(), "d", 0755) == 0);
  const int d = ::openat(root.fd(), "d", O_RDONLY | O_DIRECTORY);
  REQUIRE(d >= 0);
  io::testing::WriteFile(d, "f", "old");
  SetRootTimes(root.fd());
  Trash trash(root.fd(), "20261126T000000Z-run");
  REQUIRE(trash.MoveIn(d, "d/f").ok());
  ::close(d);
  CheckRootTimes(root.fd());
}

TEST_CASE("many threads opening the trash folder at once: one folder, the root's times kept") {
  TempDir root;
  SetRootTimes(root.fd());
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto fd = OpenTrashFolder(root.fd());
      if (fd.ok()) {
        ++opened;
        ::close(*fd);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(opened == 8);
  CheckRootTimes(root.fd());
}

TEST_CASE("moves from many threads into more folders than stay open: each file at its path") {
  // Trash keeps its folders open for the run and drops them all past a bound
  // (trash.h); files moved before and after that land where they belong.
  TempDir root;
  constexpr int kFiles = 300;
  auto sub_of = [](int i) { return "d" + std::to_string(i % 30) + "/sub" + std::to_string(i); };
  for (int i = 0; i < kFiles; ++i) {
    ::mkdirat(root.fd(), ("d" + std::to_string(i % 30)).c_str(), 0755);
    REQUIRE(::mkdirat(root.fd(), sub_of(i).c_str(), 0755) == 0);
    const int fd = ::openat(root.fd(), sub_of(i).c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    io::testing::WriteFile(fd, "f", "data");
    ::close(fd);
  }
  Trash trash(root.fd(), "20261126T000000Z-run");
  std::vector<std::thread> threads;
  std::atomic<int> moved{0};
  for (int w = 0; w < 6; ++w) {
    threads.emplace_back([&, w] {
      for (int i = w; i < kFiles; i += 6) {
        const int fd = ::openat(root.fd(), sub_of(i).c_str(), O_RDONLY | O_DIRECTORY);
        if (fd < 0) continue;
        if (trash.MoveIn(fd, sub_of(i) + "/f").ok()) ++moved;
        ::close(fd);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(moved == kFiles);
  for (int i = 0; i < kFiles; ++i) {
    const std::string path = std::string(kTrashDirName) + "/20261126T000000Z-run/" + sub_of(i) + "/f";
    struct stat st;
    CHECK(::fstatat(root.fd(), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0);
  }
}

}  // namespace ha_sync::pipeline
