// UringCopier against CopyFileAtomic's contract: same bytes, MD5, holes,
// attributes; many callers sharing a small buffer pool; cancel and a source
// changing mid-copy leave no temp file. Skipped (with a message) where the
// kernel refuses io_uring.
#include "io/uring_copier.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "io/copy_test_dirs.h"
#include "io/dir_reader.h"
#include "io/md5.h"
#include "io/uring_probe.h"

namespace ha_sync::io {

namespace {

using Dirs = testing::CopyDirs;  // io/copy_test_dirs.h

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + static_cast<size_t>(seed)) % 251 + 1);
  return s;
}

std::unique_ptr<UringCopier> MakeCopier(unsigned files, unsigned depth, size_t block,
                                        size_t max_bytes = 64u << 20, bool server_copy = false,
                                        bool register_buffers = true) {
  UringCopierOptions o;
  o.register_buffers = register_buffers;
  o.copy_file_range = server_copy;
  o.files_in_flight = files;
  o.queue_depth = depth;
  o.block_size = block;
  o.max_buffer_bytes = max_bytes;
  auto c = UringCopier::Create(o);
  REQUIRE(c.ok());
  return std::move(*c);
}

bool UringUsable() {
  const UringSupport s = ProbeUring();
  if (!s.usable) MESSAGE("io_uring not usable here, test skipped: " << s.status.message());
  return s.usable;
}

}  // namespace

TEST_CASE("uring copier: the buffer pool is made by the first copy that needs one, not before") {
  if (!UringUsable()) return;
  // Registering faults in and pins the whole pool: a run that copies no
  // file over one block never pays it (uring_copier.h, "Memory").
  bool kernel_takes_buffers = false;
  {
    auto probe = Ring::Create(8);
    REQUIRE(probe.ok());
    kernel_takes_buffers = (*probe)->RegisterBuffers(8, 4096).ok();
  }
  Dirs d;
  UringCopierOptions o;
  o.files_in_flight = 4;
  o.queue_depth = 2;
  o.block_size = 4096;
  o.small_file_bytes = 4096;  // one block or less: blocking calls, no pool
  auto made = UringCopier::Create(o);
  REQUIRE(made.ok());
  UringCopier& copier = **made;
  CHECK_FALSE(copier.buffers_registered());
  d.Write("small", Pattern(4000, 1));
  d.Write("large", Pattern(50000, 2));
  CopyOptions options;
  CopyOutcome out;
  options.expected_size = 4000;  // the size the walk listed
  REQUIRE(copier.Copy(d.src, d.dest, "small", "small", options, &out).ok());
  CHECK_FALSE(copier.buffers_registered());
  CHECK(copier.ring_copies() == 0);
  options.expected_size = 50000;
  REQUIRE(copier.Copy(d.src, d.dest, "large", "large", options, &out).ok());
  CHECK(copier.ring_copies() == 1);
  CHECK(copier.buffers_registered() == kernel_takes_buffers);
  CHECK(d.ReadDest("large") == Pattern(50000, 2));
  CHECK(out.md5 == Md5::OfString(Pattern(50000, 2)));
}

TEST_CASE("uring copier: bytes, MD5, holes, mode and times match the source for every size edge") {
  if (!UringUsable()) return;
  // Every data path: fixed buffers, plain buffers (registration refused by
  // RLIMIT_MEMLOCK), copy_file_range.
  for (int path = 0; path < 3; ++path) {
  CAPTURE(path);
  Dirs d;
  auto copier = MakeCopier(2, 4, 4096, 64u << 20, path == 2, path != 1);
  if (path == 1) CHECK_FALSE(copier->buffers_registered());
  const std::vector<std::pair<std::string, std::string>> files = {
      {"empty", ""},
      {"one", "x"},
      {"block-1", Pattern(4095, 1)},
      {"block", Pattern(4096, 2)},
      {"block+1", Pattern(4097, 3)},
      {"holes", Pattern(30000, 4) + std::string(20000, '\0') + Pattern(10000, 5)},
      {"zero-tail", Pattern(9000, 6) + std::string(16384, '\0')},
      {"all-zero", std::string(12288, '\0')},
  };
  for (const auto& [name, data] : files) {
    d.Write(name, data);
    const struct timespec times[2] = {{1000, 1}, {1700000000, 987654321}};
    REQUIRE(::utimensat(d.src, name.c_str(), times, 0) == 0);
    CopyOptions options;
    CopyOutcome out;
    Status s = copier->Copy(d.src, d.dest, name, name, options, &out);
    REQUIRE_MESSAGE(s.ok(), name << ": " << s.message());
    CHECK_MESSAGE(d.ReadDest(name) == data, name);
    CHECK(out.bytes == static_cast<int64_t>(data.size()));
    CHECK(out.md5 == Md5::OfString(data));
    CHECK(out.source.mtime_ns == 1700000000LL * 1000000000 + 987654321);
    Entry e;
    REQUIRE(StatEntry(d.dest, name, "d", &e).ok());
    CHECK(e.mtime_ns == 1700000000LL * 1000000000 + 987654321);
    CHECK(e.mode == 0640);
    CHECK(e.size == static_cast<int64_t>(data.size()));
  }
  struct stat st;
  REQUIRE(::fstatat(d.dest, "holes", &st, 0) == 0);
  CHECK(st.st_blocks * 512 < 60000);  // the zero run stayed a hole
  CHECK(d.DestNames().size() == files.size());  // no temp file left
  }
}

