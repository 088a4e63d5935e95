// Differential tests: every io_uring operation against the plain syscall on
// real files, one test per feature. Each case runs the syscall on one
// fixture and the ring on an identical one, then compares the results
// (value or errno) and the state left behind.
#include "io/uring_ring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>

#include "io/uring_probe.h"
#include "io/uring_test_util.h"

namespace ha_sync::io {
namespace {

using testing::Complete;
using testing::ReadFile;
using testing::Sys;
using testing::TempDir;
using testing::WriteFile;

// io_uring is refused in some sandboxes (see uring_probe.h); the refusal
// itself is tested in uring_probe_test.cc, the operations only where it works.
std::unique_ptr<Ring> NewRing(unsigned entries = 8) {
  const UringSupport support = ProbeUring();
  if (!support.usable) {
    MESSAGE("io_uring not usable here, ring tests skipped: " << support.status.message());
    return nullptr;
  }
  auto ring = Ring::Create(entries);
  REQUIRE(ring.ok());
  return std::move(*ring);
}

std::string Pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

TEST_CASE("uring: io-wq worker limits are set and read back") {
  auto ring = NewRing();
  if (!ring) return;
  unsigned b0 = 0, u0 = 0;
  REQUIRE(ring->SetMaxWorkers(0, 0, &b0, &u0).ok());  // query only
  CHECK(b0 > 0);
  CHECK(u0 > 0);
  REQUIRE(ring->SetMaxWorkers(3, 5).ok());
  unsigned b = 0, u = 0;
  REQUIRE(ring->SetMaxWorkers(0, 0, &b, &u).ok());
  CHECK(b == 3);
  CHECK(u == 5);
  REQUIRE(ring->SetMaxWorkers(32, 0, &b, &u).ok());  // 0 leaves unbounded as it was
  CHECK(b == 3);
  REQUIRE(ring->SetMaxWorkers(0, 0, &b, &u).ok());
  CHECK(b == 32);
  CHECK(u == 5);
}

TEST_CASE("uring: read_fixed into registered buffers returns what pread returns") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir dir;
  const std::string data = Pattern(200000, 1);
  WriteFile(dir.fd(), "f", data);
  REQUIRE(ring->RegisterBuffers(3, 65536).ok());
  CHECK(ring->buffer_count() == 3);
  CHECK(ring->buffer_size() == 65536);
  const int fd = ::openat(dir.fd(), "f", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  // Whole blocks, a block across the end of the file, one past the end.
  for (const uint64_t offset : {uint64_t{0}, uint64_t{65536}, uint64_t{196608}, uint64_t{250000}}) {
    CAPTURE(offset);
    std::string expect(65536, '\0');
    const int want = Sys(::pread(fd, expect.data(), expect.size(), static_cast<off_t>(offset)));
    const size_t index = offset / 65536 % 3;
    REQUIRE(ring->QueueIo(IoDir::kRead, fd, IoBuffer::Fixed(index, 0), 65536, offset, 7));
    const int got = Complete(*ring, 7);
    CHECK(got == want);
    if (got > 0) CHECK(std::string(ring->buffer(index), static_cast<size_t>(got)) == expect.substr(0, static_cast<size_t>(want)));
  }
  // A read at an offset inside a buffer, and requests that do not fit are refused.
  REQUIRE(ring->QueueIo(IoDir::kRead, fd, IoBuffer::Fixed(1, 4096), 1000, 5, 8));
  CHECK(Complete(*ring, 8) == 1000);
  CHECK(std::string(ring->buffer(1) + 4096, 1000) == data.substr(5, 1000));
  CHECK_FALSE(ring->QueueIo(IoDir::kRead, fd, IoBuffer::Fixed(3, 0), 10, 0, 9));
  CHECK_FALSE(ring->QueueIo(IoDir::kRead, fd, IoBuffer::Fixed(0, 65000), 1000, 0, 9));
  // A bad fd fails like pread does.
  char c;
  const int want = Sys(::pread(-1, &c, 1, 0));
  REQUIRE(ring->QueueIo(IoDir::kRead, -1, IoBuffer::Fixed(0, 0), 1, 0, 10));
  CHECK(Complete(*ring, 10) == want);
  ::close(fd);
}

TEST_CASE("uring: reads and writes with caller-owned memory match pread and pwrite") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir dir;
  const std::string data = Pattern(100000, 3);
  WriteFile(dir.fd(), "f", data);
  const int fd = ::openat(dir.fd(), "f", O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  // No buffers registered: memory the caller owns, at an offset inside it.
  std::string got(5000, '\0');
  REQUIRE(ring->QueueIo(IoDir::kRead, fd, IoBuffer::Memory(got.data()), 3000, 99000, 1));
  CHECK(Complete(*ring, 1) == 1000);
  CHECK(got.substr(0, 1000) == data.substr(99000));
  const std::string patch = Pattern(2000, 4);
  std::string out = "xx" + patch;
  IoBuffer from = IoBuffer::Memory(out.data());
  from.offset = 2;
  REQUIRE(ring->QueueIo(IoDir::kWrite, fd, from, 2000, 500, 2));
  CHECK(Complete(*ring, 2) == 2000);
  std::string back(2000, '\0');
  CHECK(::pread(fd, back.data(), back.size(), 500) == 2000);
  CHECK(back == patch);
  // A bad fd fails like pwrite does.
  const int want = Sys(::pwrite(-1, out.data(), 1, 0));
  REQUIRE(ring->QueueIo(IoDir::kWrite, -1, IoBuffer::Memory(out.data()), 1, 0, 3));
  CHECK(Complete(*ring, 3) == want);
  ::close(fd);
}

TEST_CASE("uring: write_fixed from registered buffers writes what pwrite writes") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir dir;
  REQUIRE(ring->RegisterBuffers(2, 8192).ok());
  const int a = ::openat(dir.fd(), "sys", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  const int b = ::openat(dir.fd(), "ring", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  const std::string one = Pattern(8192, 2), two = Pattern(3000, 3);
  std::memcpy(ring->buffer(0), one.data(), one.size());
  std::memcpy(ring->buffer(1), two.data(), two.size());
  // Out of order and with a hole, like chunks of a large file in flight.
  CHECK(Sys(::pwrite(a, two.data(), two.size(), 20000)) == 3000);
  CHECK(Sys(::pwrite(a, one.data(), one.size(), 0)) == 8192);
  REQUIRE(ring->QueueIo(IoDir::kWrite, b, IoBuffer::Fixed(1, 0), 3000, 20000, 1));
  CHECK(Complete(*ring, 1) == 3000);
  REQUIRE(ring->QueueIo(IoDir::kWrite, b, IoBuffer::Fixed(0, 0), 8192, 0, 2));
  CHECK(Complete(*ring, 2) == 8192);
  CHECK(ReadFile(dir.fd(), "ring") == ReadFile(dir.fd(), "sys"));
  // Writing to a read-only fd fails like pwrite does.
  const int ro = ::openat(dir.fd(), "sys", O_RDONLY | O_CLOEXEC);
  const int want = Sys(::pwrite(ro, one.data(), 1, 0));
  REQUIRE(ring->QueueIo(IoDir::kWrite, ro, IoBuffer::Fixed(0, 0), 1, 0, 3));
  CHECK(Complete(*ring, 3) == want);
  CHECK(want == -EBADF);
  ::close(ro);
  ::close(a);
  ::close(b);
}

TEST_CASE("uring: statx matches the statx syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir dir;
  WriteFile(dir.fd(), "file", Pattern(12345, 4));
  REQUIRE(::mkdirat(dir.fd(), "sub", 0750) == 0);
  REQUIRE(::symlinkat("file", dir.fd(), "link") == 0);
  const struct timespec times[2] = {{1600000000, 111}, {1600000001, 123456789}};
  REQUIRE(::utimensat(dir.fd(), "file", times, 0) == 0);
  const unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
  for (const char* name : {"file", "sub", "link", "missing", "file/below", ""}) {
    for (const int flags : {AT_SYMLINK_NOFOLLOW, 0, AT_EMPTY_PATH}) {
      CAPTURE(name);
      CAPTURE(flags);
      struct statx want = {}, got = {};
      const int want_rc = Sys(::statx(dir.fd(), name, flags, mask, &want));
      REQUIRE(ring->QueueStatx(dir.fd(), name, flags, mask, &got, 11));
      const int got_rc = Complete(*ring, 11);
      CHECK(got_rc == want_rc);
      if (want_rc != 0) continue;
      CHECK(got.stx_mode == want.stx_mode);
      CHECK(got.stx_size == want.stx_size);
      CHECK(got.stx_ino == want.stx_ino);
      CHECK(got.stx_uid == want.stx_uid);
      CHECK(got.stx_mtime.tv_sec == want.stx_mtime.tv_sec);
      CHECK(got.stx_mtime.tv_nsec == want.stx_mtime.tv_nsec);
      CHECK(got.stx_mask == want.stx_mask);
    }
  }
  struct statx st = {};
  REQUIRE(ring->QueueStatx(dir.fd(), "file", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st, 12));
  REQUIRE(Complete(*ring, 12) == 0);
  CHECK(st.stx_size == 12345);
  CHECK(st.stx_mtime.tv_nsec == 123456789);
}

TEST_CASE("uring: openat2 with RESOLVE_BENEATH matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir outer;
  REQUIRE(::mkdirat(outer.fd(), "root", 0755) == 0);
  WriteFile(outer.fd(), "secret", "outside");
  const int root = ::openat(outer.fd(), "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(root >= 0);
  WriteFile(root, "inside", "data");
  REQUIRE(::symlinkat("../secret", root, "escape") == 0);
  REQUIRE(::symlinkat("inside", root, "near") == 0);
  REQUIRE(::symlinkat("/etc/passwd", root, "absolute") == 0);

  struct Case {
    const char* path;
    uint64_t flags;
    uint64_t resolve;
  };
  const uint64_t beneath = RESOLVE_BENEATH, strict = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  const Case cases[] = {
      {"inside", O_RDONLY, beneath},           {"../secret", O_RDONLY, beneath},
      {"escape", O_RDONLY, beneath},           {"absolute", O_RDONLY, beneath},
      {"/etc/passwd", O_RDONLY, beneath},      {"near", O_RDONLY, beneath},
      {"near", O_RDONLY, strict},              {"near", O_RDONLY | O_NOFOLLOW, beneath},
      {"missing", O_RDONLY, beneath},          {"inside", O_WRONLY | O_CREAT | O_EXCL, beneath},
      {"inside/x", O_RDONLY, beneath},         {"new", O_WRONLY | O_CREAT | O_EXCL, beneath},
  };
  for (const Case& c : cases) {
    CAPTURE(c.path);
    CAPTURE(c.resolve);
    struct open_how how = {};
    how.flags = c.flags | O_CLOEXEC;
    how.mode = (c.flags & O_CREAT) ? 0640 : 0;
    how.resolve = c.resolve;
    const int want = Sys(::syscall(SYS_openat2, root, c.path, &how, sizeof how));
    if (want >= 0 && (c.flags & O_CREAT)) REQUIRE(::unlinkat(root, c.path, 0) == 0);
    REQUIRE(ring->QueueOpenat2(root, c.path, &how, 21));
    const int got = Complete(*ring, 21);
    CHECK((got >= 0) == (want >= 0));
    if (want < 0) {
      CHECK(got == want);
      continue;
    }
    struct stat a, b;
    REQUIRE(::fstat(want, &a) == 0);
    REQUIRE(::fstat(got, &b) == 0);
    if (!(c.flags & O_CREAT)) CHECK(a.st_ino == b.st_ino);
    CHECK(a.st_mode == b.st_mode);
    CHECK((::fcntl(got, F_GETFD) & FD_CLOEXEC) != 0);
    ::close(want);
    ::close(got);
  }
  ::close(root);
}

TEST_CASE("uring: close matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir dir;
  WriteFile(dir.fd(), "f", "x");
  const int fd = ::openat(dir.fd(), "f", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(ring->QueueClose(fd, 31));
  CHECK(Complete(*ring, 31) == 0);
  CHECK(::fcntl(fd, F_GETFD) == -1);
  CHECK(errno == EBADF);
  // Closing it again fails as close(2) does.
  const int want = Sys(::close(fd));
  REQUIRE(ring->QueueClose(fd, 32));
  CHECK(Complete(*ring, 32) == want);
  CHECK(want == -EBADF);
}

TEST_CASE("uring: renameat matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir sys_dir, ring_dir;
  for (const TempDir* d : {&sys_dir, &ring_dir}) {
    WriteFile(d->fd(), "a", "aaa");
    WriteFile(d->fd(), "b", "bbb");
    REQUIRE(::mkdirat(d->fd(), "full", 0755) == 0);
    WriteFile(d->fd(), "full/x", "x");
    REQUIRE(::mkdirat(d->fd(), "empty", 0755) == 0);
  }
  struct Case {
    const char* from;
    const char* to;
    unsigned flags;
  };
  const Case cases[] = {
      {"a", "b", RENAME_NOREPLACE},  // target exists
      {"a", "c", 0},                 // plain rename
      {"missing", "d", 0},           // no source
      {"b", "c", 0},                 // replaces c atomically
      {"empty", "full", 0},          // over a non-empty directory
      {"c", "empty", 0},             // file over a directory
      {"full", "empty", 0},          // directory over an empty directory
      {"c", "nodir/c", 0},           // missing target directory
  };
  for (const Case& c : cases) {
    CAPTURE(c.from);
    CAPTURE(c.to);
    const int want = Sys(::renameat2(sys_dir.fd(), c.from, sys_dir.fd(), c.to, c.flags));
    REQUIRE(ring->QueuePathOp(PathOp::Rename(ring_dir.fd(), c.from, ring_dir.fd(), c.to, c.flags), 41));
    CHECK(Complete(*ring, 41) == want);
  }
  CHECK(ReadFile(ring_dir.fd(), "c") == ReadFile(sys_dir.fd(), "c"));
  CHECK(ReadFile(ring_dir.fd(), "c") == "bbb");
  CHECK(ReadFile(ring_dir.fd(), "empty/x") == "x");
  CHECK(::faccessat(ring_dir.fd(), "a", F_OK, 0) == -1);
}

TEST_CASE("uring: unlinkat matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir sys_dir, ring_dir;
  for (const TempDir* d : {&sys_dir, &ring_dir}) {
    WriteFile(d->fd(), "file", "f");
    REQUIRE(::mkdirat(d->fd(), "empty", 0755) == 0);
    REQUIRE(::mkdirat(d->fd(), "full", 0755) == 0);
    WriteFile(d->fd(), "full/x", "x");
    REQUIRE(::symlinkat("full", d->fd(), "link") == 0);
  }
  struct Case {
    const char* path;
    int flags;
  };
  const Case cases[] = {
      {"full", AT_REMOVEDIR},  {"empty", 0},   {"file", AT_REMOVEDIR}, {"link", AT_REMOVEDIR},
      {"link", 0},             {"file", 0},    {"empty", AT_REMOVEDIR}, {"missing", 0},
      {"full/x", 0},           {"full", AT_REMOVEDIR},
  };
  for (const Case& c : cases) {
    CAPTURE(c.path);
    CAPTURE(c.flags);
    const int want = Sys(::unlinkat(sys_dir.fd(), c.path, c.flags));
    REQUIRE(ring->QueuePathOp(PathOp::Unlink(ring_dir.fd(), c.path, c.flags), 51));
    CHECK(Complete(*ring, 51) == want);
  }
  for (const char* name : {"file", "empty", "full", "link"}) {
    CHECK(::faccessat(ring_dir.fd(), name, F_OK, AT_SYMLINK_NOFOLLOW) == -1);
  }
}

TEST_CASE("uring: mkdirat matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir sys_dir, ring_dir;
  struct Case {
    const char* path;
    mode_t mode;
  };
  const Case cases[] = {{"a", 0750}, {"a", 0755}, {"a/b", 0700}, {"x/y", 0755}, {"s", 02775}};
  for (const Case& c : cases) {
    CAPTURE(c.path);
    const int want = Sys(::mkdirat(sys_dir.fd(), c.path, c.mode));
    REQUIRE(ring->QueuePathOp(PathOp::Mkdir(ring_dir.fd(), c.path, c.mode), 61));
    CHECK(Complete(*ring, 61) == want);
    if (want != 0) continue;
    struct stat a, b;
    REQUIRE(::fstatat(sys_dir.fd(), c.path, &a, AT_SYMLINK_NOFOLLOW) == 0);
    REQUIRE(::fstatat(ring_dir.fd(), c.path, &b, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(a.st_mode == b.st_mode);  // same umask and setgid handling
    CHECK(S_ISDIR(b.st_mode));
  }
}

TEST_CASE("uring: symlinkat matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir sys_dir, ring_dir;
  const std::string odd = "target with\nnewline and \xff\xfe bytes/../x";
  struct Case {
    std::string target;
    const char* path;
  };
  const Case cases[] = {{"plain", "l1"}, {odd, "l2"}, {"other", "l1"}, {"t", "nodir/l"},
                        {"/etc/passwd", "abs"}};
  for (const Case& c : cases) {
    CAPTURE(c.path);
    const int want = Sys(::symlinkat(c.target.c_str(), sys_dir.fd(), c.path));
    REQUIRE(ring->QueuePathOp(PathOp::Symlink(c.target.c_str(), ring_dir.fd(), c.path), 71));
    CHECK(Complete(*ring, 71) == want);
    if (want != 0) continue;
    char a[256], b[256];
    const ssize_t na = ::readlinkat(sys_dir.fd(), c.path, a, sizeof a);
    const ssize_t nb = ::readlinkat(ring_dir.fd(), c.path, b, sizeof b);
    REQUIRE(na >= 0);
    CHECK(std::string(a, static_cast<size_t>(na)) == std::string(b, static_cast<size_t>(nb)));
    CHECK(std::string(b, static_cast<size_t>(nb)) == c.target);
  }
}

TEST_CASE("uring: fsync matches the syscall") {
  auto ring = NewRing();
  if (!ring) return;
  TempDir dir;
  WriteFile(dir.fd(), "f", Pattern(100000, 5));
  const int fd = ::openat(dir.fd(), "f", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  for (const bool datasync : {false, true}) {
    CAPTURE(datasync);
    REQUIRE(::pwrite(fd, "zz", 2, 10) == 2);
    const int want = Sys(datasync ? ::fdatasync(fd) : ::fsync(fd));
    REQUIRE(::pwrite(fd, "yy", 2, 20) == 2);
    REQUIRE(ring->QueueFsync(fd, datasync, 81));
    CHECK(Complete(*ring, 81) == want);
    CHECK(want == 0);
  }
  const int dfd = ::openat(dir.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(ring->QueueFsync(dfd, false, 82));  // a directory, as after a rename
  CHECK(Complete(*ring, 82) == Sys(::fsync(dfd)));
  ::close(dfd);
  ::close(fd);
  const int want = Sys(::fsync(fd));
  REQUIRE(ring->QueueFsync(fd, false, 83));
  CHECK(Complete(*ring, 83) == want);
  CHECK(want == -EBADF);
}

TEST_CASE("uring: more operations than slots: back-pressure, each completes once") {
  auto ring = NewRing(4);
  if (!ring) return;
  TempDir dir;
  constexpr int kFiles = 300;
  for (int i = 0; i < kFiles; ++i) WriteFile(dir.fd(), std::to_string(i).c_str(), std::string(static_cast<size_t>(i), 'x'));
  std::vector<std::string> names(kFiles);
  std::vector<struct statx> st(kFiles);
  std::multiset<uint64_t> seen;
  std::vector<Completion> done;
  int next = 0;
  bool refused_at_capacity = false;
  while (static_cast<int>(seen.size()) < kFiles) {
    while (next < kFiles) {
      names[static_cast<size_t>(next)] = std::to_string(next);
      if (!ring->QueueStatx(dir.fd(), names[static_cast<size_t>(next)].c_str(), AT_SYMLINK_NOFOLLOW,
                            STATX_SIZE, &st[static_cast<size_t>(next)], static_cast<uint64_t>(next))) {
        refused_at_capacity = ring->in_flight() == ring->capacity();
        CHECK(refused_at_capacity);
        break;
      }
      ++next;
    }
    done.clear();
    REQUIRE(ring->SubmitAndReap(1, &done).ok());
    for (const Completion& c : done) {
      CHECK(c.res == 0);
      CHECK(st[c.tag].stx_size == c.tag);  // file i has i bytes
      seen.insert(c.tag);
    }
  }
  CHECK(refused_at_capacity);
  CHECK(ring->in_flight() == 0);
  CHECK(seen.size() == kFiles);
  CHECK(std::set<uint64_t>(seen.begin(), seen.end()).size() == kFiles);
}

}  // namespace
}  // namespace ha_sync::io
