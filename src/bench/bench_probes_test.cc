// The --bench measurements on real temp trees: the scan counts exactly the
// entries there are and finds the largest files; reads move the bytes they
// report; copies are made by the engine's copier, byte for byte with the
// source's attributes, and removed; bounds end every measurement; no source
// file is changed. io_uring cases are skipped (with
// a message) where the kernel refuses it.
#include "bench/bench_probes.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "io/dir_reader.h"
#include "io/uring_probe.h"
#include "io/uring_test_util.h"
#include "pipeline/walker.h"

namespace ha_sync::bench {

namespace {

using io::testing::TempDir;

Bounds Within(double seconds, const std::atomic<bool>* stop = nullptr) {
  return Bounds{Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)), stop};
}

void Write(const std::string& path, size_t size, char fill) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const std::string data(size, fill);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  ::close(fd);
}

// 3 top-level dirs x 4 subdirs x 5 files, plus 3 large files and a symlink:
// 3 + 12 + 60 + 3 + 1 = 79 entries.
void MakeTree(const std::string& root) {
  for (int a = 0; a < 3; ++a) {
    const std::string d = root + "/d" + std::to_string(a);
    REQUIRE(::mkdir(d.c_str(), 0755) == 0);
    for (int b = 0; b < 4; ++b) {
      const std::string e = d + "/e" + std::to_string(b);
      REQUIRE(::mkdir(e.c_str(), 0755) == 0);
      for (int c = 0; c < 5; ++c) Write(e + "/f" + std::to_string(c), 100 + c, 'x');
    }
  }
  Write(root + "/d1/big1", 3 << 20, 'a');
  Write(root + "/d2/e3/big2", 2 << 20, 'b');
  Write(root + "/big0", (1 << 20) + 5, 'c');
  REQUIRE(::symlink("d0", (root + "/link").c_str()) == 0);
}

std::vector<Engine> Engines() {
  std::vector<Engine> out = {Engine::kThreads};
  const io::UringSupport uring = io::ProbeUring();
  if (uring.usable) {
    out.push_back(Engine::kUring);
  } else {
    MESSAGE("io_uring not usable, its cases skipped: " << uring.status.message());
  }
  return out;
}

int64_t MtimeNs(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

}  // namespace

// --workers and root kinds the scans run with: each listing-pool shape.
constexpr std::pair<unsigned, bool> kShapes[] = {{1u, false}, {4u, false}, {32u, false},
                                                 {1u, true},  {4u, true},  {32u, true}};

TEST_CASE("scan: every entry once, symlinks not followed, the largest files found, on the walk's listing pool") {
  TempDir dir;
  MakeTree(dir.path());
  for (const auto& [workers, network] : kShapes) {
    CAPTURE(workers);
    CAPTURE(network);
    std::vector<SampleFile> largest;
    const Measurement m = MeasureScan(dir.fd(), pipeline::ListingShapeFor(workers, network), Within(30), {}, 2, 1 << 20, &largest);
    CHECK(m.error == "");
    CHECK(m.count == 79);
    CHECK(m.complete);
    CHECK(m.phase == "scan");
    CHECK(m.engine == "");  // the walk is the same for both io engines
    CHECK(m.param == static_cast<int64_t>(pipeline::ListingShapeFor(workers, network).threads));
    REQUIRE(largest.size() == 2);
    CHECK(largest[0].rel_path == "d1/big1");
    CHECK(largest[0].size == (3 << 20));
    struct stat st;
    REQUIRE(::stat((dir.path() + "/d1/big1").c_str(), &st) == 0);
    CHECK(largest[0].mode == static_cast<int>(st.st_mode & 07777));
    CHECK(largest[1].rel_path == "d2/e3/big2");
  }
}