TEST_CASE("uring copier: files listed at or below the small-file size take blocking calls, others the ring") {
  if (!UringUsable()) return;
  Dirs d;
  UringCopierOptions o;
  o.block_size = 4096;
  o.small_file_bytes = 4096;
  auto made = UringCopier::Create(o);
  REQUIRE(made.ok());
  UringCopier& copier = **made;
  struct Case {
    std::string name;
    size_t size;
    int64_t hint;
    bool ring;
  };
  const std::vector<Case> cases = {
      {"small", 100, 100, false},        {"at-limit", 4096, 4096, false},
      {"large", 20000, 20000, true},     {"no-hint", 100, -1, true},
      // A hint is only a hint: the copy is right whatever the file is now.
      {"grew", 9000, 100, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string data = Pattern(c.size, 9);
    d.Write(c.name, data);
    CopyOptions options;
    options.block_size = 4096;
    options.expected_size = c.hint;
    CopyOutcome out;
    const uint64_t before = copier.ring_copies();
    Status s = copier.Copy(d.src, d.dest, c.name, c.name, options, &out);
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(copier.ring_copies() == before + (c.ring ? 1 : 0));
    CHECK(d.ReadDest(c.name) == data);
    CHECK(out.md5 == Md5::OfString(data));
  }
}

TEST_CASE("uring copier: many callers share a two-buffer pool and replace existing targets") {
  if (!UringUsable()) return;
  Dirs d;
  // Two 4 KiB buffers for 8 callers with queue depth 4: callers wait for a
  // buffer and copy with fewer chunks in flight, never deadlock.
  auto copier = MakeCopier(8, 4, 4096, 8192);
  CHECK(copier->buffer_count() == 2);
  constexpr int kFiles = 48;
  for (int i = 0; i < kFiles; ++i) {
    d.Write("f" + std::to_string(i), Pattern(static_cast<size_t>(i) * 3001, i));
    const int fd = ::openat(d.dest, ("f" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT, 0600);
    REQUIRE(::write(fd, "old", 3) == 3);
    ::close(fd);
  }
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < kFiles;) {
        const std::string name = "f" + std::to_string(i);
        CopyOptions options;
        CopyOutcome out;
        if (!copier->Copy(d.src, d.dest, name, name, options, &out).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  for (int i = 0; i < kFiles; ++i) {
    CHECK(d.ReadDest("f" + std::to_string(i)) == Pattern(static_cast<size_t>(i) * 3001, i));
  }
  CHECK(d.DestNames().size() == static_cast<size_t>(kFiles));
}

// 4 KiB blocks, queue depth 2; files over `large_bytes` copy one at a time
// with 6 chunks in flight.
UringCopierOptions OneLargeFileAtATime(unsigned files, int64_t large_bytes) {
  UringCopierOptions o;
  o.files_in_flight = files;
  o.queue_depth = 2;
  o.block_size = 4096;
  o.large_file_bytes = large_bytes;
  o.large_files_at_once = 1;
  o.large_queue_depth = 6;
  return o;
}

TEST_CASE("uring copier: large files take turns, small ones do not wait for them") {
  if (!UringUsable()) return;
  Dirs d;
  auto made = UringCopier::Create(OneLargeFileAtATime(6, 8 * 4096));
  REQUIRE(made.ok());
  UringCopier& copier = **made;
  CHECK(copier.buffer_count() == 12);  // files x depth, and at least one turn's depth
  // Four large files (16 chunks of 5 ms: overlapping if they did not take
  // turns) and two small ones, copied by six callers at once.
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    names.push_back("large" + std::to_string(i));
    d.Write(names.back(), Pattern(16 * 4096 + static_cast<size_t>(i), 20 + i));
  }
  for (int i = 0; i < 2; ++i) {
    names.push_back("small" + std::to_string(i));
    d.Write(names.back(), Pattern(3 * 4096, 30 + i));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (const std::string& name : names) {
    threads.emplace_back([&, name] {
      CopyOptions options;
      options.block_delay_ms = 5;
      CopyOutcome out;
      if (!copier.Copy(d.src, d.dest, name, name, options, &out).ok()) failures.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(copier.large_turns_peak() == 1);
  for (int i = 0; i < 4; ++i) {
    CHECK(d.ReadDest("large" + std::to_string(i)) == Pattern(16 * 4096 + static_cast<size_t>(i), 20 + i));
  }
  for (int i = 0; i < 2; ++i) CHECK(d.ReadDest("small" + std::to_string(i)) == Pattern(3 * 4096, 30 + i));
  CHECK(d.DestNames().size() == names.size());
}

TEST_CASE("uring copier: a large file waiting for its turn ends on cancel, no temp left") {
  if (!UringUsable()) return;
  Dirs d;
  auto made = UringCopier::Create(OneLargeFileAtATime(2, 4096));
  REQUIRE(made.ok());
  UringCopier& copier = **made;
  d.Write("first", Pattern(64 * 4096, 40));
  d.Write("second", Pattern(4 * 4096, 41));
  std::atomic<bool> cancel_first{false}, cancel_second{false};
  Status first_status, second_status;
  std::thread first([&] {
    CopyOptions options;
    options.cancel = &cancel_first;
    options.block_delay_ms = 20;  // 64 chunks: over a second
    CopyOutcome out;
    first_status = copier.Copy(d.src, d.dest, "first", "first", options, &out);
  });
  // The second starts once the first holds the only turn.
  while (copier.large_turns_peak() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread second([&] {
    CopyOptions options;
    options.cancel = &cancel_second;
    CopyOutcome out;
    second_status = copier.Copy(d.src, d.dest, "second", "second", options, &out);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  cancel_second.store(true);
  second.join();
  cancel_first.store(true);
  first.join();
  CHECK(second_status.err() == ECANCELED);
  CHECK(first_status.err() == ECANCELED);
  CHECK(copier.large_turns_peak() == 1);
  CHECK(d.DestNames().empty());
}

TEST_CASE("uring copier: a cancel mid-file aborts with ECANCELED and leaves no temp file") {
  if (!UringUsable()) return;
  Dirs d;
  auto copier = MakeCopier(1, 2, 4096);
  d.Write("big", Pattern(64 * 4096, 9));
  std::atomic<bool> cancel{false};
  CopyOptions options;
  options.cancel = &cancel;
  options.block_delay_ms = 10;  // 64 chunks: at least 640 ms
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    cancel.store(true);
  });
  CopyOutcome out;
  Status s = copier->Copy(d.src, d.dest, "big", "big", options, &out);
  stopper.join();
  CHECK(s.err() == ECANCELED);
  CHECK(d.DestNames().empty());
}

TEST_CASE("uring copier: a source growing during a chunked copy is discarded, no temp left") {
  if (!UringUsable()) return;
  Dirs d;
  auto copier = MakeCopier(1, 4, 4096);
  d.Write("grows", Pattern(32 * 4096, 11));
  CopyOptions options;
  options.block_delay_ms = 10;
  // The append lands once the copy has written its first block to the temp
  // file (so the source was stat'ed before it; 31 blocks of 10 ms each are
  // still to come), not after a fixed sleep, which a loaded machine can
  // stretch past the whole copy. An append between the temp file's creation
  // and that stat would be copied whole, rightly.
  std::thread writer([&] {
    for (int i = 0; i < 5000; ++i) {
      std::vector<Entry> entries;
      struct stat st = {};
      if (ListDirectory(d.dest, "d", &entries).ok() && !entries.empty() &&
          ::fstatat(d.dest, entries[0].name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_size > 0) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    d.Write("grows", "appended", O_APPEND);
  });
  CopyOutcome out;
  Status s = copier->Copy(d.src, d.dest, "grows", "grows", options, &out);
  writer.join();
  REQUIRE(!s.ok());
  CHECK(s.message().find("changed during copy") != std::string::npos);
  CHECK(d.DestNames().empty());
}

TEST_CASE("uring copier: a source that is a symlink is refused, never followed") {
  if (!UringUsable()) return;
  Dirs d;
  auto copier = MakeCopier(1, 4, 4096);
  d.Write("real", "data");
  REQUIRE(::symlinkat("real", d.src, "link") == 0);
  CopyOptions options;
  CopyOutcome out;
  Status s = copier->Copy(d.src, d.dest, "link", "link", options, &out);
  CHECK(s.err() == ELOOP);
  CHECK(d.DestNames().empty());
}

}  // namespace ha_sync::io
