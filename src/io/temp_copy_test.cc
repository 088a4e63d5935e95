// TempCopy (temp_copy.h) on a real temp directory: what a commit leaves,
// and that a failed or abandoned copy leaves the destination as it was and
// no temp file.
#include "io/temp_copy.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "io/copy_test_dirs.h"
#include "io/dir_reader.h"

namespace ha_sync::io {

namespace {

using Dirs = testing::CopyDirs;  // io/copy_test_dirs.h

constexpr int64_t kMtime = 1700000000LL * 1000000000 + 123456789;
constexpr int64_t kAtime = 1600000000LL * 1000000000 + 5;

// The attributes a copier hands to Commit() for a source of `size` bytes.
Entry SourceLike(const std::string& name, int64_t size, mode_t mode) {
  Entry e;
  e.name = name;
  e.type = FileType::kFile;
  e.size = size;
  e.mtime_ns = kMtime;
  e.atime_ns = kAtime;
  e.mode = mode;
  e.uid = ::geteuid();
  e.gid = ::getegid();
  return e;
}

void WriteTo(int fd, const std::string& data) {
  REQUIRE(::pwrite(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
}

// d/`name` with `content`, as an earlier sync left it.
void PutDest(Dirs& d, const std::string& name, const std::string& content) {
  const int fd = ::openat(d.dest, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  WriteTo(fd, content);
  ::close(fd);
}

// Blocking calls whose close reports a late write error (as NFS may) after
// really closing the fd.
class FailingClose : public CommitCalls {
 public:
  int Close(int fd) override {
    CommitCalls::Close(fd);
    return -EIO;
  }
};

}  // namespace

TEST_CASE("all-zero blocks are told from blocks with one byte set, at every position and length") {
  CHECK(AllZero(nullptr, 0));
  for (const size_t n : {1u, 15u, 16u, 17u, 31u, 32u, 33u, 4096u}) {
    std::string block(n, '\0');
    CHECK(AllZero(block.data(), n));
    for (size_t at = 0; at < n; at += (n > 64 ? 97 : 1)) {
      block[at] = 1;
      CHECK_FALSE(AllZero(block.data(), n));
      block[at] = 0;
    }
    block[n - 1] = static_cast<char>(0x80);
    CHECK_FALSE(AllZero(block.data(), n));
  }
}

TEST_CASE("a committed temp file replaces the target with its data, the source's mode and nanosecond times") {
  Dirs d;
  PutDest(d, "f", "old content, longer than the new one");
  TempCopy temp(d.dest, "f", /*temp_tag=*/0x1234, "f");
  REQUIRE(temp.Create(0600).ok());
  CHECK(IsSyncTempName(temp.temp_name()));
  CHECK(SyncTempTag(temp.temp_name()) == 0x1234);
  WriteTo(temp.fd(), "new");
  // Three bytes written, five in the source: the last two were zeros left as a hole.
  CommitOptions commit;
  commit.written_end = 3;
  REQUIRE(temp.Commit(SourceLike("f", 5, 0640), commit).ok());

  Entry e;  // stat before reading: the read may move the atime
  REQUIRE(StatEntry(d.dest, "f", "f", &e).ok());
  CHECK(e.mode == 0640);
  CHECK(e.mtime_ns == kMtime);
  CHECK(e.atime_ns == kAtime);
  CHECK(e.size == 5);
  CHECK(d.ReadDest("f") == std::string("new\0\0", 5));
  CHECK(d.DestNames() == std::vector<std::string>{"f"});  // the temp file became "f"
  CHECK(temp.fd() == -1);
}

TEST_CASE("a no-replace commit leaves a file that appeared under the name, and removes the temp") {
  Dirs d;
  for (const bool appeared : {false, true}) {
    CAPTURE(appeared);
    const std::string name = appeared ? "taken" : "free";
    if (appeared) {
      const int fd = ::openat(d.dest, name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      REQUIRE(fd >= 0);
      REQUIRE(::write(fd, "USER", 4) == 4);
      ::close(fd);
    }
    TempCopy temp(d.dest, name, 0, name);
    REQUIRE(temp.Create(0640).ok());
    REQUIRE(::write(temp.fd(), "copy", 4) == 4);
    CommitOptions commit;
    commit.written_end = 4;
    commit.no_replace = true;
    const Status s = temp.Commit(SourceLike(name, 4, 0640), commit);
    CHECK(s.ok() == !appeared);
    CHECK(d.ReadDest(name) == (appeared ? "USER" : "copy"));
    if (appeared) {
      CHECK(s.err() == EEXIST);
      CHECK(s.message().find("appeared on dest while it was copied") != std::string::npos);
    }
  }
  std::vector<std::string> names = d.DestNames();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"free", "taken"});  // no temp file left
}

TEST_CASE("an update's commit replaces the target only while it is as planned") {
  Dirs d;
  auto write_dest = [&](const std::string& name, const std::string& data, int64_t mtime_ns) {
    const int fd = ::openat(d.dest, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    ::close(fd);
    const struct timespec times[2] = {{0, UTIME_OMIT}, {mtime_ns / 1000000000, mtime_ns % 1000000000}};
    REQUIRE(::utimensat(d.dest, name.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
  };
  const int64_t planned_mtime = kMtime - 1000000000;
  for (const char* meanwhile : {"nothing", "edited", "removed"}) {
    CAPTURE(meanwhile);
    const std::string name = std::string("f-") + meanwhile;
    write_dest(name, "old", planned_mtime);
    TempCopy temp(d.dest, name, 0, name);
    REQUIRE(temp.Create(0640).ok());
    REQUIRE(::write(temp.fd(), "copy", 4) == 4);
    if (std::string(meanwhile) == "edited") write_dest(name, "USER EDIT", planned_mtime + 5);
    if (std::string(meanwhile) == "removed") REQUIRE(::unlinkat(d.dest, name.c_str(), 0) == 0);
    CommitOptions commit;
    commit.written_end = 4;
    commit.replaces = PlannedTarget{3, planned_mtime};
    const Status s = temp.Commit(SourceLike(name, 4, 0640), commit);
    if (std::string(meanwhile) == "nothing") {
      CHECK(s.ok());
      CHECK(d.ReadDest(name) == "copy");
    } else {
      CHECK(s.err() == EBUSY);
      CHECK(s.message().find("changed on dest while it was copied") != std::string::npos);
      CHECK(d.ReadDest(name) == (std::string(meanwhile) == "edited" ? "USER EDIT" : ""));
    }
  }
  for (const std::string& n : d.DestNames()) CHECK_FALSE(IsSyncTempName(n));
}

TEST_CASE("an abandoned temp file is removed and the target keeps its content") {
  Dirs d;
  PutDest(d, "f", "kept");
  {
    TempCopy temp(d.dest, "f", 0, "f");
    REQUIRE(temp.Create(0600).ok());
    WriteTo(temp.fd(), "half a copy");
    CHECK(d.DestEntries() == 2);
  }  // e.g. the source changed: the copier returns without committing
  CHECK(d.DestNames() == std::vector<std::string>{"f"});
  CHECK(d.ReadDest("f") == "kept");
}

TEST_CASE("a failed commit leaves the target as it was and no temp file") {
  Dirs d;
  PutDest(d, "f", "kept");
  CommitOptions commit;
  commit.written_end = 3;

  SUBCASE("close reports a late write error") {
    FailingClose calls;
    TempCopy temp(d.dest, "f", 0, "f");
    REQUIRE(temp.Create(0600).ok());
    WriteTo(temp.fd(), "new");
    const Status s = temp.Commit(SourceLike("f", 3, 0644), commit, &calls);
    CHECK(s.err() == EIO);
    CHECK(s.message().find("close") != std::string::npos);
    CHECK(d.DestNames() == std::vector<std::string>{"f"});  // removed by Commit itself
  }
  SUBCASE("the run is stopping (checked after close, before the rename)") {
    std::atomic<bool> cancel{true};
    commit.cancel = &cancel;
    TempCopy temp(d.dest, "f", 0, "f");
    REQUIRE(temp.Create(0600).ok());
    WriteTo(temp.fd(), "new");
    CHECK(temp.Commit(SourceLike("f", 3, 0644), commit).err() == ECANCELED);
    CHECK(d.DestNames() == std::vector<std::string>{"f"});
  }
  SUBCASE("the rename is refused (a directory holds the target's name)") {
    REQUIRE(::mkdirat(d.dest, "dir", 0755) == 0);
    PutDest(d, "dir/inside", "x");
    TempCopy temp(d.dest, "dir", 0, "dir");
    REQUIRE(temp.Create(0600).ok());
    WriteTo(temp.fd(), "new");
    const Status s = temp.Commit(SourceLike("dir", 3, 0644), commit);
    CHECK_FALSE(s.ok());
    CHECK(s.message().find("rename into place") != std::string::npos);
    CHECK(d.DestEntries() == 2);  // "f" and "dir": the temp file is gone
    struct stat st;
    REQUIRE(::fstatat(d.dest, "dir", &st, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK(::unlinkat(d.dest, "dir/inside", 0) == 0);
    CHECK(::unlinkat(d.dest, "dir", AT_REMOVEDIR) == 0);
  }
  CHECK(d.DestNames() == std::vector<std::string>{"f"});
  CHECK(d.ReadDest("f") == "kept");
}

TEST_CASE("a temp file that could not be created reports the target and leaves nothing to remove") {
  Dirs d;
  TempCopy temp(d.dest, "f", 0, "f");
  const Status s = temp.Adopt(-ENOSPC);  // as UringCopier hands on the ring's openat2 result
  CHECK(s.err() == ENOSPC);
  CHECK(s.message().find("create temp file for") != std::string::npos);
  CHECK(temp.fd() == -1);
  CHECK_FALSE(temp.Commit(SourceLike("f", 0, 0644), CommitOptions{}).ok());
  CHECK(d.DestEntries() == 0);
}

}  // namespace ha_sync::io