TEST_CASE("scan: a deep, wide tree is counted whole with listings made ahead of the scan, as the walk makes them") {
  // The listing tasks list subdirectories ahead within the walk's prefetch
  // budget (pipeline/prefetch_budget.h): no entry lost or counted twice.
  TempDir dir;
  for (int a = 0; a < 5; ++a) {
    for (int b = 0; b < 5; ++b) {
      for (int c = 0; c < 5; ++c) {
        const std::string leaf = dir.path() + "/a" + std::to_string(a) + "/b" + std::to_string(b) + "/c" +
                                 std::to_string(c);
        std::filesystem::create_directories(leaf);
        for (const char* f : {"/x", "/y"}) {
          const int fd = ::open((leaf + f).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
          REQUIRE(fd >= 0);
          ::close(fd);
        }
      }
    }
  }
  for (const auto& [workers, network] : kShapes) {
    CAPTURE(workers);
    CAPTURE(network);
    const Measurement m = MeasureScan(dir.fd(), pipeline::ListingShapeFor(workers, network), Within(30), {"a4"}, 0, 0, nullptr);
    CHECK(m.error == "");
    CHECK(m.complete);
    CHECK(m.count == 4 * (1 + 5 + 25 + 50));  // a4 skipped: per a, itself, b, c and files
  }
}

TEST_CASE("scan: top-level names to skip are neither counted nor entered") {
  TempDir dir;
  MakeTree(dir.path());
  const Measurement m = MeasureScan(dir.fd(), pipeline::ListingShapeFor(4, false), Within(30), {"d0", "big0"}, 0, 0, nullptr);
  CHECK(m.count == 79 - 1 - 4 - 20 - 1);
}

TEST_CASE("scan: a directory that cannot be listed is left out, the others are counted") {
  if (::geteuid() == 0) {
    MESSAGE("running as root: permissions do not stop listings, case skipped");
    return;
  }
  TempDir dir;
  MakeTree(dir.path());
  REQUIRE(::chmod((dir.path() + "/d0/e1").c_str(), 0) == 0);
  const Measurement m = MeasureScan(dir.fd(), pipeline::ListingShapeFor(4, false), Within(30), {}, 0, 0, nullptr);
  ::chmod((dir.path() + "/d0/e1").c_str(), 0755);
  CHECK(m.error == "");
  CHECK(m.count == 79 - 5);
  // Nothing listed at all: the row is the error, naming the path.
  REQUIRE(::chmod(dir.path().c_str(), 0) == 0);
  const Measurement none = MeasureScan(dir.fd(), pipeline::ListingShapeFor(4, false), Within(30), {}, 0, 0, nullptr);
  ::chmod(dir.path().c_str(), 0755);
  CHECK(none.count == 0);
  CHECK(none.error.find("Permission denied") != std::string::npos);
}

TEST_CASE("scan: a bound that has passed ends the walk early, marked incomplete") {
  TempDir dir;
  MakeTree(dir.path());
  std::atomic<bool> stop{true};
  const Measurement m = MeasureScan(dir.fd(), pipeline::ListingShapeFor(4, false), Within(30, &stop), {}, 0, 0, nullptr);
  CHECK_FALSE(m.complete);
  CHECK(m.count < 79);
}

TEST_CASE("read: the sample's bytes, up to the byte bound; the files are unchanged") {
  TempDir dir;
  MakeTree(dir.path());
  const int64_t before = MtimeNs(dir.path() + "/d1/big1");
  const std::vector<SampleFile> sample = {{"d1/big1", 3 << 20}, {"d2/e3/big2", 2 << 20}, {"big0", (1 << 20) + 5}};
  for (const Engine engine : Engines()) {
    CAPTURE(EngineName(engine));
    Measurement m = MeasureRead(dir.fd(), sample, engine, 2, 3, 256 << 10, int64_t{1} << 30, Within(30));
    CHECK(m.error == "");
    CHECK(m.bytes == (3 << 20) + (2 << 20) + (1 << 20) + 5);
    CHECK(m.count == 3);
    CHECK(m.complete);
    m = MeasureRead(dir.fd(), sample, engine, 1, 2, 256 << 10, 1 << 20, Within(30));
    CHECK(m.bytes == (1 << 20));
    CHECK_FALSE(m.complete);
  }
  CHECK(MtimeNs(dir.path() + "/d1/big1") == before);
}

TEST_CASE("read: a sample path that became a symlink is refused, the others are read") {
  TempDir dir;
  MakeTree(dir.path());
  const std::vector<SampleFile> sample = {{"link/e0/f0", 100}, {"big0", (1 << 20) + 5}};
  for (const Engine engine : Engines()) {
    const Measurement m = MeasureRead(dir.fd(), sample, engine, 1, 2, 1 << 20, int64_t{1} << 30, Within(30));
    CHECK(m.bytes == (1 << 20) + 5);
  }
}

namespace {

// The sample of MakeTree's tree, largest first (as the scan returns it).
std::vector<SampleFile> Sample(const std::string& root) {
  std::vector<SampleFile> out = {{"d1/big1", 3 << 20}, {"d2/e3/big2", 2 << 20}, {"big0", (1 << 20) + 5},
                                 {"d0/e0/f4", 104}, {"d1/e0/f4", 104}};  // one name in two folders
  for (SampleFile& f : out) {
    struct stat st;
    REQUIRE(::stat((root + "/" + f.rel_path).c_str(), &st) == 0);
    f.mode = static_cast<int>(st.st_mode & 07777);
  }
  return out;
}

std::vector<std::string> Left(int dir_fd) {
  std::vector<io::Entry> left;
  REQUIRE(io::ListDirectory(dir_fd, ".", &left).ok());
  std::vector<std::string> names;
  for (const io::Entry& e : left) names.push_back(e.name);
  return names;
}

}  // namespace

TEST_CASE("copy: the engine's copier makes byte-identical copies with the source's attributes, each removed") {
  TempDir src, scratch;
  MakeTree(src.path());
  REQUIRE(::chmod((src.path() + "/big0").c_str(), 0640) == 0);
  const std::vector<SampleFile> sample = Sample(src.path());
  for (const Engine engine : Engines()) {
    CAPTURE(EngineName(engine));
    std::mutex seen_mu;  // the inspector runs on the copying threads
    std::vector<std::string> seen;
    // Small blocks, so the large files take the io_uring copier's ring path
    // (files of one block or less are copied with blocking calls, as in a sync).
    const CopySettings settings{3, 2, 256 << 10, true, true};
    const Measurement m = MeasureCopy(
        src.fd(), sample, scratch.fd(), engine, settings, int64_t{1} << 30, Within(30),
        [&](int dir_fd, const std::string& name, const SampleFile& from) {
          {
            std::lock_guard<std::mutex> lock(seen_mu);
            seen.push_back(from.rel_path);
          }
          CHECK(io::testing::ReadFile(dir_fd, name.c_str()) ==
                io::testing::ReadFile(src.fd(), from.rel_path.c_str()));
          struct stat copy, orig;
          REQUIRE(::fstatat(dir_fd, name.c_str(), &copy, AT_SYMLINK_NOFOLLOW) == 0);
          REQUIRE(::fstatat(src.fd(), from.rel_path.c_str(), &orig, AT_SYMLINK_NOFOLLOW) == 0);
          CHECK(S_ISREG(copy.st_mode));
          CHECK((copy.st_mode & 07777) == (orig.st_mode & 07777));
          CHECK(copy.st_mtim.tv_sec == orig.st_mtim.tv_sec);
          CHECK(copy.st_mtim.tv_nsec == orig.st_mtim.tv_nsec);
          CHECK(Left(dir_fd) == std::vector<std::string>{name});  // renamed into place, no temp file left
        });
    CHECK(m.error == "");
    CHECK(m.phase == "copy");
    CHECK(m.root == "dest");
    CHECK(m.engine == EngineName(engine));
    CHECK(m.param == 3);
    CHECK(m.count == 5);
    CHECK(m.bytes == (3 << 20) + (2 << 20) + (1 << 20) + 5 + 2 * 104);
    CHECK(m.complete);
    std::sort(seen.begin(), seen.end());
    CHECK(seen == std::vector<std::string>{"big0", "d0/e0/f4", "d1/big1", "d1/e0/f4", "d2/e3/big2"});
    CHECK(Left(scratch.fd()).empty());  // the copies and the workers' folders are gone
  }
}

TEST_CASE("copy: no copy starts past the byte bound") {
  TempDir src, scratch;
  MakeTree(src.path());
  for (const Engine engine : Engines()) {
    CAPTURE(EngineName(engine));
    const Measurement m = MeasureCopy(src.fd(), Sample(src.path()), scratch.fd(), engine,
                                      CopySettings{2, 2, 1 << 20}, 1, Within(30));
    CHECK(m.error == "");
    CHECK(m.count == 1);  // the first copy taken uses up the bound
    CHECK_FALSE(m.complete);
    CHECK(Left(scratch.fd()).empty());
  }
}

TEST_CASE("copy: a stop ends the measurement and leaves nothing behind") {
  TempDir src, scratch;
  MakeTree(src.path());
  for (const Engine engine : Engines()) {
    CAPTURE(EngineName(engine));
    std::atomic<bool> stop{false};
    const Measurement m = MeasureCopy(src.fd(), Sample(src.path()), scratch.fd(), engine,
                                      CopySettings{1, 2, 64 << 10}, int64_t{1} << 30, Within(30, &stop),
                                      [&](int, const std::string&, const SampleFile&) { stop = true; });
    CHECK(m.count == 1);  // the stop came with the first copy; no other finished
    CHECK(m.bytes == (3 << 20));
    CHECK_FALSE(m.complete);
    CHECK(Left(scratch.fd()).empty());
    // Stopped before any copy: the row says so.
    const Measurement none = MeasureCopy(src.fd(), Sample(src.path()), scratch.fd(), engine, CopySettings{},
                                         int64_t{1} << 30, Within(30, &stop));
    CHECK(none.count == 0);
    CHECK(none.error.find("no copy finished") != std::string::npos);
    CHECK(Left(scratch.fd()).empty());
  }
}

TEST_CASE("copy: a sample file gone since the scan is skipped; the others are copied") {
  TempDir src, scratch;
  MakeTree(src.path());
  const std::vector<SampleFile> sample = Sample(src.path());
  REQUIRE(::unlink((src.path() + "/d2/e3/big2").c_str()) == 0);
  for (const Engine engine : Engines()) {
    CAPTURE(EngineName(engine));
    const Measurement m = MeasureCopy(src.fd(), sample, scratch.fd(), engine, CopySettings{2, 2, 1 << 20},
                                      int64_t{1} << 30, Within(30));
    CHECK(m.error == "");
    CHECK(m.count == 4);
    CHECK(Left(scratch.fd()).empty());
  }
  const Measurement empty =
      MeasureCopy(src.fd(), {}, scratch.fd(), Engine::kThreads, CopySettings{}, 1 << 20, Within(30));
  CHECK(empty.error.find("no non-empty source file") != std::string::npos);
}

TEST_CASE("copy and metadata: a read-only folder is an error naming the path, not a rate") {
  if (::geteuid() == 0) {
    MESSAGE("running as root: permissions do not stop writes, case skipped");
    return;
  }
  TempDir src, dir;
  MakeTree(src.path());
  REQUIRE(::fchmod(dir.fd(), 0500) == 0);
  for (const Engine engine : Engines()) {
    const Measurement m = MeasureCopy(src.fd(), Sample(src.path()), dir.fd(), engine,
                                      CopySettings{1, 2, 64 << 10}, 4 << 20, Within(30));
    CHECK(m.error.find("Permission denied") != std::string::npos);
    CHECK(m.error.find("c0-0") != std::string::npos);
    CHECK(m.bytes == 0);
  }
  const Measurement m = MeasureMetadata(dir.fd(), 4, Within(30));
  CHECK(m.error.find("Permission denied") != std::string::npos);
  ::fchmod(dir.fd(), 0700);
}

TEST_CASE("metadata: operations counted until the bound, nothing left behind") {
  TempDir dir;
  const Measurement m = MeasureMetadata(dir.fd(), 8, Within(0.3));
  CHECK(m.error == "");
  CHECK(m.count > 0);
  CHECK(m.seconds >= 0.3);
  std::vector<io::Entry> left;
  REQUIRE(io::ListDirectory(dir.fd(), ".", &left).ok());
  CHECK(left.empty());
}

TEST_CASE("md5: bytes hashed up to the byte bound on every thread") {
  const Measurement m = MeasureMd5(2, 64 << 10, 8 << 20, Within(30));
  CHECK(m.bytes == (8 << 20));
  CHECK(m.complete);
  CHECK(m.Rate() > 0);
}

}  // namespace ha_sync::bench
