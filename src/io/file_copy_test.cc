#include "io/file_copy.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "io/copy_test_dirs.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/md5.h"

namespace ha_sync::io {

namespace {
using Dirs = testing::CopyDirs;  // io/copy_test_dirs.h
}  // namespace

TEST_CASE("CopyFileAtomic copies bytes, mode and times, and its MD5 equals OpenSSL's") {
  Dirs d;
  std::string data;
  for (int i = 0; i < 300000; ++i) data += static_cast<char>(i * 7 % 251);
  data += std::string(200000, '\0') + "tail";  // a zero run inside: written as a hole
  d.Write("f", data);
  const struct timespec times[2] = {{1000, 1}, {1700000000, 987654321}};
  REQUIRE(::utimensat(d.src, "f", times, 0) == 0);

  CopyOptions options;
  options.block_size = 4096;
  CopyOutcome out;
  REQUIRE(CopyFileAtomic(d.src, d.dest, "f", "f", options, &out).ok());
  CHECK(d.ReadDest("f") == data);
  CHECK(out.bytes == static_cast<int64_t>(data.size()));
  CHECK(out.md5 == Md5::OfString(data));
  Entry e;
  REQUIRE(StatEntry(d.dest, "f", "d", &e).ok());
  CHECK(e.mtime_ns == 1700000000LL * 1000000000 + 987654321);
  CHECK(e.mode == 0640);
  CHECK(d.DestEntries() == 1);  // no temp file left
}

TEST_CASE("a cancelled copy leaves neither the target nor a temp file") {
  Dirs d;
  d.Write("f", std::string(1 << 20, 'x'));
  std::atomic<bool> cancel{true};
  CopyOptions options;
  options.cancel = &cancel;
  CopyOutcome out;
  Status s = CopyFileAtomic(d.src, d.dest, "f", "f", options, &out);
  CHECK_FALSE(s.ok());
  CHECK(s.err() == ECANCELED);
  CHECK(d.DestEntries() == 0);
}

TEST_CASE("copying a source that is a symlink is refused (never followed)") {
  Dirs d;
  REQUIRE(::symlinkat("/etc/passwd", d.src, "link") == 0);
  CopyOutcome out;
  Status s = CopyFileAtomic(d.src, d.dest, "link", "link", CopyOptions{}, &out);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("link") != std::string::npos);
  CHECK(d.DestEntries() == 0);
}

TEST_CASE("CopySymlinkAtomic replaces whatever link was there and keeps the target bytes") {
  Dirs d;
  REQUIRE(::symlinkat("/etc", d.dest, "l") == 0);
  Entry like;
  like.name = "l";
  like.type = FileType::kSymlink;
  like.link_target = "relative/\xff-target";
  like.mtime_ns = 1600000000LL * 1000000000 + 5;
  like.atime_ns = like.mtime_ns;
  REQUIRE(CopySymlinkAtomic(d.dest, like, "l").ok());
  Entry e;
  REQUIRE(StatEntry(d.dest, "l", "d", &e).ok());
  CHECK(e.type == FileType::kSymlink);
  CHECK(e.link_target == like.link_target);
  CHECK(e.mtime_ns == like.mtime_ns);
}

TEST_CASE("CopySymlinkAtomic keeps an entry put there meanwhile: a create never replaces, an update checks") {
  Dirs d;
  Entry like;
  like.name = "l";
  like.type = FileType::kSymlink;
  like.link_target = "target";
  like.mtime_ns = 1600000000LL * 1000000000;
  like.atime_ns = like.mtime_ns;
  // A create: a file that appeared under the name stays.
  const int fd = ::openat(d.dest, "l", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  ::close(fd);
  Status s = CopySymlinkAtomic(d.dest, like, "l", 0, /*no_replace=*/true);
  CHECK(s.err() == EEXIST);
  Entry e;
  REQUIRE(StatEntry(d.dest, "l", "l", &e).ok());
  CHECK(e.type == FileType::kFile);
  // An update planned against a link that is no longer as listed: kept.
  REQUIRE(::unlinkat(d.dest, "l", 0) == 0);
  REQUIRE(::symlinkat("old", d.dest, "l") == 0);
  REQUIRE(StatEntry(d.dest, "l", "l", &e).ok());
  s = CopySymlinkAtomic(d.dest, like, "l", 0, false, PlannedTarget{e.size, e.mtime_ns - 1});
  CHECK(s.err() == EBUSY);
  REQUIRE(StatEntry(d.dest, "l", "l", &e).ok());
  CHECK(e.link_target == "old");
  // As listed: replaced.
  CHECK(CopySymlinkAtomic(d.dest, like, "l", 0, false, PlannedTarget{e.size, e.mtime_ns}).ok());
  REQUIRE(StatEntry(d.dest, "l", "l", &e).ok());
  CHECK(e.link_target == "target");
  CHECK(d.DestEntries() == 1);  // no temp link left
}

TEST_CASE("HashFile agrees with hashing the bytes in memory") {
  Dirs d;
  const std::string data(3 * 4096 + 17, 'q');
  d.Write("h", data);
  std::string md5;
  CopyOptions options;
  options.block_size = 4096;
  REQUIRE(HashFile(d.src, "h", "h", options, &md5).ok());
  CHECK(md5 == Md5::OfString(data));
  CHECK(Md5::OfString("") == "d41d8cd98f00b204e9800998ecf8427e");
}

}  // namespace ha_sync::io

namespace ha_sync::io {

// The temp file is created with its final mode where that is exact, and the
// size is set only when trailing zeros were left as a hole: each skipped
// step is a round trip saved on NFS, and none may change the result.
TEST_CASE("modes come out exact whether set at create or by a chmod, special bits included") {
  Dirs d;
  for (mode_t mode : {0644, 0600, 0444, 0640, 04755, 01777 & ~01000, 02750, 0400, 0777}) {
    INFO(mode);
    d.Write("m", "x");
    REQUIRE(::fchmodat(d.src, "m", mode, 0) == 0);
    CopyOutcome out;
    REQUIRE(CopyFileAtomic(d.src, d.dest, "m", "m", CopyOptions{}, &out).ok());
    struct stat st;
    REQUIRE(::fstatat(d.dest, "m", &st, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK((st.st_mode & 07777) == mode);
  }
}

TEST_CASE("CreateModeFor: exact only for plain modes the umask keeps whole") {
  CHECK(CreateModeFor(0600).mode == 0600);
  CHECK_FALSE(CreateModeFor(04755).exact);  // set-id bits always take a chmod
  CHECK_FALSE(CreateModeFor(0444).exact);   // the owner could not write the data
  CHECK(CreateModeFor(0444).mode == 0600);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  CHECK(CreateModeFor(0777).exact == ((0777 & mask) == 0));
}

TEST_CASE("trailing zeros: the size is set although the last block is a hole") {
  Dirs d;
  d.Write("z", std::string("head") + std::string(3 << 20, '\0'));
  CopyOptions options;
  options.block_size = 1 << 20;
  CopyOutcome out;
  REQUIRE(CopyFileAtomic(d.src, d.dest, "z", "z", options, &out).ok());
  struct stat st;
  REQUIRE(::fstatat(d.dest, "z", &st, 0) == 0);
  CHECK(st.st_size == 4 + (3 << 20));
  CHECK(d.ReadDest("z") == std::string("head") + std::string(3 << 20, '\0'));
}

}  // namespace ha_sync::io
