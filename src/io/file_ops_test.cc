// Paths read back from ha-sync's own files are used under a root only when
// plain, and recreating a path's directories never leaves the root: a
// symlink planted in the path is refused, with openat2 and without it.
#include "io/file_ops.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "support/temp_dir.h"

namespace ha_sync::io {

namespace {

using ha_sync::testing::TempDir;

bool IsDirAt(int dirfd, const char* rel) {
  struct stat st;
  return ::fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool ExistsAt(int dirfd, const char* rel) {
  struct stat st;
  return ::fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

using MakeDirsFn = Result<int> (*)(int, const std::string&, mode_t);

}  // namespace

TEST_CASE("IsPlainRelativePath accepts plain relative paths only") {
  CHECK(IsPlainRelativePath("a"));
  CHECK(IsPlainRelativePath("a/b/c.txt"));
  CHECK(IsPlainRelativePath(".hidden/..dots/x.."));  // names that merely start with dots
  CHECK(IsPlainRelativePath("with space/\xff\x01"));  // any other byte is a name byte
  CHECK_FALSE(IsPlainRelativePath(""));
  CHECK_FALSE(IsPlainRelativePath("/etc/passwd"));
  CHECK_FALSE(IsPlainRelativePath(".."));
  CHECK_FALSE(IsPlainRelativePath("../x"));
  CHECK_FALSE(IsPlainRelativePath("a/../../x"));
  CHECK_FALSE(IsPlainRelativePath("a/.."));
  CHECK_FALSE(IsPlainRelativePath("."));
  CHECK_FALSE(IsPlainRelativePath("./a"));
  CHECK_FALSE(IsPlainRelativePath("a/./b"));
  CHECK_FALSE(IsPlainRelativePath("a//b"));
  CHECK_FALSE(IsPlainRelativePath("a/"));
  CHECK_FALSE(IsPlainRelativePath(std::string("a\0b", 3)));
}

TEST_CASE("MakeDirsBeneath creates the missing directories and opens the last") {
  {
    const MakeDirsFn make = &MakeDirsBeneath;
    TempDir t;
    REQUIRE(::mkdirat(t.fd(), "root", 0755) == 0);
    const int root = ::openat(t.fd(), "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(root >= 0);
    REQUIRE(::mkdirat(root, "a", 0755) == 0);
    auto fd = make(root, "a/b/c", 0750);
    REQUIRE(fd.ok());
    CHECK(::mkdirat(*fd, "inside", 0755) == 0);  // the fd is root/a/b/c
    ::close(*fd);
    CHECK(IsDirAt(root, "a/b/c/inside"));
    struct stat st;
    REQUIRE(::fstatat(root, "a/b", &st, 0) == 0);
    CHECK((st.st_mode & 07777 & ~0750) == 0);  // `mode`, less the umask
    auto again = make(root, "a/b/c", 0750);  // all there: opened, nothing created
    REQUIRE(again.ok());
    ::close(*again);
    auto self = make(root, "", 0750);  // the root itself
    REQUIRE(self.ok());
    ::close(*self);
    ::close(root);
  }
}

TEST_CASE("MakeDirsBeneath refuses a symlink planted in the path and creates nothing outside") {
  {
    const MakeDirsFn make = &MakeDirsBeneath;
    TempDir t;
    REQUIRE(::mkdirat(t.fd(), "root", 0755) == 0);
    REQUIRE(::mkdirat(t.fd(), "outside", 0755) == 0);
    const int root = ::openat(t.fd(), "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(root >= 0);
    REQUIRE(::mkdirat(root, "a", 0755) == 0);
    // root/a/link -> <t>/outside (absolute) and root/rel -> ../outside.
    REQUIRE(::symlinkat((t / "outside").c_str(), root, "a/link") == 0);
    REQUIRE(::symlinkat("../outside", root, "rel") == 0);

    auto through_abs = make(root, "a/link/new", 0755);
    CHECK_FALSE(through_abs.ok());
    CHECK(through_abs.status().err() == ELOOP);
    CHECK(through_abs.status().message().find("a/link") != std::string::npos);
    auto through_rel = make(root, "rel/new", 0755);
    CHECK_FALSE(through_rel.ok());
    auto last = make(root, "a/link", 0755);  // the symlink as the last component too
    CHECK_FALSE(last.ok());
    CHECK_FALSE(ExistsAt(t.fd(), "outside/new"));
    CHECK(IsDirAt(t.fd(), "outside"));

    // A dangling symlink is not replaced by a directory, nor followed.
    REQUIRE(::symlinkat((t / "outside/made").c_str(), root, "dangling") == 0);
    CHECK_FALSE(make(root, "dangling/x", 0755).ok());
    CHECK_FALSE(ExistsAt(t.fd(), "outside/made"));

    // A path that is not plain is refused before anything is made.
    for (const char* bad : {"../outside/new", "a/../../outside/new", "/tmp/x", "a//b", "./a"}) {
      INFO(bad);
      auto r = make(root, bad, 0755);
      CHECK_FALSE(r.ok());
      CHECK(r.status().err() == EINVAL);
    }
    CHECK_FALSE(ExistsAt(t.fd(), "outside/new"));
    CHECK_FALSE(ExistsAt(root, "a/b"));
    ::close(root);
  }
}

}  // namespace ha_sync::io
