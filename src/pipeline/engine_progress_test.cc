// The live counters (Progress) on a real run: at every moment an operation
// is counted once, as pending or as done/failed, never as both, so
// planned = done + failed + pending never exceeds what the run does.
#include "pipeline/engine.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <string>

#include "io/uring_probe.h"
#include "io/uring_test_util.h"

namespace ha_sync::pipeline {

namespace {

using io::testing::TempDir;

constexpr int kFiles = 12;

// Checks the counters each time an operation is reported: the engine calls
// OnOperation right after it counted the operation.
class CheckingSink : public OpSink {
 public:
  void OnOperation(const OpRecord& op) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++records_;
    if (progress_ == nullptr) return;
    std::lock_guard<std::mutex> ops(progress_->ops_mu);
    const int k = static_cast<int>(op.operation);
    const int64_t planned = progress_->done[k].load() + progress_->failed[k].load() +
                            progress_->pending[k].load();
    if (planned > max_planned_) max_planned_ = planned;
    if (progress_->pending[k].load() < 0) negative_pending_ = true;
  }
  void OnWarning(const std::string& message) override { (void)message; }

  const Progress* progress_ = nullptr;
  std::mutex mu_;
  int records_ = 0;
  int64_t max_planned_ = 0;
  bool negative_pending_ = false;
};

void Write(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  ::close(fd);
}

}  // namespace

TEST_CASE("a copy is never counted as pending and done at once") {
  TempDir src, dest;
  for (int i = 0; i < kFiles; ++i) {
    Write(src.path() + "/f" + std::to_string(i), std::string(8192, static_cast<char>('a' + i)));
  }
  for (const bool uring : {false, true}) {
    CAPTURE(uring);
    if (uring && !io::ProbeUring().usable) continue;  // the threads run still checks
    EngineOptions o;
    o.src_root = src.path();
    o.dest_root = dest.path() + (uring ? "/u" : "/t");
    REQUIRE(::mkdir(o.dest_root.c_str(), 0755) == 0);
    o.run_id = "0123456789abcdef0123456789abcdef";
    o.direction = "test";
    o.workers = 2;
    o.block_size = 4096;
    o.io_uring = uring;
    // Slow copies: every file is submitted (pending) before the first one
    // is done, which is when a double count would show.
    o.test_block_delay_ms = 20;
    CheckingSink sink;
    Engine engine(o, &sink, nullptr, nullptr);
    sink.progress_ = &engine.progress();
    const EngineResult result = engine.Run();
    REQUIRE(result.fatal.ok());
    CHECK(result.counts.created == kFiles);
    CHECK(sink.records_ == kFiles);
    CHECK(sink.max_planned_ == kFiles);
    CHECK_FALSE(sink.negative_pending_);
    const Progress& p = engine.progress();
    CHECK(p.done[static_cast<int>(OpKind::kCreate)].load() == kFiles);
    CHECK(p.pending[static_cast<int>(OpKind::kCreate)].load() == 0);
    CHECK(p.bytes_pending.load() == 0);
  }
}

}  // namespace ha_sync::pipeline
